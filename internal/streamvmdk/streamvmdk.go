package streamvmdk

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
)

const (
	// SectorSize is the unit of every offset in the format.
	SectorSize = 512
	// GrainSectors is the grain size written: 128 sectors (64 KiB), as
	// VMware's tools write streamOptimized disks.
	GrainSectors = 128
	// GrainSize is GrainSectors in bytes.
	GrainSize = GrainSectors * SectorSize
	gtEntries = 512 // grain table entries per table
	magic     = 0x564d444b
	gdAtEnd   = ^uint64(0)

	flagNewline    = 1 << 0
	flagCompressed = 1 << 16
	flagMarkers    = 1 << 17

	markerEOS    = 0
	markerGT     = 1
	markerGD     = 2
	markerFooter = 3

	descSectors = 20 // the embedded descriptor's room, as VMware writes it
)

// ErrFormat reports a stream that is not streamOptimized VMDK, or is cut.
var ErrFormat = errors.New("streamvmdk: not a streamOptimized VMDK stream")

func header(capacity int64, gdOffset uint64, descSize int64) []byte {
	h := make([]byte, SectorSize)
	le := binary.LittleEndian
	le.PutUint32(h[0:], magic)
	le.PutUint32(h[4:], 3)
	le.PutUint32(h[8:], flagNewline|flagCompressed|flagMarkers)
	le.PutUint64(h[12:], uint64(capacity/SectorSize))
	le.PutUint64(h[20:], GrainSectors)
	le.PutUint64(h[28:], 1)                  // descriptor offset
	le.PutUint64(h[36:], uint64(descSize))   // descriptor size
	le.PutUint32(h[44:], gtEntries)          // GTEs per GT
	le.PutUint64(h[48:], 0)                  // redundant GD: none
	le.PutUint64(h[56:], gdOffset)           // GD offset
	le.PutUint64(h[64:], uint64(1+descSize)) // overhead: where grains start
	h[72] = 0                                // clean
	h[73], h[74], h[75], h[76] = '\n', ' ', '\r', '\n'
	le.PutUint16(h[77:], 1) // deflate
	return h
}

// Descriptor returns the embedded descriptor text of a streamOptimized disk.
func Descriptor(capacity int64, cid uint32, adapter string) string {
	if adapter == "" {
		adapter = "lsilogic"
	}
	var b strings.Builder
	b.WriteString("# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\n")
	fmt.Fprintf(&b, "CID=%08x\nparentCID=ffffffff\ncreateType=\"streamOptimized\"\n\n", cid)
	fmt.Fprintf(&b, "# Extent description\nRW %d SPARSE \"disk.vmdk\"\n\n", capacity/SectorSize)
	b.WriteString("# The Disk Data Base\n#DDB\n\n")
	fmt.Fprintf(&b, "ddb.adapterType = %q\nddb.virtualHWVersion = \"13\"\n", adapter)
	return b.String()
}

// Writer writes a streamOptimized VMDK of a disk of a given capacity.
// Write takes the disk's bytes in order (WriteAt-free); Close writes the
// tables and the footer.
type Writer struct {
	w        *bufio.Writer
	capacity int64
	pos      int64 // bytes of the disk received
	sector   int64 // sectors of the stream written
	gt       []uint32
	grain    []byte
	n        int        // bytes in grain
	batch    []*pending // grains waiting to be compressed, in order
	err      error
	closed   bool
}

// pending is a grain on its way: compressed in parallel with the others of
// its batch, written in order.
type pending struct {
	g    int64
	data []byte
	z    bytes.Buffer
	err  error
}

// batchGrains is how many grains are compressed at once (one goroutine
// each): compression is what an export spends its time on.
var batchGrains = max(2, 2*runtime.GOMAXPROCS(0))

// NewWriter starts a stream: the header and the descriptor (desc, at most
// 20 sectors; "" for Descriptor(capacity, 0, "")).
func NewWriter(w io.Writer, capacity int64, desc string) (*Writer, error) {
	if capacity <= 0 || capacity%SectorSize != 0 {
		return nil, fmt.Errorf("streamvmdk: capacity %d is not a positive multiple of %d", capacity, SectorSize)
	}
	if desc == "" {
		desc = Descriptor(capacity, 0, "")
	}
	if len(desc) > descSectors*SectorSize {
		return nil, fmt.Errorf("streamvmdk: descriptor of %d bytes (at most %d)", len(desc), descSectors*SectorSize)
	}
	sw := &Writer{w: bufio.NewWriterSize(w, 1<<20), capacity: capacity,
		gt: make([]uint32, (capacity+GrainSize-1)/GrainSize), grain: make([]byte, GrainSize)}
	d := make([]byte, descSectors*SectorSize)
	copy(d, desc)
	if _, err := sw.w.Write(header(capacity, gdAtEnd, descSectors)); err != nil {
		return nil, err
	}
	if _, err := sw.w.Write(d); err != nil {
		return nil, err
	}
	sw.sector = 1 + descSectors
	return sw, nil
}

