package ftp

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// pipe is io.Pipe plus WriteTo: STOR's io.Copy then hands each Write's
// buffer straight to the data connection (one big write, no 32 KiB
// copies in between).
type pipe struct {
	wrMu sync.Mutex
	wrCh chan []byte
	rdCh chan int
	once sync.Once
	done chan struct{}
	rerr error // why the reading side ended (nil: normal)
	werr error // why the writing side ended (io.EOF: Close)
}

func newPipe() *pipe {
	return &pipe{wrCh: make(chan []byte), rdCh: make(chan int), done: make(chan struct{})}
}

func (p *pipe) Read(b []byte) (int, error) {
	select {
	case bw := <-p.wrCh:
		n := copy(b, bw)
		p.rdCh <- n
		return n, nil
	case <-p.done:
		return 0, p.werrOrEOF()
	}
}

// WriteTo writes every buffer given to Write to w, until Close.
func (p *pipe) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		select {
		case bw := <-p.wrCh:
			n, err := w.Write(bw)
			total += int64(n)
			if err != nil {
				p.CloseRead(err)
				p.rdCh <- n
				return total, err
			}
			p.rdCh <- n
		case <-p.done:
			if err := p.werrOrEOF(); err != io.EOF {
				return total, err
			}
			return total, nil
		}
	}
}

func (p *pipe) werrOrEOF() error {
	if p.werr != nil {
		return p.werr
	}
	if p.rerr != nil {
		return p.rerr
	}
	return io.EOF
}

func (p *pipe) Write(b []byte) (n int, err error) {
	p.wrMu.Lock()
	defer p.wrMu.Unlock()
	for once := true; once || len(b) > 0; once = false {
		select {
		case p.wrCh <- b:
			nw := <-p.rdCh
			b = b[nw:]
			n += nw
		case <-p.done:
			if p.rerr != nil {
				return n, p.rerr
			}
			return n, io.ErrClosedPipe
		}
	}
	return n, nil
}

// CloseWithError ends the writing side; the reader sees err (io.EOF for
// a normal end).
func (p *pipe) CloseWithError(err error) {
	if err == nil {
		err = io.EOF
	}
	p.once.Do(func() { p.werr = err; close(p.done) })
}

// CloseRead ends the reading side; writers see err.
func (p *pipe) CloseRead(err error) {
	if err == nil {
		err = io.ErrClosedPipe
	}
	p.once.Do(func() { p.rerr = err; close(p.done) })
}

// gracefulConn closes a data connection the polite way: half-close, read
// what the server still sends (its TLS close_notify, session tickets)
// briefly, then close. A plain close with unread bytes in the receive
// buffer sends a TCP reset, which vsftpd reports as "426 Failure reading
// network stream" even though every byte arrived.
type gracefulConn struct {
	net.Conn
	wrote atomic.Bool
}

func (g *gracefulConn) Write(b []byte) (int, error) {
	g.wrote.Store(true)
	return g.Conn.Write(b)
}

// Close drains only after an upload: an unused or read data connection
// is closed at once.
func (g *gracefulConn) Close() error {
	if tc, ok := g.Conn.(*net.TCPConn); ok && g.wrote.Load() {
		_ = tc.CloseWrite()
		_ = tc.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, _ = io.Copy(io.Discard, io.LimitReader(tc, 1<<20))
	}
	return g.Conn.Close()
}
