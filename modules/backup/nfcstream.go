package backup

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// A disk as an NFC export lease serves it (ExportSnapshot, ExportVm): a
// streamOptimized VMDK, read in one pass, or, from a server that serves
// the flat image itself, those bytes. VMware's Virtual Disk Format 1.1
// specification ("Stream-Optimized Compressed Sparse Extents") and qemu's
// block/vmdk.c define the format: a sparse extent header ("KDMV", flags
// with compressed grains and markers), then markers on sector boundaries:
// a grain marker (its first sector in the image, the compressed size, and
// the grain deflated with zlib), or a metadata marker (size 0, a type:
// end of stream, grain table, grain directory, footer; followed by as
// many sectors of metadata as it says). Grains come in image order.

const (
	vmdkSparseMagic = 0x564d444b // "KDMV" little-endian
	sectorSize      = 512
	markerEOS       = 0
)

// readNFCDisk reads a disk image of size bytes from r and calls data for
// every non-empty run of it, in image order, with its offset; what lies
// between runs is zeros. p is valid only during the call.
func readNFCDisk(r io.Reader, size int64, data func(off int64, p []byte) error) error {
	br := bufio.NewReaderSize(r, 1<<20)
	head, err := br.Peek(sectorSize)
	if err != nil && len(head) < 4 {
		if size == 0 {
			return nil
		}
		return fmt.Errorf("the export stream ended after %d bytes: %w", len(head), io.ErrUnexpectedEOF)
	}
	if binary.LittleEndian.Uint32(head) != vmdkSparseMagic {
		return readFlat(br, size, data)
	}
	return readStreamOptimized(br, size, data)
}

// readFlat reads a flat image of size bytes.
func readFlat(r io.Reader, size int64, data func(off int64, p []byte) error) error {
	buf := make([]byte, 4<<20)
	for off := int64(0); off < size; {
		n, err := io.ReadFull(r, buf[:min(int64(len(buf)), size-off)])
		if n > 0 {
			if derr := data(off, buf[:n]); derr != nil {
				return derr
			}
			off += int64(n)
		}
		if err != nil {
			if off < size {
				return fmt.Errorf("the export stream ended at byte %d of %d: %w", off, size, io.ErrUnexpectedEOF)
			}
			return nil
		}
	}
	return nil
}

// readStreamOptimized reads a streamOptimized VMDK whose image is size
// bytes (its header's capacity must say so).
func readStreamOptimized(br *bufio.Reader, size int64, data func(off int64, p []byte) error) error {
	hdr := make([]byte, sectorSize)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return fmt.Errorf("streamOptimized header: %w", err)
	}
	le := binary.LittleEndian
	flags := le.Uint32(hdr[8:])
	capacity := int64(le.Uint64(hdr[12:])) * sectorSize
	grain := int64(le.Uint64(hdr[20:])) * sectorSize
	overhead := int64(le.Uint64(hdr[64:])) * sectorSize
	compress := le.Uint16(hdr[77:])
	switch {
	case flags&(1<<16) == 0 || flags&(1<<17) == 0 || compress != 1:
		return fmt.Errorf("a sparse VMDK that is not streamOptimized (flags %#x, compression %d): vmlua reads exports with deflated grains and markers", flags, compress)
	case capacity != size:
		return fmt.Errorf("the export's image is %d bytes, the disk %d", capacity, size)
	case grain <= 0 || grain > 64<<20:
		return fmt.Errorf("the export's grain of %d bytes is not one vmlua reads", grain)
	}
	if _, err := br.Discard(int(overhead - sectorSize)); err != nil {
		return fmt.Errorf("streamOptimized header and descriptor: %w", err)
	}
	out := make([]byte, grain)
	var zr io.ReadCloser
	sector := make([]byte, sectorSize)
	next := int64(0) // the image offset no grain may go below
	for {
		if _, err := io.ReadFull(br, sector); err != nil {
			if err == io.EOF {
				// the end of the file where a marker would start: qemu-img
				// keeps the tables in the header's overhead and writes no
				// end-of-stream marker; a body cut short is the HTTP
				// reader's error (unexpected EOF), not this
				return nil
			}
			return fmt.Errorf("the export stream ended in a marker (after byte %d of the image): %w", next, io.ErrUnexpectedEOF)
		}
		val, n := le.Uint64(sector), int64(le.Uint32(sector[8:]))
		if n == 0 { // a metadata marker: its type, then val sectors of metadata
			if le.Uint32(sector[12:]) == markerEOS {
				return nil
			}
			if _, err := br.Discard(int(val) * sectorSize); err != nil {
				return fmt.Errorf("streamOptimized metadata: %w", err)
			}
			continue
		}
		// a grain: 12 bytes of marker, n bytes deflated, padded to a sector
		body := make([]byte, ((12+n+sectorSize-1)/sectorSize)*sectorSize)
		copy(body, sector)
		if _, err := io.ReadFull(br, body[sectorSize:]); err != nil {
			return fmt.Errorf("grain at sector %d: %w", val, io.ErrUnexpectedEOF)
		}
		off := int64(val) * sectorSize
		if off < next || off >= size {
			return fmt.Errorf("grain at sector %d out of order or past the image's end", val)
		}
		var err error
		if zr == nil {
			zr, err = zlib.NewReader(bytes.NewReader(body[12 : 12+n]))
		} else {
			err = zr.(zlib.Resetter).Reset(bytes.NewReader(body[12:12+n]), nil)
		}
		if err != nil {
			return fmt.Errorf("grain at sector %d: %w", val, err)
		}
		want := min(grain, size-off)
		got, err := io.ReadFull(zr, out[:want])
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("grain at sector %d: %w", val, err)
		}
		if got > 0 {
			if err := data(off, out[:got]); err != nil {
				return err
			}
		}
		next = off + int64(got)
	}
}
