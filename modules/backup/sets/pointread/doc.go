// Package pointread reads a disk of a restore point at random, read-only:
// the flat image of the disk at a full set or at any incremental point,
// the chain of its layers applied on the fly, nothing written anywhere.
// It is what vmlua serve nbd and vmlua mount serve (an io.ReaderAt and a
// map of the zero areas), and what a reader of guest files builds on.
//
// Open starts reading every layer of the point's chain once, all layers
// at once, in the background (sets.ChainOf, sets.LayersOf), through the
// project's own readers of the formats: pcomp.FrameReader decodes the
// stored file frame by frame (a zstd frame or gzip member holds 4 MiB of
// stream) and says where each frame lies, sparse.Reader.NextRecord says
// where each record of the vmlua-sparse/delta stream (v1 or v2) lies. The
// index keeps, per layer, every record (its image range, its kind, where
// its data starts in the stream) and every frame (its stored and decoded
// range): about 32 bytes a record and a frame, some 300 KiB for a 4 GiB
// disk full of data. While it reads, it checks what backup.verify checks:
// every stored span (spansum, 4 MiB) against the catalog's span digest as
// soon as the span is whole, and at the end the stream's trailer against
// the disk's content digest. What comes from checked spans is published
// at once, so a read waits only until the index covers its bytes: the
// start of a disk reads in a fraction of a second whatever its size. The
// whole index costs one read of every stored byte of the chain and two
// sha256 passes (the stored spans, the stream's content digest) and a
// decompression, on one core per layer: for the simulator's 4 GiB disk,
// 3 GiB of data in its full, a few seconds on an idle core (bench
// figure 12 logs it). A set from before span digests (one sha256 a
// file) is published only at the end of its index, once that sha256
// matched; its spans computed on the way are then the reference.
//
// A read (Disk.ReadAt) finds, for each byte, the topmost layer whose
// record does not leave it unchanged: a zero record reads as zeros, a
// data record from its frame, which is decoded from stored spans read
// again from the target and checked, span by span: against a keyed hash
// (hash/maphash, its seed random per process and never shown) of the
// bytes the index checked against the catalog's sha256, so that a span
// changed on the target since is an error and a read costs no second
// sha256. Decoded frames (and the spans of uncompressed layers, which are
// their frames) are kept in a Cache within a memory bound (64 MiB by
// default), least recently used out first, their buffers reused once
// out; the last four stored spans of compressed layers (16 MiB a Disk)
// are kept apart, for the frames that start in them, so that the Cache
// holds only what reads use. A sequential reader finds the next frame
// decoded in the background. Disk.Map tells
// zero areas from data without reading data (NBD block status, sparse
// copies).
//
// Nothing wrong is ever returned: a damaged layer (a stored span that
// does not match the catalog, a stream that does not decode) is indexed
// up to the damage, and every read of what depends on the rest fails
// with a *ReadError naming the image offset and the stored span
// (ErrDamaged); so does a span that changed on the target after it was
// indexed. A digest of a whole file or stream that differs (a set before
// span digests, a content digest) fails every read of the layer from
// then on. Resolve and Points find the points of a
// target by VM[@POINT] as the other verbs name them.
package pointread
