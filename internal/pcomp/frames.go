package pcomp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Frame is one independently decodable piece of a stream: a zstd frame, a
// gzip member, or for None a ChunkSize piece of the stored bytes. Stored
// is where its bytes lie in the stored (compressed) stream, Decoded where
// its decoded bytes lie in the decoded stream. A reader at random keeps
// the frames of a stream (FrameReader.Frames) and decodes one with
// DecodeFrame.
type Frame struct {
	Stored, StoredLen   int64
	Decoded, DecodedLen int64
}

// maxFrame bounds one frame's stored and decoded bytes: pcomp's frames
// hold ChunkSize bytes of input; anything far larger is a damaged stream,
// not a reason to allocate.
const maxFrame = 16 * ChunkSize

// ErrFrame is wrapped by every error about a frame that cannot be decoded.
var ErrFrame = errors.New("a compressed frame cannot be decoded")

// FrameReader decodes a stored stream one frame at a time, as NewReader
// does, and keeps the table of its frames: where each lies in the stored
// and in the decoded bytes. It reads exactly the stored bytes (no read
// ahead past the last frame).
type FrameReader struct {
	r      *countReader
	algo   string
	gz     *gzip.Reader
	frames []Frame
	cur    []byte // decoded bytes of the current frame not yet read
	buf    []byte // the current frame's stored bytes
	dbuf   []byte // its decoded bytes (zstd)
	dec    int64  // decoded bytes of the frames so far
	err    error
}

type countReader struct {
	r *bufio.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

func (c *countReader) peek(n int) ([]byte, error) { return c.r.Peek(n) }

// take appends the next n bytes to dst.
func (c *countReader) take(dst []byte, n int) ([]byte, error) {
	at := len(dst)
	dst = append(dst, make([]byte, n)...)
	k, err := io.ReadFull(c.r, dst[at:])
	c.n += int64(k)
	return dst, err
}

// NewFrameReader reads the stream r compressed with algo.
func NewFrameReader(r io.Reader, algo string) (*FrameReader, error) {
	if algo == "" {
		algo = None
	}
	if !Valid(algo) {
		return nil, fmt.Errorf("unknown compression %q", algo)
	}
	return &FrameReader{r: &countReader{r: bufio.NewReaderSize(r, 1<<20)}, algo: algo}, nil
}

// Frames returns the frames read whole so far.
func (f *FrameReader) Frames() []Frame { return f.frames }

// Read returns the next decoded bytes; an error about the stored bytes
// wraps ErrFrame.
func (f *FrameReader) Read(p []byte) (int, error) {
	for len(f.cur) == 0 {
		if f.err != nil {
			return 0, f.err
		}
		f.err = f.next()
	}
	n := copy(p, f.cur)
	f.cur = f.cur[n:]
	return n, nil
}

// next decodes the next frame into cur; io.EOF at the end of the stream.
func (f *FrameReader) next() error {
	start := f.r.n
	var out []byte
	var err error
	switch f.algo {
	case None:
		f.buf, err = f.r.take(f.buf[:0], ChunkSize)
		if err == io.ErrUnexpectedEOF {
			err = nil
		}
		if err == nil && len(f.buf) == 0 {
			err = io.EOF
		}
		f.buf = f.buf[:f.r.n-start]
		out = f.buf
	case Zstd:
		out, err = f.nextZstd()
	case Gzip:
		out, err = f.nextGzip()
	}
	if err != nil {
		return err
	}
	f.frames = append(f.frames, Frame{Stored: start, StoredLen: f.r.n - start, Decoded: f.dec, DecodedLen: int64(len(out))})
	f.dec += int64(len(out))
	f.cur = out
	return nil
}

// nextZstd reads the next frame's bytes by its header and block headers
// (RFC 8878: a block header is 3 bytes, the last flag, the type and the
// size) and decodes it; skippable frames are skipped.
func (f *FrameReader) nextZstd() ([]byte, error) {
	for {
		start := f.r.n
		hdr, err := f.r.peek(zstd.HeaderMaxSize)
		if len(hdr) == 0 && err == io.EOF {
			return nil, io.EOF
		}
		var h zstd.Header
		if herr := h.Decode(hdr); herr != nil {
			return nil, fmt.Errorf("%w: zstd frame at stored byte %d: %v", ErrFrame, start, herr)
		}
		if h.Skippable {
			if _, err := f.r.take(nil, h.HeaderSize+int(h.SkippableSize)); err != nil {
				return nil, fmt.Errorf("%w: skippable zstd frame at stored byte %d: %v", ErrFrame, start, err)
			}
			continue
		}
		if f.buf, err = f.r.take(f.buf[:0], h.HeaderSize); err != nil {
			return nil, fmt.Errorf("%w: zstd frame at stored byte %d: %v", ErrFrame, start, err)
		}
		for last := false; !last; {
			b, err := f.r.peek(3)
			if err != nil {
				return nil, fmt.Errorf("%w: zstd frame at stored byte %d is truncated", ErrFrame, start)
			}
			bh := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
			last = bh&1 != 0
			size := int(bh >> 3)
			switch (bh >> 1) & 3 {
			case 1: // RLE: one byte
				size = 1
			case 3:
				return nil, fmt.Errorf("%w: zstd frame at stored byte %d has a reserved block type", ErrFrame, start)
			}
			if size > 1<<17 || len(f.buf)+size > maxFrame {
				return nil, fmt.Errorf("%w: zstd frame at stored byte %d has an oversized block", ErrFrame, start)
			}
			if f.buf, err = f.r.take(f.buf, 3+size); err != nil {
				return nil, fmt.Errorf("%w: zstd frame at stored byte %d is truncated", ErrFrame, start)
			}
		}
		if h.HasCheckSum {
			if f.buf, err = f.r.take(f.buf, 4); err != nil {
				return nil, fmt.Errorf("%w: zstd frame at stored byte %d is truncated", ErrFrame, start)
			}
		}
		out, err := DecodeFrame(Zstd, f.buf, f.dbuf[:0])
		if err != nil {
			return nil, fmt.Errorf("zstd frame at stored byte %d: %w", start, err)
		}
		f.dbuf = out
		return out, nil
	}
}

// nextGzip decodes the next gzip member: the gzip reader reads the
// stored bytes one at a time through countReader (an io.ByteReader), so
// the count ends exactly at the member's end.
func (f *FrameReader) nextGzip() ([]byte, error) {
	start := f.r.n
	var err error
	if f.gz == nil {
		if _, perr := f.r.peek(1); perr == io.EOF {
			return nil, io.EOF
		}
		f.gz, err = gzip.NewReader(f.r)
	} else {
		err = f.gz.Reset(f.r)
	}
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("%w: gzip member at stored byte %d: %v", ErrFrame, start, err)
	}
	f.gz.Multistream(false)
	out, err := io.ReadAll(io.LimitReader(f.gz, maxFrame+1))
	if err != nil || len(out) > maxFrame {
		return nil, fmt.Errorf("%w: gzip member at stored byte %d: %v", ErrFrame, start, err)
	}
	return out, nil
}

