package vmfs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/transporttest"
	"github.com/vmlua/vmlua/transports/vmfs"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/vim25"
)

// simClient starts a simulator with one small VM and returns a client
// logged in through a loopback TCP proxy, and a function that kills the
// proxy's connections and listener: to the client, the server is gone.
func simClient(tb testing.TB) (*vim25.Client, func()) {
	tb.Helper()
	s, err := vsim.Start(context.Background(), vsim.Options{Inventory: []vsim.VMSpec{{Name: "TINY", Disks: []vsim.DiskSpec{{Size: 1 << 20}}, PoweredOff: true}}})
	if err != nil {
		tb.Fatalf("vsim.Start: %v", err)
	}
	tb.Cleanup(s.Close)
	p := startProxy(tb, s.URL.Host)
	u := *s.URL
	u.Host = p.addr
	c, err := govmomi.NewClient(context.Background(), &u, true)
	if err != nil {
		tb.Fatal(err)
	}
	return c.Client, p.kill
}

// proxy forwards loopback TCP connections to the simulator.
type proxy struct {
	addr  string
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	dead  bool
}

func startProxy(tb testing.TB, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &proxy{addr: ln.Addr().String(), ln: ln}
	tb.Cleanup(p.kill)
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			if p.dead {
				in.Close()
				out.Close()
			}
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	return p
}

func (p *proxy) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dead = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
}

var dirs atomic.Int64

// fresh opens a transport on a new, empty folder of LocalDS_1, by URL.
func fresh(tb testing.TB, c *vim25.Client) transports.Transport {
	tb.Helper()
	raw := fmt.Sprintf("vmfs://LocalDS_1/suite/run-%d", dirs.Add(1))
	tr, err := transports.Open(context.Background(), raw, transports.Options{Env: map[string]any{"vsphere": c}})
	if err != nil {
		tb.Fatalf("Open(%s): %v", raw, err)
	}
	return tr
}

// freshDir makes a new, empty folder of LocalDS_1 and says how to open it.
func freshDir(t *testing.T, c *vim25.Client) transporttest.Fresh {
	raw := fmt.Sprintf("vmfs://LocalDS_1/suite/run-%d", dirs.Add(1))
	o := transports.Options{Env: map[string]any{"vsphere": c}}
	transporttest.OpenFresh(t, transporttest.Fresh{URL: raw, Options: o}) // makes it
	return transporttest.Fresh{URL: raw, Options: o, NoDir: "a VMFS datastore holds no named pipes"}
}

func TestConformance(t *testing.T) {
	c, stop := simClient(t)
	transporttest.Run(t, transporttest.Target{
		Name:    "vmfs",
		Fresh:   func(t *testing.T) transporttest.Fresh { return freshDir(t, c) },
		Kill:    func(t *testing.T) { stop() },
		BigSize: 24 << 20,
	})
}

// BenchmarkUpload measures a streamed upload to the simulator's datastore
// (VMFS_BENCH_SIZE is not read: 256 MiB keeps it short).
func BenchmarkUpload(b *testing.B) {
	c, _ := simClient(b)
	transporttest.Bench(b, transporttest.Target{Name: "vmfs", NewB: func(b *testing.B) transports.Transport { return fresh(b, c) }}, 256<<20)
}

func TestParseURL(t *testing.T) {
	cases := []struct {
		name, raw, ds, dir, err string
	}{
		{"the host form names the datastore and a folder", "vmfs://LocalDS_1/backups/DB01", "LocalDS_1", "backups/DB01", ""},
		{"the host form may be the datastore's root", "vmfs://LocalDS_1", "LocalDS_1", "", ""},
		{"the host form decodes percent escapes in the path", "vmfs://LocalDS_1/my%20backups/x", "LocalDS_1", "my backups/x", ""},
		{"the bracketed form is vSphere's datastore path", "vmfs://[LocalDS_1] backups/DB01", "LocalDS_1", "backups/DB01", ""},
		{"the bracketed form allows spaces in the datastore's name", "vmfs://[datastore 1] vm backups/DB01", "datastore 1", "vm backups/DB01", ""},
		{"the bracketed form may name only the datastore", "vmfs://[LocalDS_1]", "LocalDS_1", "", ""},
		{"the scheme is case-insensitive in the bracketed form", "VMFS://[LocalDS_1] x", "LocalDS_1", "x", ""},
		{"a slash after the bracket is tolerated", "vmfs://[LocalDS_1]/x/y", "LocalDS_1", "x/y", ""},
		{"climbing out of the datastore is refused", "vmfs://[LocalDS_1] ../other", "", "", "leaves the transport's root"},
		{"climbing out in the host form is refused", "vmfs://LocalDS_1/a/../../x", "", "", "leaves the transport's root"},
		{"an empty datastore name is refused", "vmfs://[] x", "", "", "plain name"},
		{"a user is refused", "vmfs://root@LocalDS_1/x", "", "", "leave the user out"},
		{"a port is refused", "vmfs://LocalDS_1:22/x", "", "", "no port"},
		{"another scheme is refused", "sftp://LocalDS_1/x", "", "", "not a vmfs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds, dir, err := vmfs.ParseURL(tc.raw)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseURL(%q) = %q, %q, %v; want an error with %q", tc.raw, ds, dir, err, tc.err)
				}
				return
			}
			if err != nil || ds != tc.ds || dir != tc.dir {
				t.Fatalf("ParseURL(%q) = %q, %q, %v; want %q, %q", tc.raw, ds, dir, err, tc.ds, tc.dir)
			}
			back := vmfs.FormatURL(ds, dir)
			if ds2, dir2, err := vmfs.ParseURL(back); err != nil || ds2 != ds || dir2 != dir {
				t.Errorf("FormatURL(%q, %q) = %q, which parses as %q, %q, %v", ds, dir, back, ds2, dir2, err)
			}
		})
	}
}

