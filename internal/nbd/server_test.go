package nbd

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/testservers"
)

// disk is a test export: data with zero areas, and optionally a damaged
// range that fails to read.
type disk struct {
	b       []byte
	zeros   []Extent
	badFrom int64 // reads at or past it fail (0: none)
}

func newDisk(size int64) *disk {
	r := rand.New(rand.NewPCG(1, 2))
	d := &disk{b: make([]byte, size)}
	for off := int64(0); off < size; off += 64 << 10 {
		if (off/(64<<10))%3 == 2 {
			d.zeros = append(d.zeros, Extent{Offset: off, Len: min(64<<10, size-off), Zero: true})
			continue
		}
		for i := off; i < min(off+64<<10, size); i++ {
			d.b[i] = byte(r.Uint32()) | 1
		}
	}
	return d
}

func (d *disk) ReadAt(p []byte, off int64) (int, error) {
	if d.badFrom > 0 && off+int64(len(p)) > d.badFrom {
		n := max(0, int(d.badFrom-off))
		copy(p[:n], d.b[off:])
		return n, fmt.Errorf("image byte %d: damaged", max(off, d.badFrom))
	}
	n := copy(p, d.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (d *disk) Map(off, length int64) ([]Extent, error) {
	var out []Extent
	end := off + length
	for at := off; at < end; {
		blk := at / (64 << 10)
		e := Extent{Offset: at, Len: min((blk+1)*(64<<10), end) - at, Zero: blk%3 == 2}
		if n := len(out); n > 0 && out[n-1].Zero == e.Zero {
			out[n-1].Len += e.Len
		} else {
			out = append(out, e)
		}
		at += e.Len
	}
	return out, nil
}

// serve starts a server of exports on a loopback port and returns its
// address.
func serve(t testing.TB, s *Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// tool finds a client program or fails the test saying what to install.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: install Debian's %s (.ci/install-deps does)", name, pkg)
	}
	return p
}

func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// pattern is a big export computed, not stored: data in two 1 MiB
// blocks of three, zeros in the third.
type pattern struct{ size int64 }

func (p pattern) zero(off int64) bool { return (off>>20)%3 == 2 }

func (p pattern) ReadAt(b []byte, off int64) (int, error) {
	for i := range b {
		if o := off + int64(i); !p.zero(o) {
			b[i] = byte(o*7 + 1)
		} else {
			b[i] = 0
		}
	}
	return len(b), nil
}

func (p pattern) Map(off, length int64) ([]Extent, error) {
	var out []Extent
	for at := off; at < off+length; {
		e := Extent{Offset: at, Len: min((at>>20+1)<<20, off+length) - at, Zero: p.zero(at)}
		if n := len(out); n > 0 && out[n-1].Zero == e.Zero {
			out[n-1].Len += e.Len
		} else {
			out = append(out, e)
		}
		at += e.Len
	}
	return out, nil
}

// firstOnly is a map that tells only its first extent, as a map of what
// is known so far does.
func firstOnly(m func(off, n int64) ([]Extent, error)) func(off, n int64) ([]Extent, error) {
	return func(off, n int64) ([]Extent, error) {
		ext, err := m(off, n)
		return ext[:1], err
	}
}

func exports(d1, d2 *disk) []Export {
	return []Export{
		{Name: "scsi0:0", Description: "disk one", Size: int64(len(d1.b)), Data: d1, Map: d1.Map},
		{Name: "scsi0:1", Size: int64(len(d2.b)), Data: d2, Map: d2.Map},
		{Name: "big", Size: 3 * MaxRequest / 2, Data: pattern{3 * MaxRequest / 2}, Map: firstOnly(pattern{3 * MaxRequest / 2}.Map)},
	}
}

func TestRealClientsReadTheExportsByteExact(t *testing.T) {
	qemuImg := tool(t, "qemu-img", "qemu-utils")
	nbdinfo := tool(t, "nbdinfo", "libnbd-bin")
	nbdcopy := tool(t, "nbdcopy", "libnbd-bin")
	d1, d2 := newDisk(3<<20+4096), newDisk(1<<20)
	addr := serve(t, &Server{Exports: exports(d1, d2)})
	dir := t.TempDir()

	t.Run("nbdinfo lists the exports", func(t *testing.T) {
		out, err := run(t, nbdinfo, "--list", "nbd://"+addr)
		if err != nil || !strings.Contains(out, "scsi0:0") || !strings.Contains(out, "scsi0:1") || !strings.Contains(out, "is_read_only: true") {
			t.Fatalf("nbdinfo --list: %v\n%s", err, out)
		}
	})
	for _, c := range []struct {
		name string
		d    *disk
	}{{"scsi0:0", d1}, {"scsi0:1", d2}} {
		uri := "nbd://" + addr + "/" + c.name
		t.Run("qemu-img convert "+c.name, func(t *testing.T) {
			out := filepath.Join(dir, "q.raw")
			if o, err := run(t, qemuImg, "convert", "-f", "raw", "-O", "raw", uri, out); err != nil {
				t.Fatalf("qemu-img convert: %v\n%s", err, o)
			}
			if b, _ := os.ReadFile(out); !bytes.Equal(b, c.d.b) {
				t.Fatal("qemu-img read other bytes than the export's")
			}
		})
		t.Run("nbdcopy "+c.name, func(t *testing.T) {
			out := filepath.Join(dir, "c.raw")
			if o, err := run(t, nbdcopy, uri, out); err != nil {
				t.Fatalf("nbdcopy: %v\n%s", err, o)
			}
			if b, _ := os.ReadFile(out); !bytes.Equal(b, c.d.b) {
				t.Fatal("nbdcopy read other bytes than the export's")
			}
		})
	}
	t.Run("an export larger than the largest request copies whole", func(t *testing.T) {
		// block status asks for more than MaxRequest at once; its map
		// tells one extent at a time
		out := filepath.Join(dir, "big.raw")
		if o, err := run(t, nbdcopy, "nbd://"+addr+"/big", out); err != nil {
			t.Fatalf("nbdcopy: %v\n%s", err, o)
		}
		f, _ := os.Open(out)
		defer f.Close()
		p := pattern{3 * MaxRequest / 2}
		got, want := make([]byte, 1<<20), make([]byte, 1<<20)
		for off := int64(0); off < p.size; off += 1 << 20 {
			f.ReadAt(got, off)
			p.ReadAt(want, off)
			if !bytes.Equal(got, want) {
				t.Fatalf("nbdcopy of the big export differs at %d", off)
			}
		}
	})
	t.Run("nbdinfo --map shows the zero areas", func(t *testing.T) {
		out, err := run(t, nbdinfo, "--map", "nbd://"+addr+"/scsi0:1")
		if err != nil {
			t.Fatalf("nbdinfo --map: %v\n%s", err, out)
		}
		var got []Extent
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var off, n int64
			var typ int
			if _, err := fmt.Sscan(line, &off, &n, &typ); err != nil {
				t.Fatalf("nbdinfo --map line %q: %v", line, err)
			}
			got = append(got, Extent{Offset: off, Len: n, Zero: typ == 3})
		}
		want, _ := d2.Map(0, int64(len(d2.b)))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("nbdinfo --map:\n%s\nwant %v", out, want)
		}
	})
}

