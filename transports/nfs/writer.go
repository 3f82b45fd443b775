package nfs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	nfsc "github.com/willscott/go-nfs-client/nfs"

	"github.com/vmlua/vmlua/transports"
)

const cleanupTimeout = 30 * time.Second

var errClosed = errors.New("write after Close or Abort")

// Create opens p for writing, truncating it, and returns the pipelined
// UNSTABLE writer.
func (t *Transport) Create(ctx context.Context, p string) (transports.Writer, error) {
	f, err := t.full(p)
	if err != nil {
		return nil, err
	}
	if f == "" {
		return nil, fmt.Errorf("nfs create: the transport's root is a directory")
	}
	fh, err := run(ctx, func() ([]byte, error) {
		fi, fh, err := t.v.Lookup(f)
		if err == nil {
			if k := typeKind(fi); k != "" {
				return nil, transports.NotRegular(p, k)
			}
			_, err = t.v.SetAttr(fh, nfsc.Sattr3{Size: nfsc.SetSize{SetIt: true, Size: 0}})
			return fh, err
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return t.v.Create(f, 0o644)
	})
	if err != nil {
		return nil, t.wrap("create", p, err)
	}
	dc, err := dialData(ctx, t.nfsAddr, 1, t.credBody)
	if err != nil {
		return nil, t.wrap("create", p, fmt.Errorf("data connection: %w", err))
	}
	w := &writer{
		t: t, ctx: ctx, path: p, full: f, fh: fh, dc: dc,
		buf:  make([]byte, 0, t.chunk),
		sem:  make(chan struct{}, t.inflight),
		stop: context.AfterFunc(ctx, func() { dc.fail(ctx.Err()) }),
	}
	return w, nil
}

// writer streams UNSTABLE WRITEs with up to cap(sem) outstanding and
// COMMITs at Close.
type writer struct {
	t    *Transport
	ctx  context.Context
	path string
	full string
	fh   []byte
	dc   *dataConn
	stop func() bool

	buf []byte
	off uint64
	sem chan struct{}
	wg  sync.WaitGroup

	mu      sync.Mutex
	err     error
	verf    uint64
	hasVerf bool
	done    bool
}

func (w *writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *writer) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

func (w *writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, errClosed
	}
	n := 0
	for len(p) > 0 {
		if err := w.failed(); err != nil {
			return n, w.t.wrap("write", w.path, err)
		}
		if len(w.buf) == 0 && len(p) >= cap(w.buf) {
			// a whole chunk: send it from the caller's buffer, which is
			// free again once the request is on the wire (no copy)
			c := cap(w.buf)
			if err := w.send(p[:c]); err != nil {
				return n, w.t.wrap("write", w.path, err)
			}
			p = p[c:]
			n += c
			continue
		}
		c := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+c]
		p = p[c:]
		n += c
		if len(w.buf) == cap(w.buf) {
			if err := w.flush(); err != nil {
				return n, w.t.wrap("write", w.path, err)
			}
		}
	}
	return n, nil
}

func fhArgs(b []byte, fh []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(fh)))
	b = append(b, fh...)
	return append(b, make([]byte, pad(len(fh)))...)
}

// flush sends buf as one WRITE; buf is free again when it returns.
func (w *writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.send(w.buf)
	w.buf = w.buf[:0]
	return err
}

// send sends b as one WRITE at the current offset; b is free again when
// it returns (the request is written to the connection synchronously).
func (w *writer) send(b []byte) error {
	select {
	case w.sem <- struct{}{}:
	case <-w.ctx.Done():
		w.fail(w.ctx.Err())
		return w.ctx.Err()
	}
	off, n := w.off, len(b)
	args := fhArgs(make([]byte, 0, 96), w.fh)
	args = binary.BigEndian.AppendUint64(args, off)
	args = binary.BigEndian.AppendUint32(args, uint32(n))
	args = binary.BigEndian.AppendUint32(args, 0) // UNSTABLE
	args = binary.BigEndian.AppendUint32(args, uint32(n))
	data := [][]byte{b}
	if p := pad(n); p != 0 {
		data = append(data, make([]byte, p)) // only the last, odd-sized chunk
	}
	w.wg.Add(1)
	err := w.dc.call(nfsc.Nfs3Prog, nfsc.Nfs3Vers, nfsc.NFSProc3Write, args, data, func(body []byte, err error) {
		defer w.wg.Done()
		defer func() { <-w.sem }()
		if err == nil {
			err = w.writeReply(body, n)
		}
		if err != nil {
			w.fail(fmt.Errorf("WRITE of %d bytes at offset %d: %w", n, off, err))
		}
	})
	if err != nil {
		// onReply was called (fail) or never registered; make sure the
		// WaitGroup and semaphore are released exactly once.
		w.fail(err)
	}
	w.off += uint64(n)
	return w.failed()
}

func (w *writer) writeReply(body []byte, n int) error {
	x := xdrReader{b: body}
	st := x.u32()
	x.skipWcc()
	if st != 0 {
		return nfsc.NFS3Error(st)
	}
	count := x.u32()
	x.u32() // committed
	verf := x.u64()
	if x.err != nil {
		return x.err
	}
	if int(count) != n {
		return fmt.Errorf("the server accepted %d of %d bytes", count, n)
	}
	return w.checkVerf(verf)
}

func (w *writer) checkVerf(v uint64) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.hasVerf {
		w.verf, w.hasVerf = v, true
		return nil
	}
	if v != w.verf {
		return errors.New("the server's write verifier changed (it restarted during the upload): unstable data may be lost")
	}
	return nil
}

func (w *writer) commit() error {
	args := fhArgs(make([]byte, 0, 96), w.fh)
	args = binary.BigEndian.AppendUint64(args, 0)
	args = binary.BigEndian.AppendUint32(args, 0)
	done := make(chan error, 1)
	err := w.dc.call(nfsc.Nfs3Prog, nfsc.Nfs3Vers, nfsc.NFSProc3Commit, args, nil, func(body []byte, err error) {
		if err == nil {
			x := xdrReader{b: body}
			st := x.u32()
			x.skipWcc()
			if st != 0 {
				err = nfsc.NFS3Error(st)
			} else if v := x.u64(); x.err != nil {
				err = x.err
			} else {
				err = w.checkVerf(v)
			}
		}
		done <- err
	})
	if err != nil {
		return err
	}
	select {
	case err = <-done:
	case <-w.ctx.Done():
		err = w.ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("COMMIT: %w", err)
	}
	return nil
}

func (w *writer) finish(abort bool) error {
	if w.done {
		return nil
	}
	w.done = true
	if !abort && w.failed() == nil {
		if err := w.flush(); err == nil {
			w.wg.Wait()
			if err := w.failed(); err == nil {
				if err := w.commit(); err != nil {
					w.fail(err)
				}
			}
		}
	}
	w.dc.Close() // fails whatever is still outstanding
	w.wg.Wait()
	w.stop()
	err := w.failed()
	if abort || err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		_, _ = run(ctx, func() (struct{}, error) { return struct{}{}, w.t.v.Remove(w.full) })
	}
	if abort || err == nil {
		return nil
	}
	if ctxErr := w.ctx.Err(); ctxErr != nil {
		err = fmt.Errorf("%w (%v)", ctxErr, err)
	}
	return w.t.wrap("write", w.path, err)
}

// Close sends what is buffered, waits for every WRITE and COMMITs.
func (w *writer) Close() error { return w.finish(false) }

// Abort stops the upload and removes the file, best effort.
func (w *writer) Abort() error { return w.finish(true) }