func TestOpenFailsClearly(t *testing.T) {
	c, _ := simClient(t)
	ctx := context.Background()
	cases := []struct {
		name, raw string
		env       map[string]any
		params    map[string]string
		want      string
		is        error
	}{
		{"without a vSphere session it says how to get one", "vmfs://LocalDS_1/x", nil, nil, "open a VM first or give --url", vmfs.ErrNoVSphere},
		{"an unknown datastore is named with the ones that exist", "vmfs://NoSuchDS/x", map[string]any{"vsphere": c}, nil, "LocalDS_0, LocalDS_1", fs.ErrNotExist},
		{"create=false refuses a missing folder", "vmfs://LocalDS_1/not/there", map[string]any{"vsphere": c}, map[string]string{"create": "false"}, "does not exist", nil},
		{"create=false in the URL refuses a missing folder", "vmfs://LocalDS_1/not/there?create=false", map[string]any{"vsphere": c}, nil, "does not exist", nil},
		{"create=false after a bracketed path refuses a missing folder", "vmfs://[LocalDS_1] not/there?create=false", map[string]any{"vsphere": c}, nil, "does not exist", nil},
		{"datacenter= in the URL is the datacenter looked in", "vmfs://LocalDS_1/x?datacenter=NoSuchDC", map[string]any{"vsphere": c}, nil, `datacenter "NoSuchDC"`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := transports.Open(ctx, tc.raw, transports.Options{Env: tc.env, Params: tc.params})
			if err == nil {
				tr.Close()
				t.Fatalf("Open(%s) succeeded", tc.raw)
			}
			if !strings.Contains(err.Error(), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("Open(%s) = %v; want %q", tc.raw, err, tc.want)
			}
		})
	}
}

// TestURLOptionsAreRead: every option vmfs registers is read from the
// URL's query, in both URL forms (the shared check of transports/all, which
// has no vSphere).
func TestURLOptionsAreRead(t *testing.T) {
	c, _ := simClient(t)
	for _, base := range []string{"vmfs://LocalDS_1/x", "vmfs://[LocalDS_1] x"} {
		t.Run(base, func(t *testing.T) {
			transporttest.URLParams(t, base, transports.Options{Env: map[string]any{"vsphere": c}})
		})
	}
}

// TestBracketedURLOpens: the scheme's Open, given the URL ParseURL makes
// of vSphere's own "[datastore] path" syntax, reaches the same folder as
// the host form.
func TestBracketedURLOpens(t *testing.T) {
	c, _ := simClient(t)
	ctx := context.Background()
	env := map[string]any{"vsphere": c}
	a, err := transports.Open(ctx, "vmfs://LocalDS_0/shared/dir", transports.Options{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := transports.Upload(ctx, a, "f", strings.NewReader("hello"), transports.UploadOptions{}); err != nil {
		t.Fatal(err)
	}
	// Through the registry, as a script's transport.open reaches it.
	b, err := transports.Open(ctx, "vmfs://[LocalDS_0] shared/dir", transports.Options{Env: env})
	if err != nil {
		t.Fatal(err)
	}
	if got := transports.Redact("vmfs://[LocalDS_0] shared/dir"); got != "vmfs://LocalDS_0/shared/dir" {
		t.Errorf("Redact of the bracketed form = %q", got)
	}
	fi, err := b.Stat(ctx, "f")
	if err != nil || fi.Size != 5 {
		t.Fatalf("Stat(f) through the bracketed form = %+v, %v", fi, err)
	}
	if got, want := b.URL(), "vmfs://LocalDS_0/shared/dir"; got != want {
		t.Errorf("URL() = %q, want %q", got, want)
	}
	if p, _ := b.(*vmfs.Transport).DatastorePath("f"); p != "[LocalDS_0] shared/dir/f" {
		t.Errorf("DatastorePath(f) = %q", p)
	}
}

// TestADotFileUploads: an atomic upload of a dot-file (a backup set's lock
// file) works; its temporary name once held "..", which /folder refuses.
func TestADotFileUploads(t *testing.T) {
	c, _ := simClient(t)
	ctx := context.Background()
	tr, err := transports.Open(ctx, "vmfs://LocalDS_0/dots", transports.Options{Env: map[string]any{"vsphere": c}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := transports.Upload(ctx, tr, ".vmlua-lock", strings.NewReader("token"), transports.UploadOptions{}); err != nil {
		t.Fatalf("upload of a dot-file: %v", err)
	}
	if fi, err := tr.Stat(ctx, ".vmlua-lock"); err != nil || fi.Size != 5 {
		t.Errorf("Stat = %+v, %v", fi, err)
	}
}
