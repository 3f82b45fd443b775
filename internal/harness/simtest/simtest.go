package simtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/runtime"
	_ "github.com/vmlua/vmlua/transports/all"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Password is the simulator password the tests use: long and unlike any
// word of the logs, since vmlua redacts configured passwords everywhere.
const Password = "sim-Pa55word-for-tests"

// Env is a running simulator with a granted file:// destination.
type Env struct {
	Sim      *vsim.Sim
	Client   *govmomi.Client
	Endpoint runtime.Endpoint
	Dir      string // granted as file://Dir and passed to scripts as arg.dest
}

// Start starts a simulator for the test and stops it when the test ends.
func Start(t testing.TB, o vsim.Options) *Env {
	t.Helper()
	o.Password = Password
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
	return &Env{Sim: s, Client: c, Dir: t.TempDir(),
		Endpoint: runtime.Endpoint{Name: "sim", URL: u.String(), Username: s.URL.User.Username(), Password: Password, Insecure: true}}
}

// Records is a slog handler that keeps every record as a map, and calls
// Hook synchronously for each (the script waits for it).
//
// It also captures the run's stdout (Stdout): each line the script prints
// is kept as a record {msg=line, source="print"} in order with the logs, so
// that Find, Hook and Printed see printed lines as they saw them when print
// wrote to the log.
type Records struct {
	Hook func(msg string, attrs map[string]any)
	// Results are the rows the script recorded with script.result (set
	// when the run has ended).
	Results []map[string]any
	mu      sync.Mutex
	recs    []map[string]any
}

// Stdout returns a writer for runtime.Options.Stdout that records every
// printed line.
func (h *Records) Stdout() io.Writer { return printWriter{h} }

type printWriter struct{ h *Records }

// Write records one print call (the runtime writes each print as one
// line in one Write).
func (w printWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimSuffix(string(p), "\n"), "\n") {
		m := map[string]any{"msg": line, "level": "INFO", "source": "print"}
		if w.h.Hook != nil {
			w.h.Hook(line, m)
		}
		w.h.mu.Lock()
		w.h.recs = append(w.h.recs, m)
		w.h.mu.Unlock()
	}
	return len(p), nil
}

func (h *Records) Enabled(context.Context, slog.Level) bool { return true }

func (h *Records) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"msg": r.Message, "level": r.Level.String()}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.Resolve().Any(); return true })
	if h.Hook != nil {
		h.Hook(r.Message, m)
	}
	h.mu.Lock()
	h.recs = append(h.recs, m)
	h.mu.Unlock()
	return nil
}

func (h *Records) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *Records) WithGroup(string) slog.Handler      { return h }

// All returns a copy of every record so far.
func (h *Records) All() []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.recs...)
}

