package nfs

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// dataConn is a minimal ONC RPC (RFC 5531) client over its own TCP
// connection, for pipelined NFSv3 WRITE and COMMIT: requests are written as
// they come (the caller's buffer is free again once call returns) and
// replies are matched by xid by one reader goroutine.
type dataConn struct {
	conn net.Conn
	cred []byte // encoded opaque_auth for the credential

	wmu sync.Mutex // serialises request writes

	mu      sync.Mutex
	pending map[uint32]func(body []byte, err error)
	err     error // the connection's terminal error
	done    chan struct{}
}

var xidSeq atomic.Uint32

func dialData(ctx context.Context, addr string, credFlavor uint32, credBody []byte) (*dataConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	cred := make([]byte, 8, 8+len(credBody)+3)
	binary.BigEndian.PutUint32(cred[0:], credFlavor)
	binary.BigEndian.PutUint32(cred[4:], uint32(len(credBody)))
	cred = append(cred, credBody...)
	cred = append(cred, make([]byte, pad(len(credBody)))...)
	dc := &dataConn{conn: c, cred: cred, pending: map[uint32]func([]byte, error){}, done: make(chan struct{})}
	go dc.readLoop()
	return dc, nil
}

func pad(n int) int { return (4 - n%4) % 4 }

// call sends one request: the header is built here, args are the encoded
// procedure arguments, data (optional) are appended as-is (the caller
// includes its XDR length and padding in args/data). onReply runs on the
// reader goroutine with the procedure's result body (after the RPC reply
// header) or an error; it is called exactly once, also when call fails.
func (dc *dataConn) call(prog, vers, proc uint32, args []byte, data [][]byte, onReply func([]byte, error)) error {
	xid := xidSeq.Add(1)
	hdr := make([]byte, 0, 4+40+len(dc.cred))
	hdr = binary.BigEndian.AppendUint32(hdr, 0) // record mark, set below
	for _, v := range []uint32{xid, 0, 2, prog, vers, proc} {
		hdr = binary.BigEndian.AppendUint32(hdr, v)
	}
	hdr = append(hdr, dc.cred...)
	hdr = binary.BigEndian.AppendUint32(hdr, 0) // verf AUTH_NONE
	hdr = binary.BigEndian.AppendUint32(hdr, 0)
	n := len(hdr) - 4 + len(args)
	for _, d := range data {
		n += len(d)
	}
	binary.BigEndian.PutUint32(hdr[0:], 0x80000000|uint32(n))

	dc.mu.Lock()
	if dc.err != nil {
		err := dc.err
		dc.mu.Unlock()
		onReply(nil, err)
		return err
	}
	dc.pending[xid] = onReply
	dc.mu.Unlock()

	dc.wmu.Lock()
	bufs := append(net.Buffers{hdr, args}, data...)
	_, err := bufs.WriteTo(dc.conn)
	dc.wmu.Unlock()
	if err != nil {
		dc.fail(err)
		return dc.failure()
	}
	return nil
}

func (dc *dataConn) failure() error {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	return dc.err
}

// fail ends the connection: every pending call gets err.
func (dc *dataConn) fail(err error) {
	dc.mu.Lock()
	if dc.err != nil {
		dc.mu.Unlock()
		return
	}
	dc.err = err
	p := dc.pending
	dc.pending = map[uint32]func([]byte, error){}
	dc.mu.Unlock()
	dc.conn.Close()
	for _, f := range p {
		f(nil, err)
	}
}

func (dc *dataConn) Close() error {
	dc.fail(errors.New("connection closed"))
	<-dc.done
	return nil
}

func (dc *dataConn) readLoop() {
	defer close(dc.done)
	r := bufio.NewReaderSize(dc.conn, 64<<10)
	var rec []byte
	for {
		rec = rec[:0]
		for {
			var mark [4]byte
			if _, err := io.ReadFull(r, mark[:]); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				dc.fail(fmt.Errorf("connection lost: %w", err))
				return
			}
			m := binary.BigEndian.Uint32(mark[:])
			n := int(m & 0x7fffffff)
			if n > 16<<20 {
				dc.fail(fmt.Errorf("reply fragment of %d bytes: not an RPC server?", n))
				return
			}
			start := len(rec)
			rec = append(rec, make([]byte, n)...)
			if _, err := io.ReadFull(r, rec[start:]); err != nil {
				dc.fail(fmt.Errorf("connection lost: %w", err))
				return
			}
			if m&0x80000000 != 0 {
				break
			}
		}
		if len(rec) < 8 {
			dc.fail(errors.New("short RPC reply"))
			return
		}
		xid := binary.BigEndian.Uint32(rec[0:])
		dc.mu.Lock()
		f := dc.pending[xid]
		delete(dc.pending, xid)
		dc.mu.Unlock()
		if f == nil {
			continue
		}
		body, err := parseReply(rec)
		f(body, err)
	}
}

// parseReply checks an RPC reply header and returns the result body.
func parseReply(rec []byte) ([]byte, error) {
	x := xdrReader{b: rec[4:]}
	if x.u32() != 1 {
		return nil, errors.New("RPC message is not a reply")
	}
	switch x.u32() {
	case 0: // MSG_ACCEPTED
		x.u32()          // verf flavor
		x.skip(x.opaq()) // verf body
		switch st := x.u32(); st {
		case 0:
			if x.err != nil {
				return nil, x.err
			}
			return x.b, nil
		case 1:
			return nil, errors.New("rpc: PROG_UNAVAIL")
		case 2:
			return nil, errors.New("rpc: PROG_MISMATCH")
		case 3:
			return nil, errors.New("rpc: PROC_UNAVAIL")
		case 4:
			return nil, errors.New("rpc: GARBAGE_ARGS")
		default:
			return nil, fmt.Errorf("rpc: accept status %d", st)
		}
	case 1: // MSG_DENIED
		if x.u32() == 1 {
			return nil, fmt.Errorf("rpc: AUTH_ERROR %d (the server refused the AUTH_UNIX credential)", x.u32())
		}
		return nil, errors.New("rpc: RPC_MISMATCH")
	}
	return nil, errors.New("rpc: malformed reply")
}

type xdrReader struct {
	b   []byte
	err error
}

func (x *xdrReader) need(n int) bool {
	if x.err != nil {
		return false
	}
	if len(x.b) < n {
		x.err = errors.New("truncated XDR reply")
		return false
	}
	return true
}

func (x *xdrReader) u32() uint32 {
	if !x.need(4) {
		return 0
	}
	v := binary.BigEndian.Uint32(x.b)
	x.b = x.b[4:]
	return v
}

func (x *xdrReader) u64() uint64 {
	if !x.need(8) {
		return 0
	}
	v := binary.BigEndian.Uint64(x.b)
	x.b = x.b[8:]
	return v
}

func (x *xdrReader) opaq() int { return int(x.u32()) }

func (x *xdrReader) skip(n int) {
	n += pad(n)
	if x.need(n) {
		x.b = x.b[n:]
	}
}

// skipWcc skips an NFSv3 wcc_data (pre_op_attr, post_op_attr).
func (x *xdrReader) skipWcc() {
	if x.u32() != 0 {
		x.skip(24)
	}
	if x.u32() != 0 {
		x.skip(84)
	}
}
