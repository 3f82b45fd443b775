package portmap

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
)

// Program numbers and protocols (RFC 1833).
const (
	Program   = 100000 // the portmapper itself
	MountProg = 100005
	NFSProg   = 100003
	ProtoTCP  = 6
	ProtoUDP  = 17
	Port      = 111 // where clients look for it
)

// Mapping says that version Vers of program Prog listens on Port over
// Prot (ProtoTCP or ProtoUDP).
type Mapping struct {
	Prog, Vers, Prot, Port uint32
}

// NFS returns the mappings of an NFSv3 server serving NFS and MOUNT
// (versions 1 and 3, as mount clients ask either) over TCP on port.
func NFS(port int) []Mapping {
	p := uint32(port)
	return []Mapping{
		{NFSProg, 3, ProtoTCP, p},
		{MountProg, 3, ProtoTCP, p},
		{MountProg, 1, ProtoTCP, p},
	}
}

// Server answers portmapper calls for a fixed set of mappings.
type Server struct {
	maps []Mapping
	log  *slog.Logger
	// Allow, when set, admits only the clients it accepts (a TCP
	// connection is closed, a UDP call dropped).
	Allow func(net.Addr) bool
}

// New returns a server for maps (its own entries, 100000 v2 on port 111
// over TCP and UDP, are added).
func New(maps []Mapping, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	own := []Mapping{{Program, 2, ProtoTCP, Port}, {Program, 2, ProtoUDP, Port}}
	return &Server{maps: append(own, maps...), log: log}
}

// Serve answers on l (TCP) and pc (UDP; either may be nil) until ctx
// ends, then closes both and every connection.
func (s *Server) Serve(ctx context.Context, l net.Listener, pc net.PacketConn) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	closed := false
	closeAll := func() {
		if l != nil {
			l.Close()
		}
		if pc != nil {
			pc.Close()
		}
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	}
	stop := context.AfterFunc(ctx, closeAll)
	defer stop()
	if pc != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.serveUDP(pc) }()
	}
	var err error
	if l != nil {
		for {
			c, aerr := l.Accept()
			if aerr != nil {
				if ctx.Err() == nil {
					err = fmt.Errorf("portmapper: accept: %w", aerr)
				}
				break
			}
			if s.Allow != nil && !s.Allow(c.RemoteAddr()) {
				s.log.Warn("portmapper: a client not allowed was refused", "client", c.RemoteAddr().String())
				c.Close()
				continue
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				break
			}
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serveConn(c)
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
				c.Close()
			}()
		}
	} else {
		<-ctx.Done()
	}
	closeAll() // an accept that failed ends the UDP side too
	wg.Wait()
	return err
}

// maxRecord bounds a call: a portmapper call is a few dozen bytes.
const maxRecord = 64 << 10

// serveConn answers the calls of one TCP connection, each a record of
// fragments (RFC 5531 section 11).
func (s *Server) serveConn(c net.Conn) {
	for {
		var rec []byte
		for {
			var h [4]byte
			if _, err := io.ReadFull(c, h[:]); err != nil {
				return
			}
			v := binary.BigEndian.Uint32(h[:])
			n := v & 0x7fffffff
			if len(rec)+int(n) > maxRecord {
				s.log.Warn("portmapper: a call too long was refused", "client", c.RemoteAddr().String())
				return
			}
			frag := make([]byte, n)
			if _, err := io.ReadFull(c, frag); err != nil {
				return
			}
			rec = append(rec, frag...)
			if v&0x80000000 != 0 {
				break
			}
		}
		reply, ok := s.answer(rec, ProtoTCP, c.RemoteAddr())
		if !ok {
			return
		}
		out := make([]byte, 4+len(reply))
		binary.BigEndian.PutUint32(out, 0x80000000|uint32(len(reply)))
		copy(out[4:], reply)
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

func (s *Server) serveUDP(pc net.PacketConn) {
	buf := make([]byte, maxRecord)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if s.Allow != nil && !s.Allow(addr) {
			continue
		}
		if reply, ok := s.answer(buf[:n], ProtoUDP, addr); ok {
			pc.WriteTo(reply, addr)
		}
	}
}

// RPC message constants (RFC 5531).
const (
	msgCall, msgReply             = 0, 1
	msgAccepted                   = 0
	acceptSuccess                 = 0
	acceptProgUnavail             = 1
	acceptProgMismatch            = 2
	acceptProcUnavail             = 3
	acceptGarbageArgs             = 4
	procNull, procSet             = 0, 1
	procUnset, procGetport        = 2, 3
	procDump                      = 4
	rpcVersion             uint32 = 2
)

var errShort = errors.New("short call")

type reader struct {
	b   []byte
	err error
}

func (r *reader) u32() uint32 {
	if r.err != nil || len(r.b) < 4 {
		r.err = errShort
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

// opaque skips an opaque<400> (an auth body).
func (r *reader) opaque() {
	n := r.u32()
	if r.err != nil {
		return
	}
	pad := (n + 3) &^ 3
	if n > 400 || uint32(len(r.b)) < pad {
		r.err = errShort
		return
	}
	r.b = r.b[pad:]
}

// answer decodes one call and returns its reply; ok is false for what
// is not a well-formed call (nothing is sent back).
func (s *Server) answer(call []byte, prot uint32, from net.Addr) (reply []byte, ok bool) {
	r := &reader{b: call}
	xid := r.u32()
	if r.u32() != msgCall || r.err != nil {
		return nil, false
	}
	rpcv, prog, vers, proc := r.u32(), r.u32(), r.u32(), r.u32()
	r.u32() // credential flavour
	r.opaque()
	r.u32() // verifier flavour
	r.opaque()
	if r.err != nil || rpcv != rpcVersion {
		return nil, false
	}
	w := []uint32{xid, msgReply, msgAccepted, 0, 0} // verifier AUTH_NULL, empty
	switch {
	case prog != Program:
		return words(append(w, acceptProgUnavail)), true
	case vers != 2:
		// rpcbind 3 and 4: libtirpc clients fall back to version 2
		return words(append(w, acceptProgMismatch, 2, 2)), true
	}
	switch proc {
	case procNull:
		return words(append(w, acceptSuccess)), true
	case procSet, procUnset:
		s.log.Warn("portmapper: a registration was refused (this portmapper serves vmlua's NFS export only)", "client", from.String())
		return words(append(w, acceptSuccess, 0)), true
	case procGetport:
		m := Mapping{r.u32(), r.u32(), r.u32(), r.u32()}
		if r.err != nil {
			return words(append(w, acceptGarbageArgs)), true
		}
		port := s.getport(m)
		s.log.Debug("portmapper: GETPORT", "client", from.String(), "prog", m.Prog, "vers", m.Vers, "prot", m.Prot, "port", port)
		return words(append(w, acceptSuccess, port)), true
	case procDump:
		w = append(w, acceptSuccess)
		for _, m := range s.maps {
			w = append(w, 1, m.Prog, m.Vers, m.Prot, m.Port)
		}
		return words(append(w, 0)), true
	}
	return words(append(w, acceptProcUnavail)), true
}

// getport returns the port of m's program, version and protocol, 0 if
// none (RFC 1833: "the port value ... zero means the program has not
// been registered").
func (s *Server) getport(m Mapping) uint32 {
	for _, x := range s.maps {
		if x.Prog == m.Prog && x.Vers == m.Vers && x.Prot == m.Prot {
			return x.Port
		}
	}
	return 0
}

func words(w []uint32) []byte {
	b := make([]byte, 4*len(w))
	for i, v := range w {
		binary.BigEndian.PutUint32(b[4*i:], v)
	}
	return b
}
