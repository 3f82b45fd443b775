package sparse

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/vmlua/vmlua/internal/spansum"
)

// Magic starts every full image stream a Writer writes; DeltaMagic every
// delta (an incremental layer: 'U' records stand for bytes unchanged from
// the layer below). Their trailer holds the root of the stream's span
// digest (version 2). MagicV1 and DeltaMagicV1 start the version 1
// streams of earlier vmlua, whose trailer holds the stream's sha256; a
// Reader reads both.
const (
	Magic        = "VLSPARS2"
	DeltaMagic   = "VLDELTA2"
	MagicV1      = "VLSPARS1"
	DeltaMagicV1 = "VLDELTA1"
)

// Version is the stream version a Writer writes.
const Version = 2

// magics are the stream starts a Reader knows: the stream's version and
// whether it is a delta.
var magics = map[string]struct {
	version int
	delta   bool
}{Magic: {2, false}, DeltaMagic: {2, true}, MagicV1: {1, false}, DeltaMagicV1: {1, true}}

// digester is a stream's checksum: the sha256 of every byte (version 1)
// or the root of their span digest (version 2, spansum: consecutive 4 MiB
// spans are hashed at once, on as many cores). sum ends it, and ends the
// goroutines a span digest runs.
type digester interface {
	io.Writer
	sum() []byte
}

func newDigester(version int) digester {
	if version == 1 {
		return plainSum{sha256.New()}
	}
	return spanSum{spansum.New()}
}

type plainSum struct{ hash.Hash }

func (p plainSum) sum() []byte { return p.Sum(nil) }

type spanSum struct{ *spansum.Hasher }

func (s spanSum) sum() []byte {
	root, _ := hex.DecodeString(s.Sum().Root) // spansum's root is 64 hex digits
	return root
}

// BlockSize is the unit of zero detection; MaxData bounds one data record.
const (
	BlockSize = 64 << 10
	MaxData   = 1 << 20
)

// Stats are what a Writer wrote.
type Stats struct {
	Size      int64 // logical image size
	DataBytes int64 // bytes stored as data
	ZeroBytes int64 // bytes left out as zeros
	KeptBytes int64 // bytes left to the layer below (deltas)
}

// Writer encodes an image of a known size. Write takes the image in order;
// Zero skips n bytes known to be zero without reading them. Close writes the
// trailer and fails when fewer or more bytes than the size were given.
type Writer struct {
	w      *bufio.Writer
	h      digester
	out    io.Writer // w and h
	size   int64
	pos    int64 // logical bytes taken
	blk    []byte
	nblk   int   // bytes in blk
	zrun   int64 // pending zero bytes
	krun   int64 // pending unchanged bytes (delta)
	delta  bool
	data   []byte
	stats  Stats
	err    error
	closed bool
	sum    []byte
}

// NewWriter starts a stream of an image of size bytes on w. Close it,
// also when the image is abandoned: its checksum's goroutines end there.
func NewWriter(w io.Writer, size int64) *Writer { return newWriter(w, size, Magic) }

// NewDeltaWriter starts a delta stream of an image of size bytes on w:
// Keep leaves ranges to the layer below; Write and Zero give the bytes of
// the changed ranges.
func NewDeltaWriter(w io.Writer, size int64) *Writer { return newWriter(w, size, DeltaMagic) }

func newWriter(w io.Writer, size int64, magic string) *Writer {
	m := magics[magic]
	sw := &Writer{delta: m.delta, w: bufio.NewWriterSize(w, 256<<10), h: newDigester(m.version), size: size, blk: make([]byte, BlockSize), data: make([]byte, 0, MaxData)}
	sw.out = io.MultiWriter(sw.w, sw.h)
	var hdr [16]byte
	copy(hdr[:], magic)
	binary.LittleEndian.PutUint64(hdr[8:], uint64(size))
	sw.write(hdr[:])
	sw.stats.Size = size
	return sw
}

func (s *Writer) write(p []byte) {
	if s.err == nil {
		_, s.err = s.out.Write(p)
	}
}

func (s *Writer) record(tag byte, n int64) {
	var b [1 + binary.MaxVarintLen64]byte
	b[0] = tag
	k := binary.PutUvarint(b[1:], uint64(n))
	s.write(b[:1+k])
}

func (s *Writer) flushData() {
	if len(s.data) == 0 {
		return
	}
	s.record('D', int64(len(s.data)))
	s.write(s.data)
	s.stats.DataBytes += int64(len(s.data))
	s.data = s.data[:0]
}

func (s *Writer) flushKeep() {
	if s.krun == 0 {
		return
	}
	s.record('U', s.krun)
	s.stats.KeptBytes += s.krun
	s.krun = 0
}

