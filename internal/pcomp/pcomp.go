package pcomp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Algorithms.
const (
	None = "none"
	Gzip = "gzip"
	Zstd = "zstd"
)

// ChunkSize is the unit compressed independently.
const ChunkSize = 4 << 20

// Ext is the file name suffix of an algorithm ("" for none).
func Ext(algo string) string {
	switch algo {
	case Gzip:
		return ".gz"
	case Zstd:
		return ".zst"
	}
	return ""
}

// Valid reports whether algo is known.
func Valid(algo string) bool { return algo == None || algo == Gzip || algo == Zstd }

type job struct {
	in   []byte
	out  []byte // zstd: the frame; gzip: in gzOut
	gz   *bytes.Buffer
	err  error
	done chan struct{}
}

// Writer compresses what is written to it onto the underlying writer.
type Writer struct {
	w       io.Writer
	algo    string
	buf     []byte
	queue   chan *job // in order, to the collector
	work    chan *job
	wg      sync.WaitGroup
	collect chan error
	free    chan []byte
	outFree chan []byte // zstd output buffers, reused
	zenc    *zstd.Encoder
	err     error
	closed  bool
	failed  atomic.Pointer[error]
	any     bool // a chunk was submitted
}

// encoders are the zstd encoders Writers share, by worker count: EncodeAll
// may be called from many goroutines at once, and an encoder keeps the
// history buffers of its block encoders, which each new one allocated and
// zeroed again (several MiB per disk, a fixed cost of every backup set).
var encoders sync.Map // int -> *zstd.Encoder

func sharedEncoder(workers int) (*zstd.Encoder, error) {
	if e, ok := encoders.Load(workers); ok {
		return e.(*zstd.Encoder), nil
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(workers), zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithZeroFrames(true))
	if err != nil {
		return nil, err
	}
	e, loaded := encoders.LoadOrStore(workers, enc)
	if loaded {
		enc.Close()
	}
	return e.(*zstd.Encoder), nil
}

// NewWriter starts a compressor of algo on w with workers goroutines (0:
// one per CPU). For None it passes bytes through.
func NewWriter(w io.Writer, algo string, workers int) (io.WriteCloser, error) {
	if !Valid(algo) {
		return nil, fmt.Errorf("unknown compression %q: use none, gzip or zstd", algo)
	}
	if algo == None {
		return nopCloser{w}, nil
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	cw := &Writer{w: w, algo: algo, queue: make(chan *job, workers), work: make(chan *job, workers), collect: make(chan error, 1), free: make(chan []byte, 2*workers+1), outFree: make(chan []byte, 2*workers+1)}
	if algo == Zstd {
		enc, err := sharedEncoder(workers)
		if err != nil {
			return nil, err
		}
		cw.zenc = enc
	}
	for range workers {
		cw.wg.Add(1)
		go cw.worker()
	}
	go cw.collector()
	return cw, nil
}

func (c *Writer) worker() {
	defer c.wg.Done()
	var gz *gzip.Writer
	for j := range c.work {
		switch c.algo {
		case Zstd:
			// a buffer that holds even an incompressible chunk: no
			// growing, no second copy
			var dst []byte
			select {
			case dst = <-c.outFree:
			default:
			}
			if need := c.zenc.MaxEncodedSize(len(j.in)); cap(dst) < need {
				dst = make([]byte, 0, need)
			}
			j.out = c.zenc.EncodeAll(j.in, dst[:0])
		case Gzip:
			j.gz = bytes.NewBuffer(make([]byte, 0, len(j.in)+len(j.in)/64+1024))
			if gz == nil {
				gz, _ = gzip.NewWriterLevel(j.gz, gzip.DefaultCompression)
			} else {
				gz.Reset(j.gz)
			}
			if _, err := gz.Write(j.in); err != nil {
				j.err = err
			} else {
				j.err = gz.Close()
			}
		}
		close(j.done)
	}
}

func (c *Writer) collector() {
	var err error
	for j := range c.queue {
		<-j.done
		if err == nil {
			err = j.err
		}
		if err == nil {
			if j.gz != nil {
				_, err = c.w.Write(j.gz.Bytes())
			} else {
				_, err = c.w.Write(j.out)
			}
		}
		if err != nil {
			c.failed.CompareAndSwap(nil, &err)
		}
		select {
		case c.free <- j.in[:0]:
		default:
		}
		if j.out != nil {
			select {
			case c.outFree <- j.out[:0]:
			default:
			}
		}
	}
	c.collect <- err
}

func (c *Writer) getBuf() []byte {
	select {
	case b := <-c.free:
		return b
	default:
		return make([]byte, 0, ChunkSize)
	}
}

func (c *Writer) submit() {
	if c.buf == nil || (len(c.buf) == 0 && c.any) {
		return
	}
	c.any = true
	j := &job{in: c.buf, done: make(chan struct{})}
	c.buf = nil
	c.queue <- j // bounds what is in flight
	c.work <- j
}

// Write buffers p and hands full chunks to the workers.
func (c *Writer) Write(p []byte) (int, error) {
	if c.closed {
		return 0, errors.New("pcomp: write after Close")
	}
	if c.err != nil {
		return 0, c.err
	}
	n := len(p)
	for len(p) > 0 {
		if c.buf == nil {
			c.buf = c.getBuf()
		}
		k := min(len(p), ChunkSize-len(c.buf))
		c.buf = append(c.buf, p[:k]...)
		p = p[k:]
		if len(c.buf) == ChunkSize {
			c.submit()
		}
		if e := c.failed.Load(); e != nil {
			c.err = *e
			return n - len(p), c.err
		}
	}
	return n, nil
}

// Close compresses what is buffered, waits for every chunk to be written
// and reports the first error.
func (c *Writer) Close() error {
	if c.closed {
		return c.err
	}
	c.closed = true
	if !c.any && c.buf == nil {
		c.buf = []byte{} // an empty input is one empty frame or member
	}
	c.submit()
	close(c.work)
	close(c.queue)
	c.wg.Wait()
	err := <-c.collect
	if c.err == nil {
		c.err = err
	}
	return c.err
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// NewReader decompresses r compressed with algo.
func NewReader(r io.Reader, algo string) (io.ReadCloser, error) {
	switch algo {
	case None, "":
		return io.NopCloser(r), nil
	case Zstd:
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxWindow(64<<20))
		if err != nil {
			return nil, err
		}
		return zreader{d}, nil
	case Gzip:
		g, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		return g, nil
	}
	return nil, fmt.Errorf("unknown compression %q", algo)
}

type zreader struct{ *zstd.Decoder }

func (z zreader) Close() error { z.Decoder.Close(); return nil }