func TestAFailedReadIsAnIOErrorForTheClient(t *testing.T) {
	qemuImg := tool(t, "qemu-img", "qemu-utils")
	nbdcopy := tool(t, "nbdcopy", "libnbd-bin")
	d := newDisk(2 << 20)
	d.badFrom = 1<<20 + 4096
	addr := serve(t, &Server{Exports: []Export{{Name: "d", Size: int64(len(d.b)), Data: d, Map: d.Map}}})
	out, err := run(t, qemuImg, "convert", "-f", "raw", "-O", "raw", "nbd://"+addr+"/d", filepath.Join(t.TempDir(), "x.raw"))
	if err == nil || !strings.Contains(out, "Input/output error") {
		t.Fatalf("qemu-img convert of a damaged export: %v\n%s", err, out)
	}
	out, err = run(t, nbdcopy, "nbd://"+addr+"/d", filepath.Join(t.TempDir(), "y.raw"))
	if err == nil || !strings.Contains(out, "Input/output error") {
		t.Fatalf("nbdcopy of a damaged export: %v\n%s", err, out)
	}
}

func TestTLSIsRequiredWhenConfiguredAndLibnbdSpeaksIt(t *testing.T) {
	nbdinfo := tool(t, "nbdinfo", "libnbd-bin")
	qemuImg := tool(t, "qemu-img", "qemu-utils")
	dir := t.TempDir()
	certFile, keyFile := testservers.SelfSignedCert(t, dir)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	os.Link(certFile, filepath.Join(dir, "ca-cert.pem"))
	d := newDisk(1 << 20)
	addr := serve(t, &Server{Exports: []Export{{Name: "d", Size: int64(len(d.b)), Data: d, Map: d.Map}}, TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})

	out, err := run(t, nbdinfo, "nbd://"+addr+"/d")
	if err == nil {
		t.Fatalf("nbdinfo without TLS got an answer:\n%s", out)
	}
	out, err = run(t, nbdinfo, "--map", "nbds://"+addr+"/d?tls-certificates="+dir)
	if err != nil || !strings.Contains(out, "hole,zero") {
		t.Fatalf("nbdinfo over TLS: %v\n%s", err, out)
	}
	raw := filepath.Join(t.TempDir(), "t.raw")
	// qemu-img speaks TLS through its object syntax
	spec := fmt.Sprintf("driver=nbd,host=127.0.0.1,port=%s,export=d,tls-creds=tls0", strings.Split(addr, ":")[1])
	if o, err := run(t, qemuImg, "convert", "--object", "tls-creds-x509,id=tls0,endpoint=client,dir="+dir, "--image-opts", spec, "-O", "raw", raw); err != nil {
		t.Fatalf("qemu-img over TLS: %v\n%s", err, o)
	}
	if b, _ := os.ReadFile(raw); !bytes.Equal(b, d.b) {
		t.Fatal("qemu-img over TLS read other bytes")
	}
}

