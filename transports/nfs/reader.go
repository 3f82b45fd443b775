package nfs

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"

	nfsc "github.com/willscott/go-nfs-client/nfs"
)

// readAhead is how many READ requests an Open keeps outstanding (each of
// the server's rtmax, at most 1 MiB: at most 8 MiB per stream).
const readAhead = 8

// preader reads a file with up to readAhead READs outstanding on its own
// connection and hands their data out in order.
type preader struct {
	ctx   context.Context
	t     *Transport
	p     string
	fh    []byte
	dc    *dataConn
	stop  func() bool
	chunk int
	next  uint64 // offset of the next READ to send
	end   uint64 // the file's size when opened
	queue []*readReq
	free  [][]byte
	cur   *readReq // being handed out
	err   error
}

type readReq struct {
	off  uint64
	want int
	mem  []byte // the buffer, reused
	buf  []byte // the data not yet handed out, after done
	eof  bool
	err  error
	done chan struct{}
}

func (t *Transport) openPipelined(ctx context.Context, p string, fh []byte, offset, size int64) (io.ReadCloser, error) {
	r := &preader{ctx: ctx, t: t, p: p, fh: fh, chunk: t.rchunk, next: uint64(offset), end: uint64(max(size, offset))}
	if r.next >= r.end {
		return r, nil
	}
	dc, err := dialData(ctx, t.nfsAddr, 1, t.credBody)
	if err != nil {
		return nil, t.wrap("open", p, fmt.Errorf("data connection: %w", err))
	}
	r.dc = dc
	r.stop = context.AfterFunc(ctx, func() { dc.fail(ctx.Err()) })
	return r, nil
}

// send issues READs until readAhead are outstanding or the file is covered.
func (r *preader) send() {
	for len(r.queue) < readAhead && r.next < r.end {
		n := int(min(uint64(r.chunk), r.end-r.next))
		r.queue = append(r.queue, r.request(r.next, n))
		r.next += uint64(n)
	}
}

func (r *preader) request(off uint64, n int) *readReq {
	var buf []byte
	if k := len(r.free); k > 0 {
		buf, r.free = r.free[k-1][:0], r.free[:k-1]
	} else {
		buf = make([]byte, 0, r.chunk)
	}
	q := &readReq{off: off, want: n, mem: buf, buf: buf, done: make(chan struct{})}
	args := fhArgs(make([]byte, 0, 96), r.fh)
	args = binary.BigEndian.AppendUint64(args, off)
	args = binary.BigEndian.AppendUint32(args, uint32(n))
	// the callback runs on the connection's reader goroutine, exactly once
	_ = r.dc.call(nfsc.Nfs3Prog, nfsc.Nfs3Vers, nfsc.NFSProc3Read, args, nil, func(body []byte, err error) {
		defer close(q.done)
		if err != nil {
			q.err = err
			return
		}
		x := xdrReader{b: body}
		st := x.u32()
		if x.u32() != 0 { // post_op_attr
			x.skip(84)
		}
		if st != 0 {
			q.err = nfsc.NFS3Error(st)
			return
		}
		count := int(x.u32())
		q.eof = x.u32() != 0
		l := x.opaq()
		if x.err == nil && (l != count || l > len(x.b) || l > n) {
			x.err = fmt.Errorf("READ reply of %d bytes (count %d) for %d asked", l, count, n)
		}
		if x.err != nil {
			q.err = x.err
			return
		}
		q.buf = append(q.buf, x.b[:l]...)
	})
	return q
}

func (r *preader) Read(b []byte) (int, error) {
	for {
		if r.cur != nil && len(r.cur.buf) > 0 {
			n := copy(b, r.cur.buf)
			r.cur.buf = r.cur.buf[n:]
			return n, nil
		}
		if r.cur != nil {
			r.free = append(r.free, r.cur.mem[:0])
			r.cur = nil
		}
		if r.err != nil {
			return 0, r.err
		}
		r.send()
		if len(r.queue) == 0 {
			r.err = io.EOF
			return 0, io.EOF
		}
		q := r.queue[0]
		select {
		case <-q.done:
		case <-r.ctx.Done():
			r.err = r.ctx.Err()
			return 0, r.err
		}
		r.queue = r.queue[1:]
		if q.err != nil {
			r.err = r.t.wrap("read", r.p, fmt.Errorf("READ of %d bytes at offset %d: %w", q.want, q.off, q.err))
			return 0, r.err
		}
		got := len(q.buf)
		if got < q.want {
			if q.eof || got == 0 {
				// the file shrank: end here, like a sequential reader
				r.queue, r.next, r.end = nil, q.off+uint64(got), q.off+uint64(got)
			} else {
				// a short read: ask for the rest before anything later
				rest := r.request(q.off+uint64(got), q.want-got)
				r.queue = append([]*readReq{rest}, r.queue...)
			}
		}
		r.cur = q
	}
}

// Close drops the connection (outstanding READs are abandoned).
func (r *preader) Close() error {
	if r.dc != nil {
		r.dc.Close()
		r.stop()
		r.dc = nil
	}
	if r.err == nil {
		r.err = errClosed
	}
	return nil
}
