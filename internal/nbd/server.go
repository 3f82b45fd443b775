package nbd

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
)

// Extent is a range of an export and whether it reads as zeros.
type Extent struct {
	Offset, Len int64
	Zero        bool
}

// Export is one read-only disk the server exports.
type Export struct {
	// Name is what a client asks for (nbd://host/NAME).
	Name string
	// Description is shown by clients that list exports.
	Description string
	Size        int64
	// Data gives the bytes; it must be safe for concurrent use. An error
	// is sent to the client as EIO, with its message.
	Data io.ReaderAt
	// Map, when set, tells the zero areas of [off, off+length), in
	// order, from off (it may stop before the end: the rest is read as
	// data, and block status replies with what it told): the server's
	// base:allocation metadata (NBD_CMD_BLOCK_STATUS) and holes in its
	// structured read replies. Without it everything is data.
	Map func(off, length int64) ([]Extent, error)
}

// MaxRequest is the largest read or block status request served (the
// maximum block size the server advertises).
const MaxRequest = 32 << 20

// inFlight is how many requests of one connection are served at once.
const inFlight = 16

// Server serves exports read-only over the NBD protocol: the fixed
// newstyle handshake (NBD_OPT_GO, INFO, EXPORT_NAME, LIST,
// STRUCTURED_REPLY, LIST/SET_META_CONTEXT, STARTTLS), and in
// transmission NBD_CMD_READ, NBD_CMD_BLOCK_STATUS (base:allocation),
// CACHE and DISC; writes, trims and write-zeroes are refused with EPERM.
type Server struct {
	Exports []Export
	// TLS, when set, is required: a client must start TLS
	// (NBD_OPT_STARTTLS) before anything else.
	TLS *tls.Config
	// Log receives one line per connection and per failed read.
	Log *slog.Logger
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// Serve accepts connections on l until ctx ends or l fails; it closes l
// and every connection when it returns.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	var wg sync.WaitGroup
	conns := map[net.Conn]bool{}
	var mu sync.Mutex
	closed := false
	closeAll := func() {
		l.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	}
	stop := context.AfterFunc(ctx, closeAll)
	defer stop()
	defer wg.Wait()
	defer closeAll() // also when the listener fails: no connection outlives Serve
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		mu.Lock()
		conns[c] = true
		if closed {
			c.Close()
		}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.serveConn(ctx, c); err != nil && !errors.Is(err, io.EOF) && ctx.Err() == nil {
				s.log().Warn("nbd: connection ended", "client", c.RemoteAddr().String(), "error", err)
			}
			c.Close()
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
}

// conn is one client's connection.
type conn struct {
	s          *Server
	c          net.Conn
	r          *bufio.Reader
	w          *bufio.Writer
	noZeroes   bool
	tls        bool
	structured bool
	meta       string // the export base:allocation was set for
	ex         *Export
}

func (s *Server) serveConn(ctx context.Context, nc net.Conn) error {
	c := &conn{s: s, c: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}
	if err := c.handshake(); err != nil {
		return err
	}
	if c.ex == nil {
		return nil // the client aborted
	}
	s.log().Info("nbd: client connected", "client", nc.RemoteAddr().String(), "export", c.ex.Name, "tls", c.tls)
	return c.transmit(ctx)
}

func (c *conn) be(v any) error { return binary.Write(c.w, binary.BigEndian, v) }

// handshake runs the fixed newstyle negotiation until an export is
// chosen (c.ex) or the client aborts.
func (c *conn) handshake() error {
	c.be(uint64(nbdMagic))
	c.be(uint64(optMagic))
	c.be(uint16(flagFixedNewstyle | flagNoZeroes))
	if err := c.w.Flush(); err != nil {
		return err
	}
	var cflags uint32
	if err := binary.Read(c.r, binary.BigEndian, &cflags); err != nil {
		return err
	}
	if cflags&flagCFixedNewstyle == 0 {
		return errors.New("the client does not speak the fixed newstyle handshake")
	}
	c.noZeroes = cflags&flagCNoZeroes != 0
	for {
		var h struct {
			Magic  uint64
			Option uint32
			Len    uint32
		}
		if err := binary.Read(c.r, binary.BigEndian, &h); err != nil {
			return err
		}
		if h.Magic != optMagic {
			return errors.New("bad option magic")
		}
		if h.Len > 64<<10 {
			return fmt.Errorf("option %d of %d bytes is too long", h.Option, h.Len)
		}
		data := make([]byte, h.Len)
		if _, err := io.ReadFull(c.r, data); err != nil {
			return err
		}
		if c.s.TLS != nil && !c.tls && h.Option != optStartTLS && h.Option != optAbort {
			if h.Option == optExportName {
				return errors.New("the client asked for an export without TLS, which this server requires")
			}
			if err := c.reply(h.Option, repErrTLSReqd, []byte("this server requires TLS: start it first (NBD_OPT_STARTTLS)")); err != nil {
				return err
			}
			continue
		}
		done, err := c.option(h.Option, data)
		if err != nil || done {
			return err
		}
	}
}

