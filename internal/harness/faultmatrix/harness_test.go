package faultmatrix

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/eventually"
	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	_ "github.com/vmlua/vmlua/transports/file"
	_ "github.com/vmlua/vmlua/transports/sftp"
	_ "github.com/vmlua/vmlua/transports/smb"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// world is one simulator with its client; cells may share one (the
// server-kill cells share the VM with the large disk).
type world struct{ *simtest.Env }

func startWorld(t *testing.T, o vsim.Options) *world { return &world{simtest.Start(t, o)} }

// reconnect gives the checks a fresh session.
func (f *fx) reconnect() {
	c, err := f.Sim.Client(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	env := *f.Env
	env.Client = c
	f.world = &world{&env}
}

// fx is one cell's fixture: the VM under test, its disk and the target.
type fx struct {
	t *testing.T
	*world
	vm, disk string
	capacity int64
	dest     string // the target's URL (a folder)
	dir      string // the same folder on the local file system
	cred     *transports.Credentials
	sshd     *testservers.SSHServer
	recs     *simtest.Records

	mu        sync.Mutex
	freezeSeq uint64 // the guest's write count at the run's first freeze
	frozen    bool
	output    string // a process cell's stderr

	local string   // a file:// view of the target's folder, granted and passed as arg["local"] (set cells)
	extra []string // more script arguments
}

// progressHook calls at(done, total) after each chunk of an operation.
type progressHook struct {
	at func(name string, done, total int64)
}

func (p progressHook) Start(name string, total int64) runtime.Tracker {
	return &hookTracker{p: p, name: name, total: total}
}

type hookTracker struct {
	p           progressHook
	name        string
	done, total int64
}

func (h *hookTracker) Add(n int64) {
	h.done += n
	if h.p.at != nil {
		h.p.at(h.name, h.done, h.total)
	}
}
func (h *hookTracker) Done(error) {}

// runInProcess runs a script the way 'vmlua run' does, in this process,
// with the cell's target granted and passed as arg.dest (and arg.cred
// naming its credentials).
func (f *fx) runInProcess(c cell) error {
	t := f.t
	f.recs = &simtest.Records{Hook: func(msg string, a map[string]any) {
		if msg == "add_redo: disk frozen" && a["vm"] == f.vm {
			f.noteFreeze(a["snapshot"].(string))
		}
		if c.onLog != nil {
			c.onLog(f, msg, a)
		}
	}}
	opts := runtime.Options{
		Logger: slog.New(f.recs), Stdout: f.recs.Stdout(),
		Modules:   all.Modules(),
		Timeout:   2 * time.Minute,
		Endpoints: map[string]runtime.Endpoint{"sim": f.Endpoint}, DefaultEndpoint: "sim",
		Args: []string{"dest=" + f.dest, "vm=name:" + f.vm, "disk=" + f.disk},
		Progress: progressHook{at: func(name string, done, total int64) {
			if c.onProgress != nil {
				c.onProgress(f, done, total)
			}
		}},
	}
	if c.timeout > 0 {
		opts.Timeout = c.timeout
	}
	if f.cred != nil {
		opts.Credentials = map[string]transports.Credentials{"target": *f.cred}
		opts.Args = append(opts.Args, "cred=target")
	}
	if err := opts.Grants.Allow(f.dest); err != nil {
		t.Fatal(err)
	}
	if f.local != "" {
		if err := opts.Grants.Allow(f.local); err != nil {
			t.Fatal(err)
		}
		opts.Args = append(opts.Args, "local="+f.local)
	}
	opts.Args = append(opts.Args, f.extra...)
	r, err := runtime.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r.ExecString("cell.lua", c.script)
}

// noteFreeze records the guest's write count at the run's first freeze:
// the content the export must hold.
func (f *fx) noteFreeze(snap string) {
	f.mu.Lock()
	done := f.frozen
	f.mu.Unlock()
	if done {
		return
	}
	ref, ok := f.snapshotRef(snap)
	if !ok {
		f.t.Errorf("snapshot %s not found right after add_redo", snap)
		return
	}
	seq, err := f.Sim.SnapshotSeq(ref)
	if err != nil {
		f.t.Error(err)
		return
	}
	f.mu.Lock()
	if !f.frozen {
		f.freezeSeq, f.frozen = seq, true
	}
	f.mu.Unlock()
}

// process is a 'vmlua run' child process.
type process struct {
	cmd *exec.Cmd
	out *simtest.LockedBuffer
}

// startProcess starts 'vmlua run' on a script against the simulator, the
// cell's target granted and passed as dest=.
func (f *fx) startProcess(script string) *process {
	t := f.t
	p := filepath.Join(t.TempDir(), "cell.lua")
	if err := os.WriteFile(p, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(simtest.Binary(t), "run", "--url", f.Sim.URL.String(), "--insecure", "--allow", f.dest, p,
		"dest="+f.dest, "vm=name:"+f.vm, "disk="+f.disk)
	out := &simtest.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return &process{cmd: cmd, out: out}
}

// waitFor polls until cond holds, bounded only by go test's -timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventually.True(t, what, cond)
}

// finish signals the process and returns its exit error, keeping its
// output for the invariants.
func (f *fx) finish(p *process, sig syscall.Signal) error {
	_ = p.cmd.Process.Signal(sig)
	err := p.cmd.Wait()
	f.output = p.out.String()
	return err
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func (f *fx) vmObj(name string) *object.VirtualMachine {
	f.t.Helper()
	fi := find.NewFinder(f.Client.Client)
	dc, err := fi.DefaultDatacenter(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	fi.SetDatacenter(dc)
	v, err := fi.VirtualMachine(context.Background(), name)
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

func snapshotTree(m mo.VirtualMachine) []types.VirtualMachineSnapshotTree {
	var out []types.VirtualMachineSnapshotTree
	var walk func([]types.VirtualMachineSnapshotTree)
	walk = func(ts []types.VirtualMachineSnapshotTree) {
		for _, s := range ts {
			out = append(out, s)
			walk(s.ChildSnapshotList)
		}
	}
	if m.Snapshot != nil {
		walk(m.Snapshot.RootSnapshotList)
	}
	return out
}

func (f *fx) snapshotRef(name string) (types.ManagedObjectReference, bool) {
	v := f.vmObj(f.vm)
	var m mo.VirtualMachine
	if err := v.Properties(context.Background(), v.Reference(), []string{"snapshot"}, &m); err != nil {
		return types.ManagedObjectReference{}, false
	}
	for _, s := range snapshotTree(m) {
		if s.Name == name {
			return s.Snapshot, true
		}
	}
	return types.ManagedObjectReference{}, false
}

// vmluaSnapshots lists "VM/snapshot" for every vmlua snapshot on any VM.
func (f *fx) vmluaSnapshots() []string {
	ctx := context.Background()
	fi := find.NewFinder(f.Client.Client)
	dc, err := fi.DefaultDatacenter(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	fi.SetDatacenter(dc)
	vms, err := fi.VirtualMachineList(ctx, "*")
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, v := range vms {
		var m mo.VirtualMachine
		if err := v.Properties(ctx, v.Reference(), []string{"name", "snapshot"}, &m); err != nil {
			f.t.Fatal(err)
		}
		for _, s := range snapshotTree(m) {
			if strings.HasPrefix(s.Name, vm.SnapshotPrefix) {
				out = append(out, m.Name+"/"+s.Name)
			}
		}
	}
	return out
}