// client is a minimal NBD client for what the real ones do not show:
// the replies to writes and to unknown exports.
type client struct {
	t *testing.T
	c net.Conn
}

func dial(t *testing.T, addr string) *client {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var hello struct {
		Magic, Opt uint64
		Flags      uint16
	}
	binary.Read(c, binary.BigEndian, &hello)
	if hello.Magic != nbdMagic || hello.Opt != optMagic || hello.Flags&flagFixedNewstyle == 0 {
		t.Fatalf("handshake %+v", hello)
	}
	binary.Write(c, binary.BigEndian, uint32(flagCFixedNewstyle|flagCNoZeroes))
	return &client{t, c}
}

// option sends an option and returns the type and data of each reply
// until a final one.
func (cl *client) option(opt uint32, data []byte) (types []uint32, datas []string) {
	binary.Write(cl.c, binary.BigEndian, uint64(optMagic))
	binary.Write(cl.c, binary.BigEndian, opt)
	binary.Write(cl.c, binary.BigEndian, uint32(len(data)))
	cl.c.Write(data)
	for {
		var h struct {
			Magic    uint64
			Opt, Typ uint32
			Len      uint32
		}
		if err := binary.Read(cl.c, binary.BigEndian, &h); err != nil {
			cl.t.Fatalf("option %d: %v", opt, err)
		}
		b := make([]byte, h.Len)
		io.ReadFull(cl.c, b)
		types, datas = append(types, h.Typ), append(datas, string(b))
		if h.Typ != repInfo && h.Typ != repServer && h.Typ != repMetaContext {
			return
		}
	}
}

func goData(name string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(name)))
	return binary.BigEndian.AppendUint16(append(b, name...), 0)
}

func (cl *client) request(typ uint16, off uint64, n uint32, payload []byte) {
	binary.Write(cl.c, binary.BigEndian, request{Magic: requestMagic, Type: typ, Handle: 7, Offset: off, Len: n})
	cl.c.Write(payload)
}