// Keep leaves the next n bytes of the image to the layer below (a delta
// stream only). A partial block before it is encoded as it is.
func (s *Writer) Keep(n int64) error {
	if !s.delta {
		return errors.New("sparse: Keep on a full image stream")
	}
	if err := s.check(n); err != nil || n == 0 {
		return err
	}
	if s.nblk > 0 {
		s.block(s.blk[:s.nblk], false)
		s.nblk = 0
	}
	s.flushData()
	s.flushZero()
	s.krun += n
	s.pos += n
	return s.err
}

func (s *Writer) flushZero() {
	if s.zrun == 0 {
		return
	}
	s.record('Z', s.zrun)
	s.stats.ZeroBytes += s.zrun
	s.zrun = 0
}

func isZero(p []byte) bool {
	for len(p) >= 8 {
		if binary.LittleEndian.Uint64(p) != 0 {
			return false
		}
		p = p[8:]
	}
	for _, b := range p {
		if b != 0 {
			return false
		}
	}
	return true
}

// block classifies one complete (or final) block.
func (s *Writer) block(p []byte, knownZero bool) {
	s.flushKeep()
	if knownZero || isZero(p) {
		s.flushData()
		s.zrun += int64(len(p))
		return
	}
	s.flushZero()
	if len(s.data)+len(p) > MaxData {
		s.flushData()
	}
	s.data = append(s.data, p...)
}

func (s *Writer) check(n int64) error {
	if s.err != nil {
		return s.err
	}
	if s.closed {
		return errors.New("sparse: write after Close")
	}
	if s.pos+n > s.size {
		s.err = fmt.Errorf("sparse: the image is %d bytes, got more", s.size)
	}
	return s.err
}

// Write takes the next bytes of the image.
func (s *Writer) Write(p []byte) (int, error) {
	if err := s.check(int64(len(p))); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		if s.nblk == 0 && len(p) >= BlockSize {
			s.block(p[:BlockSize], false)
			p = p[BlockSize:]
			s.pos += BlockSize
			continue
		}
		k := copy(s.blk[s.nblk:], p)
		s.nblk += k
		p = p[k:]
		s.pos += int64(k)
		s.fullBlock()
	}
	return n, s.err
}

func (s *Writer) fullBlock() {
	if s.nblk == BlockSize || (s.pos == s.size && s.nblk > 0) {
		s.block(s.blk[:s.nblk], false)
		s.nblk = 0
	}
}

// Zero skips n bytes that are known to be zero.
func (s *Writer) Zero(n int64) error {
	if err := s.check(n); err != nil {
		return err
	}
	for n > 0 {
		if s.nblk == 0 && n >= BlockSize {
			whole := n / BlockSize * BlockSize
			s.flushKeep()
			s.flushData()
			s.zrun += whole
			s.pos += whole
			n -= whole
			if s.pos == s.size {
				break
			}
			continue
		}
		k := min(int64(BlockSize-s.nblk), n)
		clear(s.blk[s.nblk : s.nblk+int(k)])
		s.nblk += int(k)
		n -= k
		s.pos += k
		s.fullBlock()
	}
	return s.err
}

// Close writes the trailer and flushes; it fails when the image is short
// (or was not written whole), and then writes no trailer. Either way the
// checksum's goroutines end.
func (s *Writer) Close() error {
	if s.closed {
		return s.err
	}
	s.closed = true
	if s.err == nil && s.pos != s.size {
		s.err = fmt.Errorf("sparse: the image is %d bytes, got %d", s.size, s.pos)
	}
	if s.err != nil {
		s.h.sum()
		return s.err
	}
	s.flushData()
	s.flushZero()
	s.flushKeep()
	s.write([]byte{'E'})
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(s.size))
	s.write(b[:])
	sum := s.h.sum()
	if s.err == nil {
		s.sum = sum
		_, s.err = s.w.Write(s.sum)
	}
	if s.err == nil {
		s.err = s.w.Flush()
	}
	return s.err
}

// Stats reports what was written so far.
func (s *Writer) Stats() Stats { return s.stats }

// Sum is the stream's checksum, which the trailer holds: the root of the
// span digest (spansum) of every byte before it (the trailer's tag and
// size included); the content digest of the image. Valid after Close.
func (s *Writer) Sum() string { return fmt.Sprintf("%x", s.sum) }

// ErrCorrupt is wrapped by every error about a malformed stream.
var ErrCorrupt = errors.New("the vmlua-sparse stream is corrupt")

