// Package sparse is the vmlua-sparse stream format of disk images in backup
// sets: a flat disk image with its zero regions left out.
//
// A stream is a 16-byte header ("VLSPARS2" and the image size, uint64
// little-endian), records, and a trailer. A record is one tag byte and a
// uvarint length: 'D' is followed by that many data bytes, 'Z' stands for
// that many zero bytes. The trailer is the tag 'E', the image size again
// (uint64 LE) and the root of the span digest (internal/spansum,
// sha256-spans-4m) of every byte before it, so that a truncated or altered
// stream is detected by the reader itself; consecutive 4 MiB spans are
// hashed at once, so no core caps a stream's checksum. Version 1 streams
// ("VLSPARS1", "VLDELTA1"), which earlier vmlua wrote, hold the plain
// sha256 of those bytes instead; a Reader reads both, a Writer writes
// version 2. A Writer or Reader hashes on goroutines of its own until the
// trailer: Close one that is abandoned.
//
// The encoding is canonical: the image is cut into 64 KiB blocks (from
// offset 0); a block of zeros is a zero block, any other a data block;
// consecutive zero blocks make one 'Z' record and consecutive data blocks
// one 'D' record of at most 1 MiB. The same image therefore always gives the
// same stream, whether its zero regions were read or known in advance
// (Writer.Zero), and the stream's digest identifies the image's content.
//
// A delta stream (an incremental layer) starts with "VLDELTA2" instead and
// may also hold 'U' records: that many bytes unchanged from the layer below.
// Its changed ranges are encoded as above, blocks counted from the start of
// each range. Merge rebuilds the image of a chain (a full image and deltas)
// in one pass over all layers; Reader.NextRecord says where each record
// lies in the image and in the stream, for a reader at random (an index).
// docs/catalog.md documents the format for people restoring by hand.
package sparse