func TestWritesAreRefusedAndUnknownExportsNamed(t *testing.T) {
	d := newDisk(1 << 20)
	addr := serve(t, &Server{Exports: []Export{{Name: "a", Size: int64(len(d.b)), Data: d}, {Name: "b", Size: 512, Data: bytes.NewReader(make([]byte, 512))}}})
	t.Run("an unknown export is NBD_REP_ERR_UNKNOWN naming the exports", func(t *testing.T) {
		cl := dial(t, addr)
		typ, data := cl.option(optGo, goData("nope"))
		if typ[0] != repErrUnknown || !strings.Contains(data[0], "a, b") {
			t.Fatalf("GO of an unknown export: %d %q", typ[0], data[0])
		}
		typ, data = cl.option(optGo, goData(""))
		if typ[0] != repErrUnknown || !strings.Contains(data[0], "name an export") {
			t.Fatalf("GO of the default export with two exports: %d %q", typ[0], data[0])
		}
	})
	for _, structured := range []bool{false, true} {
		t.Run(fmt.Sprintf("a write is EPERM and changes nothing (structured %v)", structured), func(t *testing.T) {
			cl := dial(t, addr)
			if structured {
				if typ, _ := cl.option(optStructuredReply, nil); typ[0] != repAck {
					t.Fatalf("structured replies: %d", typ[0])
				}
			}
			if typ, _ := cl.option(optGo, goData("a")); typ[len(typ)-1] != repAck {
				t.Fatalf("GO: %v", typ)
			}
			for _, cmd := range []uint16{cmdWrite, cmdTrim, cmdWriteZeroes} {
				var payload []byte
				if cmd == cmdWrite {
					payload = make([]byte, 4096)
				}
				cl.request(cmd, 0, 4096, payload)
				var errno uint32
				if structured {
					var h struct {
						Magic      uint32
						Flags, Typ uint16
						Handle     uint64
						Len        uint32
						Errno      uint32
					}
					binary.Read(cl.c, binary.BigEndian, &h)
					io.CopyN(io.Discard, cl.c, int64(h.Len-4))
					if h.Magic != structMagic || h.Typ != replyTypeError || h.Flags&replyFlagDone == 0 {
						t.Fatalf("command %d: reply %+v", cmd, h)
					}
					errno = h.Errno
				} else {
					var h struct {
						Magic, Errno uint32
						Handle       uint64
					}
					binary.Read(cl.c, binary.BigEndian, &h)
					errno = h.Errno
				}
				if errno != errPerm {
					t.Fatalf("command %d: errno %d, want EPERM", cmd, errno)
				}
			}
			if d.b[0] == 0 {
				t.Fatal("the export changed")
			}
		})
	}
}

// TestAStructuredReadCoversItsRangeWhenTheMapStopsEarly: a read across
// more than what the map tells at once gets every byte (holes and data
// chunks that cover the range exactly), the last chunk flagged done.
func TestAStructuredReadCoversItsRangeWhenTheMapStopsEarly(t *testing.T) {
	p := pattern{8 << 20}
	addr := serve(t, &Server{Exports: []Export{{Name: "p", Size: p.size, Data: p, Map: firstOnly(p.Map)}}})
	cl := dial(t, addr)
	cl.option(optStructuredReply, nil)
	if typ, _ := cl.option(optGo, goData("p")); typ[len(typ)-1] != repAck {
		t.Fatalf("GO: %v", typ)
	}
	const off, n = 512 << 10, 3 << 20
	cl.request(cmdRead, off, n, nil)
	got := make([]byte, n)
	covered := int64(0)
	for done := false; !done; {
		var h struct {
			Magic      uint32
			Flags, Typ uint16
			Handle     uint64
			Len        uint32
		}
		if err := binary.Read(cl.c, binary.BigEndian, &h); err != nil {
			t.Fatal(err)
		}
		done = h.Flags&replyFlagDone != 0
		payload := make([]byte, h.Len)
		io.ReadFull(cl.c, payload)
		switch h.Typ {
		case replyTypeOffsetData:
			at := int64(binary.BigEndian.Uint64(payload)) - off
			covered += int64(copy(got[at:], payload[8:]))
		case replyTypeOffsetHole:
			covered += int64(binary.BigEndian.Uint32(payload[8:]))
		default:
			t.Fatalf("reply chunk of type %d", h.Typ)
		}
	}
	want := make([]byte, n)
	p.ReadAt(want, off)
	if covered != n || !bytes.Equal(got, want) {
		t.Fatalf("the chunks cover %d of %d bytes, or differ", covered, n)
	}
}