// Write takes the next bytes of the disk.
func (sw *Writer) Write(p []byte) (int, error) {
	if sw.err != nil {
		return 0, sw.err
	}
	if sw.pos+int64(len(p)) > sw.capacity {
		return 0, fmt.Errorf("streamvmdk: %d bytes past the disk's end (%d)", sw.pos+int64(len(p))-sw.capacity, sw.capacity)
	}
	total := len(p)
	for len(p) > 0 {
		k := copy(sw.grain[sw.n:], p)
		sw.n += k
		p = p[k:]
		sw.pos += int64(k)
		if sw.n == GrainSize || sw.pos == sw.capacity {
			if sw.err = sw.flushGrain(); sw.err != nil {
				return total - len(p), sw.err
			}
		}
	}
	return total, nil
}

func allZero(p []byte) bool {
	for _, b := range p {
		if b != 0 {
			return false
		}
	}
	return true
}

func (sw *Writer) pad(n int64) error {
	if r := n % SectorSize; r != 0 {
		_, err := sw.w.Write(make([]byte, SectorSize-r))
		return err
	}
	return nil
}

func (sw *Writer) flushGrain() error {
	g := (sw.pos - int64(sw.n)) / GrainSize
	data := sw.grain[:sw.n]
	sw.n = 0
	if allZero(data) {
		return nil
	}
	sw.batch = append(sw.batch, &pending{g: g, data: append([]byte(nil), data...)})
	if len(sw.batch) >= batchGrains {
		return sw.flushBatch()
	}
	return nil
}

// flushBatch compresses the waiting grains in parallel and writes them in
// order, each behind its marker.
func (sw *Writer) flushBatch() error {
	var wg sync.WaitGroup
	for _, p := range sw.batch {
		wg.Add(1)
		go func(p *pending) {
			defer wg.Done()
			zw, _ := zlib.NewWriterLevel(&p.z, zlib.BestSpeed)
			if _, err := zw.Write(p.data); err != nil {
				p.err = err
				return
			}
			p.err = zw.Close()
		}(p)
	}
	wg.Wait()
	for _, p := range sw.batch {
		if p.err != nil {
			return p.err
		}
		var m [12]byte
		binary.LittleEndian.PutUint64(m[0:], uint64(p.g*GrainSectors))
		binary.LittleEndian.PutUint32(m[8:], uint32(p.z.Len()))
		if _, err := sw.w.Write(m[:]); err != nil {
			return err
		}
		if _, err := sw.w.Write(p.z.Bytes()); err != nil {
			return err
		}
		n := int64(12 + p.z.Len())
		if err := sw.pad(n); err != nil {
			return err
		}
		sw.gt[p.g] = uint32(sw.sector)
		sw.sector += (n + SectorSize - 1) / SectorSize
	}
	sw.batch = sw.batch[:0]
	return nil
}

func (sw *Writer) marker(val uint64, typ uint32) error {
	m := make([]byte, SectorSize)
	binary.LittleEndian.PutUint64(m[0:], val)
	binary.LittleEndian.PutUint32(m[12:], typ)
	_, err := sw.w.Write(m)
	sw.sector++
	return err
}

