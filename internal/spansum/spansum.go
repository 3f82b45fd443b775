package spansum

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sync/atomic"
)

// Size is the span size: 4 MiB, pcomp's frame input, so that two spans in
// flight (what two cores need) cost 8 MiB of buffers.
const Size = 4 << 20

// Name is how catalogs and results name the digest: "sha256-spans-4m".
const Name = "sha256-spans-4m"

// Digest is the span digest of a stream.
type Digest struct {
	Bytes int64    // stream length
	Spans []string // hex sha256 of each span, in order
	Root  string   // hex sha256 of the spans' raw digests concatenated
}

// RootOf computes the root of hex span digests; it fails on a digest
// that is not 64 hex digits.
func RootOf(spans []string) (string, error) {
	h := sha256.New()
	for i, s := range spans {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != sha256.Size {
			return "", fmt.Errorf("span %d's digest %q is not a sha256 in hex", i, s)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Spans is how many spans a stream of n bytes has.
func Spans(n int64) int { return int((n + Size - 1) / Size) }

// Check compares got against want and names the first span that differs
// by its byte range; nil when they are equal.
func Check(got, want Digest) error {
	for i := range min(len(got.Spans), len(want.Spans)) {
		if got.Spans[i] != want.Spans[i] {
			off := int64(i) * Size
			end := min(off+Size, got.Bytes)
			return fmt.Errorf("span %d (bytes %d to %d) has sha256 %s, expected %s", i, off, end-1, got.Spans[i], want.Spans[i])
		}
	}
	if got.Bytes != want.Bytes || len(got.Spans) != len(want.Spans) {
		return fmt.Errorf("%d bytes in %d spans, expected %d bytes in %d spans", got.Bytes, len(got.Spans), want.Bytes, len(want.Spans))
	}
	if got.Root != want.Root {
		return fmt.Errorf("root %s, expected %s", got.Root, want.Root)
	}
	return nil
}

// Hasher digests a stream given in order. Add hands it bytes it may hash
// later, on a goroutine of the span they belong to, so consecutive spans
// are hashed at once; Write copies them into buffers of its own (up to
// six of 1 MiB, allocated as needed) that are hashed the same way. One
// goroutine gives the bytes (Add, Write, Sum are not safe for concurrent
// use).
type Hasher struct {
	n      int64 // bytes handed to the spans
	cur    *span
	spans  []*span
	done   bool
	stage  []byte      // Write's buffer being filled
	free   chan []byte // Write's buffers back from the spans
	nalloc int
}

// Write's buffers.
const (
	stageBuf  = 1 << 20
	stageBufs = 6
)

type span struct {
	ch  chan piece
	sum [sha256.Size]byte
	end chan struct{}
}

type piece struct {
	p []byte
	r *release
}

type release struct {
	left atomic.Int32
	fn   func()
}

func (r *release) one() {
	if r != nil && r.left.Add(-1) == 0 && r.fn != nil {
		r.fn()
	}
}

// New returns an empty Hasher.
func New() *Hasher { return &Hasher{} }

// pending is how many pieces may wait for one span's goroutine before Add
// blocks.
const pending = 64

func (h *Hasher) startSpan() {
	s := &span{ch: make(chan piece, pending), end: make(chan struct{})}
	h.spans = append(h.spans, s)
	h.cur = s
	go func() {
		d := sha256.New()
		for pc := range s.ch {
			d.Write(pc.p)
			pc.r.one()
		}
		d.Sum(s.sum[:0])
		close(s.end)
	}()
}

// Add takes p, which the caller leaves untouched until fn is called (from
// any goroutine) once p is hashed; fn may be nil.
func (h *Hasher) Add(p []byte, fn func()) {
	if h.done {
		panic("spansum: Add after Sum")
	}
	h.flushStage()
	h.add(p, fn)
}

func (h *Hasher) add(p []byte, fn func()) {
	if len(p) == 0 {
		if fn != nil {
			fn()
		}
		return
	}
	// cut p at span boundaries; fn runs once every piece is hashed
	k := int32(0)
	for at, left := h.n, int64(len(p)); left > 0; k++ {
		m := min(left, Size-at%Size)
		at, left = at+m, left-m
	}
	r := &release{fn: fn}
	r.left.Store(k)
	for len(p) > 0 {
		if h.n%Size == 0 {
			if h.cur != nil {
				close(h.cur.ch)
			}
			h.startSpan()
		}
		m := int(min(int64(len(p)), Size-h.n%Size))
		h.cur.ch <- piece{p[:m], r}
		h.n += int64(m)
		p = p[m:]
	}
}

// Write copies p to be hashed (p is free once it returns); it waits only
// when all its buffers are being hashed. It never fails.
func (h *Hasher) Write(p []byte) (int, error) {
	if h.done {
		panic("spansum: Write after Sum")
	}
	n := len(p)
	for len(p) > 0 {
		if h.stage == nil {
			h.stage = h.getBuf()
		}
		k := copy(h.stage[len(h.stage):cap(h.stage)], p)
		h.stage = h.stage[:len(h.stage)+k]
		p = p[k:]
		if len(h.stage) == cap(h.stage) {
			h.flushStage()
		}
	}
	return n, nil
}

func (h *Hasher) getBuf() []byte {
	if h.free == nil {
		h.free = make(chan []byte, stageBufs)
	}
	select {
	case b := <-h.free:
		return b
	default:
	}
	if h.nalloc < stageBufs {
		h.nalloc++
		return make([]byte, 0, stageBuf)
	}
	return <-h.free
}

// flushStage hands Write's partly filled buffer to the spans.
func (h *Hasher) flushStage() {
	b := h.stage
	if len(b) == 0 {
		return
	}
	h.stage = nil
	h.add(b, func() { h.free <- b[:0] })
}

// Len is the number of bytes given so far.
func (h *Hasher) Len() int64 { return h.n + int64(len(h.stage)) }

// Sum waits for every span and returns the digest; the Hasher takes no
// more bytes.
func (h *Hasher) Sum() Digest {
	if !h.done {
		h.flushStage()
		h.done = true
		if h.cur != nil {
			close(h.cur.ch)
		}
	}
	d := Digest{Bytes: h.n, Spans: make([]string, len(h.spans))}
	root := sha256.New()
	for i, s := range h.spans {
		<-s.end
		root.Write(s.sum[:])
		d.Spans[i] = hex.EncodeToString(s.sum[:])
	}
	d.Root = hex.EncodeToString(root.Sum(nil))
	return d
}

// readBuf and readBufs: Read's buffers, three spans' worth, so that two
// spans are hashed while the third is read.
const (
	readBuf  = 1 << 20
	readBufs = 3 * Size / readBuf
)

// Read digests everything r gives until io.EOF, hashing spans in parallel
// while it reads (12 MiB of buffers). On a read error it returns what was
// read and the error.
func Read(r io.Reader) (Digest, error) {
	free := make(chan []byte, readBufs)
	for range readBufs {
		free <- nil
	}
	h := New()
	for {
		b := <-free
		if b == nil {
			b = make([]byte, readBuf)
		}
		n, err := io.ReadFull(r, b)
		h.Add(b[:n], func() { free <- b })
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return h.Sum(), nil
		}
		if err != nil {
			return h.Sum(), err
		}
	}
}