// reply sends an option reply.
func (c *conn) reply(opt, typ uint32, data []byte) error {
	c.be(uint64(optReplyMagic))
	c.be(opt)
	c.be(typ)
	c.be(uint32(len(data)))
	c.w.Write(data)
	return c.w.Flush()
}

// str reads a 32-bit length and a string from b.
func str(b []byte) (string, []byte, bool) {
	if len(b) < 4 {
		return "", nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(len(b)-4) < uint64(n) {
		return "", nil, false
	}
	return string(b[4 : 4+n]), b[4+n:], true
}

func (c *conn) lookup(name string) *Export {
	for i := range c.s.Exports {
		if c.s.Exports[i].Name == name {
			return &c.s.Exports[i]
		}
	}
	if name == "" && len(c.s.Exports) == 1 {
		return &c.s.Exports[0] // the default export: the only one
	}
	return nil
}

func (c *conn) names() string {
	var n []string
	for _, e := range c.s.Exports {
		n = append(n, e.Name)
	}
	return strings.Join(n, ", ")
}

func (c *conn) flags() uint16 {
	return flagHasFlags | flagReadOnly | flagSendDF | flagCanMultiConn | flagSendCache
}

// option handles one option; done when transmission starts or the
// client aborted.
func (c *conn) option(opt uint32, data []byte) (bool, error) {
	switch opt {
	case optAbort:
		c.reply(opt, repAck, nil)
		return true, nil
	case optExportName:
		ex := c.lookup(string(data))
		if ex == nil {
			return true, fmt.Errorf("the client asked for export %q, which is not served (%s)", data, c.names())
		}
		c.ex = ex
		c.be(uint64(ex.Size))
		c.be(c.flags())
		if !c.noZeroes {
			c.w.Write(make([]byte, 124))
		}
		return true, c.w.Flush()
	case optList:
		if len(data) != 0 {
			return false, c.reply(opt, repErrInvalid, []byte("NBD_OPT_LIST takes no data"))
		}
		for _, e := range c.s.Exports {
			b := binary.BigEndian.AppendUint32(nil, uint32(len(e.Name)))
			b = append(append(b, e.Name...), e.Description...)
			if err := c.reply(opt, repServer, b); err != nil {
				return false, err
			}
		}
		return false, c.reply(opt, repAck, nil)
	case optStartTLS:
		switch {
		case c.s.TLS == nil:
			return false, c.reply(opt, repErrPolicy, []byte("this server was not started with TLS"))
		case c.tls || len(data) != 0:
			return false, c.reply(opt, repErrInvalid, []byte("TLS is already started"))
		}
		if err := c.reply(opt, repAck, nil); err != nil {
			return false, err
		}
		tc := tls.Server(c.c, c.s.TLS)
		if err := tc.Handshake(); err != nil {
			return true, fmt.Errorf("TLS handshake: %w", err)
		}
		c.c, c.tls = tc, true
		c.r, c.w = bufio.NewReader(tc), bufio.NewWriter(tc)
		c.structured, c.meta = false, ""
		return false, nil
	case optStructuredReply:
		if len(data) != 0 {
			return false, c.reply(opt, repErrInvalid, nil)
		}
		c.structured = true
		return false, c.reply(opt, repAck, nil)
	case optListMetaContext, optSetMetaContext:
		return false, c.metaContext(opt, data)
	case optInfo, optGo:
		return c.info(opt, data)
	}
	return false, c.reply(opt, repErrUnsup, nil)
}

// metaContext answers NBD_OPT_LIST/SET_META_CONTEXT: base:allocation is
// the one context served.
func (c *conn) metaContext(opt uint32, data []byte) error {
	if !c.structured {
		return c.reply(opt, repErrInvalid, []byte("negotiate structured replies first"))
	}
	name, rest, ok := str(data)
	if !ok || len(rest) < 4 {
		return c.reply(opt, repErrInvalid, nil)
	}
	if c.lookup(name) == nil {
		return c.reply(opt, repErrUnknown, []byte("no export "+name))
	}
	n := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	match := n == 0 && opt == optListMetaContext // no query lists everything
	for range n {
		var q string
		if q, rest, ok = str(rest); !ok {
			return c.reply(opt, repErrInvalid, nil)
		}
		if q == baseAllocation || (opt == optListMetaContext && q == "base:") {
			match = true
		}
	}
	if opt == optSetMetaContext {
		c.meta = ""
		if match {
			c.meta = name
		}
	}
	if match {
		id := uint32(0) // a list's ids are reserved: zero
		if opt == optSetMetaContext {
			id = baseAllocationContext
		}
		b := append(binary.BigEndian.AppendUint32(nil, id), baseAllocation...)
		if err := c.reply(opt, repMetaContext, b); err != nil {
			return err
		}
	}
	return c.reply(opt, repAck, nil)
}

// info answers NBD_OPT_INFO and NBD_OPT_GO.
func (c *conn) info(opt uint32, data []byte) (bool, error) {
	name, rest, ok := str(data)
	if !ok || len(rest) < 2 {
		return false, c.reply(opt, repErrInvalid, nil)
	}
	ex := c.lookup(name)
	if ex == nil {
		msg := fmt.Sprintf("there is no export %q; this server exports: %s", name, c.names())
		if name == "" {
			msg = "name an export: this server exports " + c.names()
		}
		return false, c.reply(opt, repErrUnknown, []byte(msg))
	}
	n := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	want := map[uint16]bool{}
	for i := 0; i < n && len(rest) >= 2; i++ {
		want[binary.BigEndian.Uint16(rest)] = true
		rest = rest[2:]
	}
	b := binary.BigEndian.AppendUint16(nil, infoExport)
	b = binary.BigEndian.AppendUint64(b, uint64(ex.Size))
	b = binary.BigEndian.AppendUint16(b, c.flags())
	if err := c.reply(opt, repInfo, b); err != nil {
		return false, err
	}
	b = binary.BigEndian.AppendUint16(nil, infoBlockSize)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint32(b, 4096)
	b = binary.BigEndian.AppendUint32(b, MaxRequest)
	if err := c.reply(opt, repInfo, b); err != nil {
		return false, err
	}
	if want[infoName] {
		if err := c.reply(opt, repInfo, append(binary.BigEndian.AppendUint16(nil, infoName), ex.Name...)); err != nil {
			return false, err
		}
	}
	if want[infoDescription] && ex.Description != "" {
		if err := c.reply(opt, repInfo, append(binary.BigEndian.AppendUint16(nil, infoDescription), ex.Description...)); err != nil {
			return false, err
		}
	}
	if err := c.reply(opt, repAck, nil); err != nil {
		return false, err
	}
	if opt == optGo {
		c.ex = ex
		if c.meta != ex.Name {
			c.meta = ""
		}
		return true, nil
	}
	return false, nil
}

// request is one transmission request.
type request struct {
	Magic  uint32
	Flags  uint16
	Type   uint16
	Handle uint64
	Offset uint64
	Len    uint32
}

// transmit serves requests until the client disconnects; reads are
// served concurrently, their replies written one at a time.
func (c *conn) transmit(ctx context.Context) error {
	var wmu sync.Mutex
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, inFlight)
	send := func(f func() error) error {
		wmu.Lock()
		defer wmu.Unlock()
		if err := f(); err != nil {
			return err
		}
		return c.w.Flush()
	}
	for {
		var rq request
		if err := binary.Read(c.r, binary.BigEndian, &rq); err != nil {
			return err
		}
		if rq.Magic != requestMagic {
			return errors.New("bad request magic")
		}
		switch rq.Type {
		case cmdDisc:
			return nil
		case cmdWrite:
			if _, err := io.CopyN(io.Discard, c.r, int64(rq.Len)); err != nil {
				return err
			}
			if err := send(func() error { return c.fail(rq, errPerm, "this export is read-only (a restore point)") }); err != nil {
				return err
			}
		case cmdTrim, cmdWriteZeroes:
			if err := send(func() error { return c.fail(rq, errPerm, "this export is read-only (a restore point)") }); err != nil {
				return err
			}
		case cmdFlush, cmdCache:
			if err := send(func() error { return c.ok(rq) }); err != nil {
				return err
			}
		case cmdRead, cmdBlockStatus:
			if msg := c.check(rq); msg != "" {
				if err := send(func() error { return c.fail(rq, errInval, msg) }); err != nil {
					return err
				}
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return ctx.Err()
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				var err error
				if rq.Type == cmdRead {
					err = c.read(rq, send)
				} else {
					err = c.blockStatus(rq, send)
				}
				if err != nil {
					c.c.Close() // the connection is broken: end the loop too
				}
			}()
		default:
			if err := send(func() error { return c.fail(rq, errInval, fmt.Sprintf("command %d is not supported", rq.Type)) }); err != nil {
				return err
			}
		}
	}
}