// Reader decodes a stream into the flat image. It verifies the trailer:
// the last Read before io.EOF fails when the stream was truncated or
// altered.
type Reader struct {
	r     *bufio.Reader
	h     digester
	ver   int
	size  int64
	pos   int64
	kind  byte
	left  int64
	done  bool
	sum   string
	delta bool
	skip  []byte
	// summed: the checksum was taken (its goroutines ended)
	summed bool
	// spos is how many bytes of the stream were taken (header, record
	// headers, data): where the next byte lies in the stream.
	spos int64
}

// NewReader reads the header of a full image stream; a delta is refused.
func NewReader(r io.Reader) (*Reader, error) {
	sr, err := NewLayerReader(r)
	if err == nil && sr.delta {
		return nil, fmt.Errorf("%w: it is an incremental layer (%q), which only restores on top of its parent", ErrCorrupt, DeltaMagic)
	}
	return sr, err
}

// NewLayerReader reads the header of a full image or a delta stream, of
// either version. Close it when done: a version 2 stream's checksum runs
// goroutines until the trailer is read or the Reader closed.
func NewLayerReader(r io.Reader) (*Reader, error) {
	sr := &Reader{r: bufio.NewReaderSize(r, 256<<10)}
	var hdr [16]byte
	if _, err := io.ReadFull(sr.r, hdr[:]); err != nil {
		return nil, fmt.Errorf("%w: reading the header: %v", ErrCorrupt, err)
	}
	m, ok := magics[string(hdr[:8])]
	if !ok {
		return nil, fmt.Errorf("%w: it does not start with %q or %q (nor their version 1, %q or %q)", ErrCorrupt, Magic, DeltaMagic, MagicV1, DeltaMagicV1)
	}
	sr.ver, sr.delta, sr.h = m.version, m.delta, newDigester(m.version)
	sr.h.Write(hdr[:])
	sr.spos = int64(len(hdr))
	sr.size = int64(binary.LittleEndian.Uint64(hdr[8:]))
	return sr, nil
}

// Size is the image size the header announces.
func (s *Reader) Size() int64 { return s.size }

// Version is the stream's version: 2 (a span digest in the trailer), or 1
// (a sha256).
func (s *Reader) Version() int { return s.ver }

// Close ends the checksum of a stream not read to its end; it does not
// close the underlying reader.
func (s *Reader) Close() {
	if !s.summed {
		s.summed = true
		s.h.sum()
	}
}

// Sum is the stream's checksum (see Writer.Sum), valid once Read returned
// io.EOF.
func (s *Reader) Sum() string { return s.sum }

type hashByteReader struct{ s *Reader }

func (b hashByteReader) ReadByte() (byte, error) {
	c, err := b.s.r.ReadByte()
	if err == nil {
		b.s.h.Write([]byte{c})
		b.s.spos++
	}
	return c, err
}

func (s *Reader) next() error {
	tag, err := s.r.ReadByte()
	if err != nil {
		return fmt.Errorf("%w: truncated after %d of %d bytes", ErrCorrupt, s.pos, s.size)
	}
	s.h.Write([]byte{tag})
	s.spos++
	switch tag {
	case 'D', 'Z', 'U':
		if tag == 'U' && !s.delta {
			return fmt.Errorf("%w: an unchanged-range record in a full image at offset %d", ErrCorrupt, s.pos)
		}
		n, err := binary.ReadUvarint(hashByteReader{s})
		if err != nil || n == 0 || int64(n) > s.size-s.pos {
			return fmt.Errorf("%w: bad record length at image offset %d", ErrCorrupt, s.pos)
		}
		s.kind, s.left = tag, int64(n)
		return nil
	case 'E':
		var b [8 + 32]byte
		if _, err := io.ReadFull(s.r, b[:]); err != nil {
			return fmt.Errorf("%w: truncated trailer", ErrCorrupt)
		}
		s.spos += int64(len(b))
		s.h.Write(b[:8])
		s.summed = true
		got := s.h.sum()
		if int64(binary.LittleEndian.Uint64(b[:8])) != s.size || s.pos != s.size {
			return fmt.Errorf("%w: it ends after %d of %d bytes", ErrCorrupt, s.pos, s.size)
		}
		if string(got) != string(b[8:]) {
			return fmt.Errorf("%w: its checksum does not match its content", ErrCorrupt)
		}
		s.sum = fmt.Sprintf("%x", got)
		if _, err := s.r.ReadByte(); err != io.EOF {
			return fmt.Errorf("%w: bytes follow its trailer", ErrCorrupt)
		}
		s.done = true
		return io.EOF
	}
	return fmt.Errorf("%w: unknown record %q at image offset %d", ErrCorrupt, tag, s.pos)
}