// Find returns the records with this message.
func (h *Records) Find(msg string) []map[string]any {
	var out []map[string]any
	for _, r := range h.All() {
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// Messages returns every record's message, in order.
func (h *Records) Messages() []string {
	var out []string
	for _, r := range h.All() {
		out = append(out, r["msg"].(string))
	}
	return out
}

// String renders the records as JSON lines, for failure messages.
func (h *Records) String() string {
	var b strings.Builder
	for _, r := range h.All() {
		j, _ := json.Marshal(r)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// RunOptions tune Run.
type RunOptions struct {
	Args    []string
	Timeout time.Duration // default 30 min: a busy machine makes a run slower, never a failure (go test -timeout bounds a hang)
	Hook    func(msg string, attrs map[string]any)
	Ctx     context.Context
	Modules []*runtime.Module // default all.Modules()
	DryRun  bool
	Mod     func(*runtime.Options)
}

// Run executes a Lua script (source, or a file when it ends in .lua)
// against the simulator; dest=file://DIR is granted and passed as arg.dest.
func (e *Env) Run(t testing.TB, script string, o RunOptions) (error, *Records) {
	t.Helper()
	recs := &Records{Hook: o.Hook}
	mods := o.Modules
	if mods == nil {
		mods = all.Modules()
	}
	opts := runtime.Options{
		Context: o.Ctx, Logger: slog.New(recs), Modules: mods, Timeout: 30 * time.Minute,
		Endpoints: map[string]runtime.Endpoint{"sim": e.Endpoint}, DefaultEndpoint: "sim",
		Args: append([]string{"dest=file://" + e.Dir}, o.Args...), DryRun: o.DryRun,
		HostArgs: []string{"dest"}, Stdout: recs.Stdout(),
	}
	if o.Timeout > 0 {
		opts.Timeout = o.Timeout
	}
	if err := opts.Grants.Allow("file://" + e.Dir); err != nil {
		t.Fatal(err)
	}
	if o.Mod != nil {
		o.Mod(&opts)
	}
	r, err := runtime.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(script, ".lua") && !strings.Contains(script, "\n") {
		err = r.ExecFile(script)
	} else {
		err = r.ExecString("test.lua", script)
	}
	recs.Results = r.Results()
	return err, recs
}

// VMObj finds a VM of the simulator by name.
func (e *Env) VMObj(t testing.TB, name string) *object.VirtualMachine {
	t.Helper()
	return VMOf(t, e.Client, name)
}

// VMOf finds a VM by name in the default datacenter of the vSphere c is
// logged in to (for tests that hold a client, not an Env).
func VMOf(t testing.TB, c *govmomi.Client, name string) *object.VirtualMachine {
	t.Helper()
	f := find.NewFinder(c.Client)
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

func (e *Env) snapshotTree(t testing.TB, name string) []types.VirtualMachineSnapshotTree {
	t.Helper()
	var m mo.VirtualMachine
	v := e.VMObj(t, name)
	if err := v.Properties(context.Background(), v.Reference(), []string{"snapshot"}, &m); err != nil {
		t.Fatal(err)
	}
	if m.Snapshot == nil {
		return nil
	}
	return m.Snapshot.RootSnapshotList
}

// Snapshots returns the names of the VM's snapshots.
func (e *Env) Snapshots(t testing.TB, name string) []string {
	t.Helper()
	var out []string
	var walk func([]types.VirtualMachineSnapshotTree)
	walk = func(ts []types.VirtualMachineSnapshotTree) {
		for _, s := range ts {
			out = append(out, s.Name)
			walk(s.ChildSnapshotList)
		}
	}
	walk(e.snapshotTree(t, name))
	return out
}

// SnapshotRef finds a snapshot of the VM by name.
func (e *Env) SnapshotRef(t testing.TB, vmName, snap string) (types.ManagedObjectReference, bool) {
	t.Helper()
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
	walk(e.snapshotTree(t, vmName))
	if found == nil {
		return types.ManagedObjectReference{}, false
	}
	return *found, true
}

// ShaOf hashes the first size bytes of r.
func ShaOf(t testing.TB, r io.ReaderAt, size int64) string {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, 0, size)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// FileSHA hashes a local file.
func FileSHA(t testing.TB, p string) string {
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

// DiskSHA hashes the current content of a VM disk's base file as the
// datastore holds it. It reads the file on the simulator's side (as the
// ESXi shell would): over /folder the live disk of a running VM is locked,
// as on ESXi.
func (e *Env) DiskSHA(t testing.TB, dsPath string) string {
	t.Helper()
	var p object.DatastorePath
	if !p.FromString(dsPath) {
		t.Fatalf("bad datastore path %q", dsPath)
	}
	p.Path = strings.TrimSuffix(p.Path, ".vmdk") + "-flat.vmdk"
	local, err := e.Sim.DatastoreFile(p.String())
	if err != nil {
		t.Fatal(err)
	}
	return FileSHA(t, local)
}

// Partials lists the temporary upload files (".vmlua-" names) under dir.
func Partials(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".vmlua-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// Code returns a script error's code ("" for nil or a non-script error).
func Code(err error) string {
	var se *runtime.ScriptError
	if errors.As(err, &se) {
		return se.Code
	}
	return ""
}