// check says why a read or block status request is invalid ("" when
// it is not).
func (c *conn) check(rq request) string {
	switch {
	case rq.Len == 0:
		return "a request of 0 bytes"
	case rq.Len > MaxRequest && rq.Type == cmdRead: // a block status may ask for more: its reply is small
		return fmt.Sprintf("a read of %d bytes, more than the %d this server serves at once", rq.Len, MaxRequest)
	case rq.Offset > uint64(c.ex.Size) || uint64(rq.Len) > uint64(c.ex.Size)-rq.Offset:
		return fmt.Sprintf("bytes %d to %d lie past the end of the export (%d bytes)", rq.Offset, rq.Offset+uint64(rq.Len)-1, c.ex.Size)
	case rq.Type == cmdBlockStatus && c.meta != c.ex.Name:
		return "block status without base:allocation negotiated (NBD_OPT_SET_META_CONTEXT)"
	}
	return ""
}

func (c *conn) ok(rq request) error {
	if c.structured {
		return c.chunk(rq, replyFlagDone, replyTypeNone, nil)
	}
	return c.simple(rq, 0)
}

func (c *conn) simple(rq request, errno uint32) error {
	c.be(uint32(simpleMagic))
	c.be(errno)
	return c.be(rq.Handle)
}

func (c *conn) chunk(rq request, flags, typ uint16, payload []byte) error {
	c.be(uint32(structMagic))
	c.be(flags)
	c.be(typ)
	c.be(rq.Handle)
	c.be(uint32(len(payload)))
	_, err := c.w.Write(payload)
	return err
}