// Read returns the next bytes of the flat image.
func (s *Reader) Read(p []byte) (int, error) {
	if s.done {
		return 0, io.EOF
	}
	for s.left == 0 {
		if err := s.next(); err != nil {
			return 0, err
		}
	}
	if s.kind == 'U' {
		return 0, fmt.Errorf("%w: a delta stream read as a full image", ErrCorrupt)
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	var n int
	if s.kind == 'Z' {
		clear(p)
		n = len(p)
	} else {
		var err error
		n, err = io.ReadFull(s.r, p)
		s.h.Write(p[:n])
		s.spos += int64(n)
		if err != nil {
			s.pos += int64(n)
			s.left -= int64(n)
			return n, fmt.Errorf("%w: truncated inside a data record at image offset %d", ErrCorrupt, s.pos)
		}
	}
	s.pos += int64(n)
	s.left -= int64(n)
	return n, nil
}

// IsDelta reports whether the stream is a delta (an incremental layer).
func (s *Reader) IsDelta() bool { return s.delta }

// peek returns the kind of the current record and the bytes left in it;
// io.EOF once the (verified) trailer was read.
func (s *Reader) peek() (byte, int64, error) {
	if s.done {
		return 0, 0, io.EOF
	}
	for s.left == 0 {
		if err := s.next(); err != nil {
			return 0, 0, err
		}
	}
	return s.kind, s.left, nil
}

// discard advances n bytes inside the current record (n <= left).
func (s *Reader) discard(n int64) error {
	if s.kind == 'D' {
		if s.skip == nil {
			s.skip = make([]byte, 256<<10)
		}
		for k := n; k > 0; {
			m := int(min(k, int64(len(s.skip))))
			if _, err := io.ReadFull(s.r, s.skip[:m]); err != nil {
				return fmt.Errorf("%w: truncated inside a data record at image offset %d", ErrCorrupt, s.pos)
			}
			s.h.Write(s.skip[:m])
			s.spos += int64(m)
			k -= int64(m)
		}
	}
	s.pos += n
	s.left -= n
	return nil
}

// Merge returns the flat image of a chain of layers, the full image first
// and each delta on top of the one before: for every byte, the topmost
// layer that does not leave it unchanged gives it. The layers are read
// once, in step, in constant memory; every layer's trailer is verified,
// and a chain whose layers disagree on the image size or end early is an
// error.
func Merge(layers []*Reader) (io.Reader, error) {
	if len(layers) == 0 {
		return nil, errors.New("sparse: no layers to merge")
	}
	if layers[0].delta {
		return nil, fmt.Errorf("%w: the bottom of the chain is an incremental layer, not a full image", ErrCorrupt)
	}
	for i, l := range layers[1:] {
		if l.size != layers[0].size {
			return nil, fmt.Errorf("%w: layer %d is an image of %d bytes, the full image below it has %d (was the disk resized?)", ErrCorrupt, i+1, l.size, layers[0].size)
		}
	}
	if len(layers) == 1 {
		return layers[0], nil
	}
	return &merger{layers: layers}, nil
}

type merger struct {
	layers []*Reader
	done   bool
}

func (m *merger) Read(p []byte) (int, error) {
	if m.done {
		return 0, io.EOF
	}
	out := 0
	for out < len(p) {
		n := int64(len(p) - out)
		src := -1
		ends := 0
		for i := len(m.layers) - 1; i >= 0; i-- {
			kind, left, err := m.layers[i].peek()
			if err == io.EOF {
				ends++
				continue
			}
			if err != nil {
				return out, err
			}
			n = min(n, left)
			if src < 0 && kind != 'U' {
				src = i
			}
		}
		if ends == len(m.layers) {
			m.done = true
			if out == 0 {
				return 0, io.EOF
			}
			return out, nil
		}
		if ends > 0 {
			return out, fmt.Errorf("%w: the layers of the chain end at different offsets", ErrCorrupt)
		}
		for i, l := range m.layers {
			if i != src {
				if err := l.discard(n); err != nil {
					return out, err
				}
				continue
			}
			k, err := l.Read(p[out : out+int(n)])
			out += k
			if err != nil {
				return out, err
			}
			if int64(k) != n {
				return out, fmt.Errorf("%w: short read in layer %d", ErrCorrupt, i)
			}
		}
	}
	return out, nil
}

// Verify reads the rest of the stream (full image or delta) without
// producing it and checks its trailer.
func (s *Reader) Verify() error {
	for {
		_, left, err := s.peek()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.discard(left); err != nil {
			return err
		}
	}
}