// Close writes the grain tables, the grain directory, the footer and the
// end-of-stream marker. The disk must have been written whole.
func (sw *Writer) Close() error {
	if sw.closed {
		return sw.err
	}
	sw.closed = true
	if sw.err != nil {
		return sw.err
	}
	if sw.pos != sw.capacity {
		return fmt.Errorf("streamvmdk: closed after %d of %d bytes", sw.pos, sw.capacity)
	}
	if err := sw.flushBatch(); err != nil {
		return err
	}
	ngt := (int64(len(sw.gt)) + gtEntries - 1) / gtEntries
	gd := make([]uint32, ngt)
	gtSectors := int64(gtEntries * 4 / SectorSize)
	for t := int64(0); t < ngt; t++ {
		tbl := sw.gt[t*gtEntries : min(int64(len(sw.gt)), (t+1)*gtEntries)]
		if allZeroU32(tbl) {
			continue
		}
		if err := sw.marker(uint64(gtSectors), markerGT); err != nil {
			return err
		}
		gd[t] = uint32(sw.sector)
		b := make([]byte, gtSectors*SectorSize)
		for i, v := range tbl {
			binary.LittleEndian.PutUint32(b[i*4:], v)
		}
		if _, err := sw.w.Write(b); err != nil {
			return err
		}
		sw.sector += gtSectors
	}
	gdSectors := (ngt*4 + SectorSize - 1) / SectorSize
	if err := sw.marker(uint64(gdSectors), markerGD); err != nil {
		return err
	}
	gdOffset := sw.sector
	b := make([]byte, gdSectors*SectorSize)
	for i, v := range gd {
		binary.LittleEndian.PutUint32(b[i*4:], v)
	}
	if _, err := sw.w.Write(b); err != nil {
		return err
	}
	sw.sector += gdSectors
	if err := sw.marker(1, markerFooter); err != nil {
		return err
	}
	if _, err := sw.w.Write(header(sw.capacity, uint64(gdOffset), descSectors)); err != nil {
		return err
	}
	sw.sector++
	if err := sw.marker(0, markerEOS); err != nil {
		return err
	}
	return sw.w.Flush()
}

func allZeroU32(a []uint32) bool {
	for _, v := range a {
		if v != 0 {
			return false
		}
	}
	return true
}

// Reader reads a streamOptimized stream in one pass.
type Reader struct {
	r        *bufio.Reader
	capacity int64
	desc     string
	pos      int64 // stream position in bytes
	// flat image state (Read)
	off     int64  // next disk byte Read returns
	next    int64  // disk offset of cur
	cur     []byte // current grain's bytes (from next)
	eos     bool
	tables  bool // the grain tables are in front (not GD_AT_END): the end-of-stream marker is optional
	grainSz int64
	zbuf    []byte
}

// NewReader reads the header and the descriptor.
func NewReader(r io.Reader) (*Reader, error) {
	sr := &Reader{r: bufio.NewReaderSize(r, 1<<20)}
	h := make([]byte, SectorSize)
	if err := sr.full(h); err != nil {
		return nil, fmt.Errorf("%w: header: %v", ErrFormat, err)
	}
	le := binary.LittleEndian
	if le.Uint32(h[0:]) != magic {
		return nil, fmt.Errorf("%w: bad magic", ErrFormat)
	}
	flags := le.Uint32(h[8:])
	if flags&flagCompressed == 0 || flags&flagMarkers == 0 || le.Uint16(h[77:]) != 1 {
		return nil, fmt.Errorf("%w: not compressed with markers (flags %#x)", ErrFormat, flags)
	}
	sr.capacity = int64(le.Uint64(h[12:])) * SectorSize
	sr.grainSz = int64(le.Uint64(h[20:])) * SectorSize
	descOff, descSize := int64(le.Uint64(h[28:])), int64(le.Uint64(h[36:]))
	over := int64(le.Uint64(h[64:]))
	sr.tables = le.Uint64(h[56:]) != gdAtEnd
	if sr.grainSz <= 0 || sr.grainSz > 1<<30 || over < 1 || descOff+descSize > over {
		return nil, fmt.Errorf("%w: grain %d, overhead %d", ErrFormat, sr.grainSz, over)
	}
	if descSize > 0 {
		if err := sr.skip((descOff - 1) * SectorSize); err != nil {
			return nil, err
		}
		d := make([]byte, descSize*SectorSize)
		if err := sr.full(d); err != nil {
			return nil, fmt.Errorf("%w: descriptor: %v", ErrFormat, err)
		}
		sr.desc = strings.TrimRight(string(d), "\x00")
	}
	if err := sr.skip(over*SectorSize - sr.pos); err != nil {
		return nil, err
	}
	sr.next = -1
	return sr, nil
}

func (sr *Reader) full(p []byte) error {
	n, err := io.ReadFull(sr.r, p)
	sr.pos += int64(n)
	return err
}

func (sr *Reader) skip(n int64) error {
	if n < 0 {
		return fmt.Errorf("%w: offsets go backwards", ErrFormat)
	}
	k, err := io.CopyN(io.Discard, sr.r, n)
	sr.pos += k
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return nil
}

// Capacity is the disk's size in bytes.
func (sr *Reader) Capacity() int64 { return sr.capacity }