// fail replies an error: with structured replies, an error chunk whose
// message the client can show (at an offset when there is one).
func (c *conn) fail(rq request, errno uint32, msg string) error {
	if !c.structured {
		return c.simple(rq, errno)
	}
	if len(msg) > 4096 {
		msg = msg[:4096]
	}
	b := binary.BigEndian.AppendUint32(nil, errno)
	b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
	return c.chunk(rq, replyFlagDone, replyTypeError, append(b, msg...))
}

// failAt replies an error at an offset of a read.
func (c *conn) failAt(rq request, off int64, msg string) error {
	if !c.structured {
		return c.simple(rq, errIO)
	}
	if len(msg) > 4096 {
		msg = msg[:4096]
	}
	b := binary.BigEndian.AppendUint32(nil, errIO)
	b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
	b = binary.BigEndian.AppendUint64(append(b, msg...), uint64(off))
	return c.chunk(rq, replyFlagDone, replyTypeErrorOffset, b)
}

// extents returns the map of [off, off+n): everything data without Map.
func (c *conn) extents(off, n int64) ([]Extent, error) {
	if c.ex.Map == nil {
		return []Extent{{Offset: off, Len: n}}, nil
	}
	return c.ex.Map(off, n)
}

// read serves NBD_CMD_READ: with structured replies, zero extents as
// holes and data as data chunks (one chunk when the client asks not to
// fragment); a failure as an error at its offset.
func (c *conn) read(rq request, send func(func() error) error) error {
	off, n := int64(rq.Offset), int64(rq.Len)
	var ext []Extent
	var err error
	if c.structured && rq.Flags&cmdFlagDF == 0 {
		ext, err = c.extents(off, n)
	}
	if err != nil || ext == nil {
		ext = []Extent{{Offset: off, Len: n}} // read it all; an error shows there
	}
	if last := ext[len(ext)-1]; last.Offset+last.Len < off+n {
		// a map may end early (what it knows now): read the rest
		ext = append(ext, Extent{Offset: last.Offset + last.Len, Len: off + n - last.Offset - last.Len})
	}
	buf := getBuf(n)
	defer putBuf(buf)
	for i, e := range ext {
		last := i == len(ext)-1
		if e.Zero {
			p := binary.BigEndian.AppendUint64(nil, uint64(e.Offset))
			p = binary.BigEndian.AppendUint32(p, uint32(e.Len))
			flags := uint16(0)
			if last {
				flags = replyFlagDone
			}
			if err := send(func() error { return c.chunk(rq, flags, replyTypeOffsetHole, p) }); err != nil {
				return err
			}
			continue
		}
		b := buf[e.Offset-off : e.Offset-off+e.Len]
		k, rerr := e2eRead(c.ex.Data, b, e.Offset)
		if rerr != nil {
			at := e.Offset + int64(k)
			c.s.log().Warn("nbd: read failed", "export", c.ex.Name, "offset", at, "error", rerr)
			return send(func() error { return c.failAt(rq, at, rerr.Error()) })
		}
		if !c.structured {
			return send(func() error {
				c.simple(rq, 0)
				_, err := c.w.Write(buf)
				return err
			})
		}
		flags := uint16(0)
		if last {
			flags = replyFlagDone
		}
		if err := send(func() error {
			c.be(uint32(structMagic))
			c.be(flags)
			c.be(uint16(replyTypeOffsetData))
			c.be(rq.Handle)
			c.be(uint32(8 + len(b)))
			c.be(uint64(e.Offset))
			_, err := c.w.Write(b)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// bufs keeps read buffers for the next reads, by size class (powers of
// two from 64 KiB to MaxRequest): allocating and zeroing one per request
// cost as much as copying it.
var bufs [10]sync.Pool

func bufClass(n int64) int {
	c := 0
	for int64(64<<10)<<c < n {
		c++
	}
	return c
}

func getBuf(n int64) []byte {
	c := bufClass(n)
	if b, ok := bufs[c].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, int64(64<<10)<<c)
}

func putBuf(b []byte) {
	b = b[:cap(b)]
	bufs[bufClass(int64(len(b)))].Put(&b)
}

// e2eRead reads len(p) bytes at off; io.EOF at the very end is no error.
func e2eRead(r io.ReaderAt, p []byte, off int64) (int, error) {
	n, err := r.ReadAt(p, off)
	if n == len(p) && err == io.EOF {
		err = nil
	}
	if err == nil && n < len(p) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// maxDescriptors caps the extents of one block status reply.
const maxDescriptors = 4096

// blockStatus serves NBD_CMD_BLOCK_STATUS for base:allocation.
func (c *conn) blockStatus(rq request, send func(func() error) error) error {
	off, n := int64(rq.Offset), int64(rq.Len)
	ext, err := c.extents(off, n)
	if err != nil {
		var at int64 = off
		if len(ext) > 0 {
			at = ext[len(ext)-1].Offset + ext[len(ext)-1].Len
		}
		if len(ext) == 0 {
			c.s.log().Warn("nbd: block status failed", "export", c.ex.Name, "offset", at, "error", err)
			return send(func() error { return c.fail(rq, errIO, err.Error()) })
		}
	}
	sort.Slice(ext, func(i, j int) bool { return ext[i].Offset < ext[j].Offset })
	if rq.Flags&cmdFlagReqOne != 0 {
		ext = ext[:1]
	}
	ext = ext[:min(len(ext), maxDescriptors)]
	p := binary.BigEndian.AppendUint32(nil, baseAllocationContext)
	for _, e := range ext {
		flags := uint32(0)
		if e.Zero {
			flags = stateHole | stateZero
		}
		p = binary.BigEndian.AppendUint32(p, uint32(e.Len))
		p = binary.BigEndian.AppendUint32(p, flags)
	}
	return send(func() error { return c.chunk(rq, replyFlagDone, replyTypeBlockStatus, p) })
}
