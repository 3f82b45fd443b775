package backup_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup"
	vlog "github.com/vmlua/vmlua/modules/log"
	"github.com/vmlua/vmlua/modules/transport"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	_ "github.com/vmlua/vmlua/transports/file"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const simPassword = "sim-Pa55word-for-tests"

type env struct {
	sim    *vsim.Sim
	client *govmomi.Client
	ep     runtime.Endpoint
	dir    string // a granted file:// destination
}

func startSim(t *testing.T, o vsim.Options) *env { return startSimB(t, o) }

func startSimB(t testing.TB, o vsim.Options) *env {
	t.Helper()
	o.Password = simPassword
	s, err := vsim.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("vsim.Start: %v", err)
	}
	t.Cleanup(s.Close)
	c, err := s.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	u := *s.URL
	u.User = nil
	return &env{sim: s, client: c, dir: t.TempDir(),
		ep: runtime.Endpoint{Name: "sim", URL: u.String(), Username: s.URL.User.Username(), Password: simPassword, Insecure: true}}
}

// records is a slog handler that keeps every record as a map, and calls
// hook synchronously for each (the script waits for it).
type records struct {
	mu   sync.Mutex
	recs []map[string]any
	hook func(msg string, attrs map[string]any)
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"msg": r.Message, "level": r.Level.String()}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.Resolve().Any(); return true })
	if h.hook != nil {
		h.hook(r.Message, m)
	}
	h.mu.Lock()
	h.recs = append(h.recs, m)
	h.mu.Unlock()
	return nil
}
func (h *records) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *records) WithGroup(string) slog.Handler      { return h }

func (h *records) find(msg string) []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]any
	for _, r := range h.recs {
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

func (h *records) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, r := range h.recs {
		j, _ := json.Marshal(r)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

type runOpts struct {
	args    []string
	timeout time.Duration
	hook    func(msg string, attrs map[string]any)
	ctx     context.Context
	mod     func(*runtime.Options)
}

// run executes a Lua script (source, or a file when it ends in .lua)
// against the simulator; dest=file://DIR is granted and passed as arg.dest.
func (e *env) run(t *testing.T, script string, o runOpts) (error, *records) {
	t.Helper()
	recs := &records{hook: o.hook}
	opts := runtime.Options{
		Context: o.ctx, Logger: slog.New(recs),
		Modules:   []*runtime.Module{vlog.Module, transport.Module, vm.Module, backup.Module},
		Timeout:   60 * time.Second,
		Endpoints: map[string]runtime.Endpoint{"sim": e.ep}, DefaultEndpoint: "sim",
		Args: append([]string{"dest=file://" + e.dir}, o.args...),
	}
	if o.timeout > 0 {
		opts.Timeout = o.timeout
	}
	if err := opts.Grants.Allow("file://" + e.dir); err != nil {
		t.Fatal(err)
	}
	if o.mod != nil {
		o.mod(&opts)
	}
	r, err := runtime.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(script, ".lua") && !strings.Contains(script, "\n") {
		return r.ExecFile(script), recs
	}
	return r.ExecString("test.lua", script), recs
}

func (e *env) vmObj(t *testing.T, name string) *object.VirtualMachine {
	t.Helper()
	f := find.NewFinder(e.client.Client)
	dc, err := f.DefaultDatacenter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.SetDatacenter(dc)
	v, err := f.VirtualMachine(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// snapshots returns the names of the VM's snapshots.
func (e *env) snapshots(t *testing.T, name string) []string {
	t.Helper()
	var m mo.VirtualMachine
	if err := e.vmObj(t, name).Properties(context.Background(), e.vmObj(t, name).Reference(), []string{"snapshot"}, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func([]types.VirtualMachineSnapshotTree)
	walk = func(ts []types.VirtualMachineSnapshotTree) {
		for _, s := range ts {
			out = append(out, s.Name)
			walk(s.ChildSnapshotList)
		}
	}
	if m.Snapshot != nil {
		walk(m.Snapshot.RootSnapshotList)
	}
	return out
}

// snapshotRef finds a snapshot of the VM by name.
func (e *env) snapshotRef(t *testing.T, vmName, snap string) (types.ManagedObjectReference, bool) {
	var m mo.VirtualMachine
	v := e.vmObj(t, vmName)
	if err := v.Properties(context.Background(), v.Reference(), []string{"snapshot"}, &m); err != nil || m.Snapshot == nil {
		return types.ManagedObjectReference{}, false
	}
	var found *types.ManagedObjectReference
	var walk func([]types.VirtualMachineSnapshotTree)
	walk = func(ts []types.VirtualMachineSnapshotTree) {
		for _, s := range ts {
			if s.Name == snap {
				ref := s.Snapshot
				found = &ref
			}
			walk(s.ChildSnapshotList)
		}
	}
	walk(m.Snapshot.RootSnapshotList)
	if found == nil {
		return types.ManagedObjectReference{}, false
	}
	return *found, true
}

func shaOf(t *testing.T, r io.ReaderAt, size int64) string {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, 0, size)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func fileSHA(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// diskSHA hashes the current content of a VM disk's base file, read over
// the datastore's HTTP interface (/folder), the way any client would.
func (e *env) diskSHA(t *testing.T, dsPath string) string {
	t.Helper()
	ctx := context.Background()
	var p object.DatastorePath
	if !p.FromString(dsPath) {
		t.Fatalf("bad datastore path %q", dsPath)
	}
	f := find.NewFinder(e.client.Client)
	dc, err := f.DefaultDatacenter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.SetDatacenter(dc)
	ds, err := f.Datastore(ctx, p.Datastore)
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.TrimSuffix(p.Path, ".vmdk") + "-flat.vmdk"
	rc, _, err := ds.Download(ctx, flat, &soap.DefaultDownload)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func partials(t *testing.T, dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".vmlua-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}