// frameDecoder decodes whole zstd frames; DecodeAll is safe for
// concurrent use. It skips the frames' own XXH64 checksum: a reader of
// frames checks the stored bytes against their sha256 span digests
// (and the decoded stream against its content digest) already.
var frameDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxFrame), zstd.WithDecoderMaxWindow(64<<20), zstd.IgnoreChecksum(true))
})

// DecodeFrame decodes the stored bytes of one frame (as Frames located
// it) and appends them to dst; an error wraps ErrFrame.
func DecodeFrame(algo string, stored, dst []byte) ([]byte, error) {
	switch algo {
	case None, "":
		return append(dst, stored...), nil
	case Zstd:
		d, err := frameDecoder()
		if err != nil {
			return nil, err
		}
		out, err := d.DecodeAll(stored, dst)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFrame, err)
		}
		return out, nil
	case Gzip:
		g, err := gzip.NewReader(bytes.NewReader(stored))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFrame, err)
		}
		g.Multistream(false)
		// into dst's room as it is (a bytes.Buffer would double a dst
		// sized for the frame when it reads the end)
		var one [1]byte
		for {
			room := dst[len(dst):cap(dst)]
			if len(room) == 0 {
				room = one[:]
			}
			n, err := g.Read(room)
			if len(dst) == cap(dst) && n > 0 {
				dst = append(dst, room[:n]...)
			} else {
				dst = dst[:len(dst)+n]
			}
			if err == io.EOF {
				return dst, nil
			}
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrFrame, err)
			}
			if len(dst) > maxFrame {
				return nil, fmt.Errorf("%w: a gzip member of more than %d bytes", ErrFrame, maxFrame)
			}
		}
	}
	return nil, fmt.Errorf("unknown compression %q", algo)
}
