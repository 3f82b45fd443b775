package smb

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"
)

const cleanupTimeout = 30 * time.Second

var errClosed = errors.New("write after Close or Abort")

// parallelWriter turns a stream into fixed-size WriteAt calls, several in
// flight at once, with a fixed pool of buffers (bounded memory: chunk ×
// (inflight+1)).
type parallelWriter struct {
	ctx    context.Context
	w      io.WriterAt
	wrap   func(error) error
	finish func(abort bool) error // closes the file; on abort also removes it

	buf  []byte // the chunk being filled
	off  int64  // stream offset of buf[0]
	pool chan []byte
	jobs chan job
	wg   sync.WaitGroup

	mu   sync.Mutex
	err  error
	done bool
}

type job struct {
	b   []byte
	off int64
}

func newParallelWriter(ctx context.Context, w io.WriterAt, chunk, inflight int, wrap func(error) error) *parallelWriter {
	pw := &parallelWriter{ctx: ctx, w: w, wrap: wrap, pool: make(chan []byte, inflight+1), jobs: make(chan job)}
	for i := 0; i < inflight+1; i++ {
		pw.pool <- make([]byte, 0, chunk)
	}
	for i := 0; i < inflight; i++ {
		pw.wg.Add(1)
		go pw.worker()
	}
	return pw
}

func (pw *parallelWriter) worker() {
	defer pw.wg.Done()
	for j := range pw.jobs {
		if pw.failed() == nil {
			n, err := pw.w.WriteAt(j.b, j.off)
			if err == nil && n != len(j.b) {
				err = io.ErrShortWrite
			}
			if err != nil {
				pw.fail(pw.wrap(err))
			}
		}
		pw.pool <- j.b[:0]
	}
}

func (pw *parallelWriter) failed() error {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return pw.err
}

func (pw *parallelWriter) fail(err error) {
	pw.mu.Lock()
	if pw.err == nil {
		pw.err = err
	}
	pw.mu.Unlock()
}

func (pw *parallelWriter) Write(p []byte) (int, error) {
	if pw.done {
		return 0, errClosed
	}
	n := 0
	for len(p) > 0 {
		if err := pw.failed(); err != nil {
			return n, err
		}
		if err := pw.ctx.Err(); err != nil {
			pw.fail(err)
			return n, err
		}
		if pw.buf == nil {
			pw.buf = <-pw.pool
		}
		c := copy(pw.buf[len(pw.buf):cap(pw.buf)], p)
		pw.buf = pw.buf[:len(pw.buf)+c]
		p = p[c:]
		n += c
		if len(pw.buf) == cap(pw.buf) {
			pw.flush()
		}
	}
	return n, pw.failed()
}

func (pw *parallelWriter) flush() {
	if len(pw.buf) == 0 {
		return
	}
	pw.jobs <- job{b: pw.buf, off: pw.off}
	pw.off += int64(len(pw.buf))
	pw.buf = nil
}

func (pw *parallelWriter) stop(abort bool) error {
	if pw.done {
		return nil
	}
	pw.done = true
	if abort {
		pw.fail(errClosed)
	} else if pw.failed() == nil {
		pw.flush()
	}
	close(pw.jobs)
	pw.wg.Wait()
	err := pw.failed()
	ferr := pw.finish(abort || err != nil)
	if abort {
		return nil
	}
	if err != nil {
		return err
	}
	return ferr
}

// Close writes what is buffered, waits for every write and closes the file.
// On a write error the partial file is removed and the error returned.
func (pw *parallelWriter) Close() error { return pw.stop(false) }

// Abort stops the upload and removes the file, best effort.
func (pw *parallelWriter) Abort() error { return pw.stop(true) }