// DescriptorText is the embedded descriptor.
func (sr *Reader) DescriptorText() string { return sr.desc }

// Next returns the next grain the stream holds: its offset in the disk and
// its bytes (valid until the next call), or io.EOF after the
// end-of-stream marker. Grains are returned in stream order.
func (sr *Reader) Next() (int64, []byte, error) {
	for {
		if sr.eos {
			return 0, nil, io.EOF
		}
		var m [12]byte
		if err := sr.full(m[:]); err != nil {
			if err == io.EOF && sr.tables { // a file whose tables are in front (qemu-img writes such) may end here
				sr.eos = true
				return 0, nil, io.EOF
			}
			return 0, nil, fmt.Errorf("%w: cut before the end-of-stream marker: %v", ErrFormat, err)
		}
		lba := binary.LittleEndian.Uint64(m[0:])
		size := int64(binary.LittleEndian.Uint32(m[8:]))
		if size == 0 { // a metadata marker: its type, then val sectors
			var t [4]byte
			if err := sr.full(t[:]); err != nil {
				return 0, nil, fmt.Errorf("%w: %v", ErrFormat, err)
			}
			if err := sr.skip(SectorSize - 16); err != nil {
				return 0, nil, err
			}
			switch binary.LittleEndian.Uint32(t[:]) {
			case markerEOS:
				sr.eos = true
				return 0, nil, io.EOF
			case markerGT, markerGD, markerFooter:
				if err := sr.skip(int64(lba) * SectorSize); err != nil {
					return 0, nil, err
				}
				continue
			default:
				return 0, nil, fmt.Errorf("%w: unknown marker type %d", ErrFormat, binary.LittleEndian.Uint32(t[:]))
			}
		}
		if size > 2*sr.grainSz+1024 {
			return 0, nil, fmt.Errorf("%w: grain of %d compressed bytes", ErrFormat, size)
		}
		if int64(cap(sr.zbuf)) < size {
			sr.zbuf = make([]byte, size)
		}
		z := sr.zbuf[:size]
		if err := sr.full(z); err != nil {
			return 0, nil, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		if r := (12 + size) % SectorSize; r != 0 {
			if err := sr.skip(SectorSize - r); err != nil {
				return 0, nil, err
			}
		}
		off := int64(lba) * SectorSize
		if off >= sr.capacity {
			return 0, nil, fmt.Errorf("%w: grain at %d past the disk's end %d", ErrFormat, off, sr.capacity)
		}
		zr, err := zlib.NewReader(bytes.NewReader(z))
		if err != nil {
			return 0, nil, fmt.Errorf("%w: grain at %d: %v", ErrFormat, off, err)
		}
		want := min(sr.grainSz, sr.capacity-off)
		if int64(cap(sr.cur)) < sr.grainSz {
			sr.cur = make([]byte, sr.grainSz)
		}
		g := sr.cur[:want]
		if _, err := io.ReadFull(zr, g); err != nil {
			return 0, nil, fmt.Errorf("%w: grain at %d: %v", ErrFormat, off, err)
		}
		return off, g, nil
	}
}

// Read reads the disk's flat image: grains in order, zeros between them.
// Grains out of order are an error (use Next to read such a stream).
func (sr *Reader) Read(p []byte) (int, error) {
	if sr.off >= sr.capacity {
		// drain to the end-of-stream marker so a cut stream is an error
		for !sr.eos {
			if _, _, err := sr.Next(); err != nil && err != io.EOF {
				return 0, err
			}
		}
		return 0, io.EOF
	}
	if sr.next+int64(len(sr.cur)) <= sr.off && !sr.eos { // the current grain is read
		off, g, err := sr.Next()
		switch {
		case err == io.EOF:
			sr.next = sr.capacity
			sr.cur = sr.cur[:0]
		case err != nil:
			return 0, err
		case off < sr.off:
			return 0, fmt.Errorf("%w: grain at %d after %d: out of order", ErrFormat, off, sr.off)
		default:
			sr.next, sr.cur = off, g
		}
	}
	if sr.eos && sr.next+int64(len(sr.cur)) <= sr.off {
		sr.next, sr.cur = sr.capacity, sr.cur[:0]
	}
	if sr.off < sr.next { // a hole
		n := int(min(int64(len(p)), sr.next-sr.off))
		clear(p[:n])
		sr.off += int64(n)
		return n, nil
	}
	n := copy(p, sr.cur[sr.off-sr.next:])
	sr.off += int64(n)
	return n, nil
}
