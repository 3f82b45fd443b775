package faultmatrix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// cycle is the hot-backup cycle of the book's Code Listing 7.1.
const cycle = `
local v = require("vm").open(arg.vm)
v:add_redo(arg.disk)
v:export(arg.disk, arg.dest, {credentials = arg.cred})
v:add_redo(arg.disk)
v:commit(arg.disk, 1, 0, 1)
v:commit(arg.disk, 0, 0, 1)
`

// exportForever freezes the disk and exports it again and again, so a
// timeout or a signal strikes in the middle of an export.
const exportForever = `
local v = require("vm").open(arg.vm)
v:add_redo(arg.disk)
print("frozen")
for i = 1, 100000 do v:export(arg.disk, arg.dest, {name = "copy" .. i}) end
`

// Targets a cell exports to.
const (
	targetFile     = "file"      // file:// on a temporary folder
	targetFileFull = "file-full" // file:// on a tmpfs too small for the disk
	targetSFTP     = "sftp"      // sftp:// to OpenSSH sshd
	targetSFTPFull = "sftp-full" // sftp:// to sshd, into a tmpfs too small for the disk
	targetSFTPBad  = "sftp-bad"  // sftp:// to sshd with a wrong password
)

// cell is one fault of the matrix.
type cell struct {
	name   string // a sentence: the fault and what vmlua does about it
	big    bool   // on the shared VM with the large disk (server-kill cells)
	opts   vsim.Options
	target string
	script string
	// arm injects the fault before the run.
	arm func(f *fx)
	// onLog and onProgress strike during an in-process run.
	onLog      func(f *fx, msg string, attrs map[string]any)
	onProgress func(f *fx, done, total int64)
	timeout    time.Duration
	// process runs 'vmlua run' as a child process and returns its exit
	// error; nil means the script runs in this process.
	process func(f *fx) error

	wantOK   bool     // the run succeeds despite the fault (vmlua recovered)
	wantCode string   // the error's code (in-process) or the exit status (process)
	wantIn   []string // the one-line error message names these ("$vm", "$disk" expand)
	wantLogs []string // log messages the run must have written
}

// killAt kills the cell's sshd when the export reaches frac of the disk.
func killAt(frac float64) func(f *fx, done, total int64) {
	var once sync.Once
	return func(f *fx, done, total int64) {
		if total > 0 && float64(done) >= frac*float64(total) {
			once.Do(f.sshd.Kill)
		}
	}
}

func matrix() []cell {
	return []cell{
		{
			name: "a run without a fault exports the frozen disk and leaves no snapshot", target: targetFile, script: cycle,
			wantOK: true,
		},
		{
			name: "CreateSnapshot failing makes add_redo fail and leaves nothing behind", target: targetFile, script: cycle,
			arm: func(f *fx) {
				f.Sim.AddFaultRule(&simulator.FaultInjectionRule{MethodName: "CreateSnapshot_Task", ObjectType: "VirtualMachine", ObjectName: f.vm,
					FaultType: simulator.FaultTypeInsufficientResourcesFault, Probability: 1, Enabled: true})
			},
			wantCode: runtime.CodeVSphere, wantIn: []string{"$vm", "$disk", "injected"},
		},
		{
			name: "a CreateSnapshot task failing after it made the snapshot leaves no snapshot", target: targetFile, script: cycle,
			arm: func(f *fx) {
				f.Sim.InjectTaskFault(vsim.TaskFault{Method: "CreateSnapshot_Task", VM: f.vm, Point: vsim.PointEnd, Fault: &types.InsufficientDisks{}})
			},
			wantCode: runtime.CodeVSphere, wantIn: []string{"$vm", "$disk", "insufficient disks"},
		},
		{
			name: "RemoveSnapshot failing once during commit is retried and the run succeeds", target: targetFile, script: cycle,
			arm: func(f *fx) {
				f.Sim.AddFaultRule(&simulator.FaultInjectionRule{MethodName: "RemoveSnapshot_Task", ObjectType: "*", ObjectName: "*",
					FaultType: simulator.FaultTypeResourceInUse, Probability: 1, Enabled: true, MaxCount: 1})
			},
			wantOK: true, wantLogs: []string{"removing a snapshot failed, retrying"},
		},
		{
			name: "RemoveSnapshot failing once during cleanup is retried and the REDO is committed", target: targetFile,
			script: `local v = require("vm").open(arg.vm); v:add_redo(arg.disk); error("policy check failed after add_redo")`,
			arm: func(f *fx) {
				f.Sim.AddFaultRule(&simulator.FaultInjectionRule{MethodName: "RemoveSnapshot_Task", ObjectType: "*", ObjectName: "*",
					FaultType: simulator.FaultTypeResourceInUse, Probability: 1, Enabled: true, MaxCount: 1})
			},
			wantCode: runtime.CodeError, wantIn: []string{"policy check failed after add_redo"},
			wantLogs: []string{"the script ended with a REDO log still open; committing it", "removing a snapshot failed, retrying"},
		},
		{
			name: "a fault in the middle of the RemoveSnapshot merge is recovered by consolidating the disks", target: targetFile, script: cycle,
			arm: func(f *fx) {
				f.Sim.InjectTaskFault(vsim.TaskFault{Method: "RemoveSnapshot_Task", VM: f.vm, Point: vsim.PointMerge})
			},
			wantOK: true, wantLogs: []string{"removing a snapshot failed, retrying"},
		},
		{
			name: "the vSphere session dropping mid-export is survived by logging in again", target: targetFile, script: cycle,
			onProgress: func() func(f *fx, done, total int64) {
				var once sync.Once
				return func(f *fx, done, total int64) {
					if done >= total/2 {
						once.Do(func() {
							if n, err := f.Sim.DropSessions(context.Background()); err != nil || n == 0 {
								f.t.Errorf("DropSessions: %d, %v", n, err)
							}
						})
					}
				}
			}(),
			wantOK: true,
		},
		{
			name: "the SFTP server killed at 10 percent of the disk fails the export and leaves no file under its final name", big: true, target: targetSFTP, script: cycle,
			onProgress: killAt(0.10), wantCode: runtime.CodeTransport, wantIn: []string{"$vm", "$disk", "export"},
		},
		{
			name: "the SFTP server killed at 50 percent of the disk fails the export and leaves no file under its final name", big: true, target: targetSFTP, script: cycle,
			onProgress: killAt(0.50), wantCode: runtime.CodeTransport, wantIn: []string{"$vm", "$disk", "export"},
		},
		{
			name: "the SFTP server killed at 90 percent of the disk fails the export and leaves no file under its final name", big: true, target: targetSFTP, script: cycle,
			onProgress: killAt(0.90), wantCode: runtime.CodeTransport, wantIn: []string{"$vm", "$disk", "export"},
		},
		{
			name: "an SFTP target running out of space fails the export with no space left", target: targetSFTPFull, script: cycle,
			wantCode: runtime.CodeTransport, wantIn: []string{"$vm", "$disk", "space"},
		},
		{
			name: "a file target running out of space fails the export with no space left", target: targetFileFull, script: cycle,
			wantCode: runtime.CodeTransport, wantIn: []string{"$vm", "$disk", "space"},
		},
		{
			name: "wrong SFTP credentials fail the export as an authentication error", target: targetSFTPBad, script: cycle,
			wantCode: runtime.CodeAuth, wantIn: []string{"$vm", "$disk", "auth"},
		},
		{
			name: "a question blocking CreateSnapshot with no policy fails add_redo and commits the earlier REDO", target: targetFile, script: cycle,
			opts:     vsim.Options{MaxRedo: 1},
			wantCode: runtime.CodeQuestion, wantIn: []string{"$vm", "$disk", "question"},
		},
		{
			name: "a script error between add_redo and commit commits the REDO", target: targetFile,
			script: `
				local v = require("vm").open(arg.vm)
				v:add_redo(arg.disk)
				v:export(arg.disk, arg.dest)
				error("the site's policy script failed before commit")
				v:commit(arg.disk, 0, 0, 1)`,
			wantCode: runtime.CodeError, wantIn: []string{"the site's policy script failed before commit"},
			wantLogs: []string{"the script ended with a REDO log still open; committing it"},
		},
		{
			name: "the run timing out in the middle of an export commits the REDO", target: targetFile, script: exportForever,
			timeout:  2 * time.Second,
			wantCode: runtime.CodeTimeout, wantIn: []string{"timeout"},
			wantLogs: []string{"the script ended with a REDO log still open; committing it"},
		},
		{
			name: "SIGTERM in the middle of an export commits the REDO and exits 5", target: targetFile, script: exportForever,
			process: func(f *fx) error {
				p := f.startProcess(exportForever)
				// strike while an export is under way: a temporary file exists
				waitFor(f.t, "an export in progress", func() bool { return len(partials(f.dir)) > 0 })
				return f.finish(p, syscall.SIGTERM)
			},
			wantCode: "5", wantIn: []string{"stopped", "terminated"},
			wantLogs: []string{"the script ended with a REDO log still open; committing it"},
		},
		{
			name: "a host cutting its configuration bundle download short fails the backup and leaves no bundle on the target", target: targetFile,
			script:   `local h = require("host").list()[1]; h:backup_config(arg.dest)`,
			arm:      func(f *fx) { f.Sim.InjectDownloadFault(vsim.DownloadFault{After: 100}) },
			wantCode: runtime.CodeTransport, wantIn: []string{"configuration bundle download was cut", "nothing was kept", "back up again"},
		},
		{
			name: "SIGKILL leaves a REDO that the next run's vm.cleanup_orphans commits", target: targetFile, script: exportForever,
			process: func(f *fx) error {
				p := f.startProcess(exportForever)
				waitFor(f.t, "an export in progress", func() bool { return len(partials(f.dir)) > 0 })
				_ = f.finish(p, syscall.SIGKILL)
				if len(f.vmluaSnapshots()) != 1 {
					f.t.Errorf("after SIGKILL: %v, want the orphaned REDO", f.vmluaSnapshots())
				}
				next := f.startProcess(`local vm = require "vm"; vm.open(arg.vm); print("committed " .. #vm.cleanup_orphans())`)
				err := next.cmd.Wait()
				f.output = next.out.String()
				if err != nil {
					return err
				}
				if !strings.Contains(f.output, "committed 1") {
					f.t.Errorf("the next run did not commit the orphan:\n%s", f.output)
				}
				return nil
			},
			wantOK:   true,
			wantLogs: []string{"committed an orphaned REDO log"},
		},
	}
}

// TestFaultMatrix runs every cell and checks the invariants of
// docs/reliability.md: (1) no vmlua snapshot and no unconsolidated delta
// remains on any VM, (2) every file under a final name on the target is
// complete and holds the frozen content, (4) a failed run's error is one
// line naming the VM, the disk and the cause, (5) the guest's writes are
// all in its disk.
func TestFaultMatrix(t *testing.T) {
	var bigOnce sync.Once
	var big *world
	parent := t
	for _, c := range matrix() {
		t.Run(c.name, func(t *testing.T) {
			f := &fx{t: t, disk: "scsi0:0"}
			if c.big {
				bigOnce.Do(func() {
					big = startWorld(parent, vsim.Options{WriteRate: 100, Inventory: []vsim.VMSpec{{Name: "BIG", Disks: []vsim.DiskSpec{{Size: 128 << 20}}}}})
				})
				f.world, f.vm, f.capacity = big, "BIG", 128<<20
			} else {
				o := c.opts
				o.WriteRate = 200
				o.Inventory = []vsim.VMSpec{{Name: "FM01", Disks: []vsim.DiskSpec{{Size: 8 << 20}}}, {Name: "FM02", Disks: []vsim.DiskSpec{{Size: 1 << 20}}}}
				f.world, f.vm, f.capacity = startWorld(t, o), "FM01", 8<<20
			}
			f.setTarget(c.target)
			if c.arm != nil {
				c.arm(f)
			}
			var err error
			if c.process != nil {
				err = c.process(f)
			} else {
				err = f.runInProcess(c)
			}
			f.reconnect() // a cell may have dropped the test's own session too
			f.checkRun(c, err)
			f.checkNoSnapshot()
			f.checkTarget()
			f.checkGuestWrites()
		})
	}
}

func (f *fx) setTarget(kind string) {
	t := f.t
	switch kind {
	case targetFile:
		f.dir = t.TempDir()
		f.dest = "file://" + f.dir
	case targetFileFull:
		f.dir = testservers.EnsureXferUser(t).SmallDisk(t, 2<<20)
		f.dest = "file://" + f.dir
	case targetSFTP, targetSFTPFull, targetSFTPBad:
		f.sshd = testservers.SSHD(t)
		f.dir = f.sshd.DataDir
		if kind == targetSFTPFull {
			f.dir = f.sshd.User.SmallDisk(t, 2<<20)
		}
		f.dest = f.sshd.URL("sftp", f.dir)
		f.cred = &transports.Credentials{Name: "target", User: f.sshd.User.Name, KeyFile: f.sshd.ClientKeyFile, KnownHosts: f.sshd.KnownHostsFile}
		if kind == targetSFTPBad {
			f.cred = &transports.Credentials{Name: "target", User: f.sshd.User.Name, Password: "not-the-" + f.sshd.User.Password, KnownHosts: f.sshd.KnownHostsFile}
		}
	default:
		t.Fatalf("unknown target %q", kind)
	}
}

// checkRun is invariant (4): the run's outcome and its one-line message.
func (f *fx) checkRun(c cell, err error) {
	t := f.t
	logs := f.output
	if f.recs != nil {
		logs = fmt.Sprint(f.recs.All())
	}
	for _, m := range c.wantLogs {
		if !strings.Contains(logs, m) {
			t.Errorf("the run did not log %q:\n%s", m, logs)
		}
	}
	if c.wantOK {
		if err != nil {
			t.Fatalf("(4) the run failed: %v\n%s", err, logs)
		}
		return
	}
	if err == nil {
		t.Fatalf("(4) the run succeeded despite the fault:\n%s", logs)
	}
	msg := err.Error()
	if c.process != nil {
		if got := fmt.Sprint(exitCode(err)); got != c.wantCode {
			t.Errorf("(4) exit status %s, want %s:\n%s", got, c.wantCode, f.output)
		}
		lines := strings.Split(strings.TrimSpace(f.output), "\n")
		msg = lines[len(lines)-1]
	} else {
		var se *runtime.ScriptError
		if ok := errors.As(err, &se); !ok || se.Code != c.wantCode {
			t.Errorf("(4) error code of %v is not %q", err, c.wantCode)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("(4) the error is not one line: %q", msg)
	}
	for _, w := range c.wantIn {
		w = strings.NewReplacer("$vm", f.vm, "$disk", f.disk).Replace(w)
		if !strings.Contains(strings.ToLower(msg), strings.ToLower(w)) {
			t.Errorf("(4) the error does not name %q: %s", w, msg)
		}
	}
}

// checkNoSnapshot is invariant (1): no vmlua snapshot on any VM, and no
// disk left running on a delta.
func (f *fx) checkNoSnapshot() {
	if s := f.vmluaSnapshots(); len(s) > 0 {
		f.t.Errorf("(1) vmlua snapshots left: %v", s)
	}
	disks, err := f.Sim.Disks(f.vm)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, d := range disks {
		if len(d.Chain) != 1 {
			f.t.Errorf("(1) disk %s still runs on a delta: %v", d.ID, d.Chain)
		}
	}
	var m mo.VirtualMachine
	v := f.vmObj(f.vm)
	if err := v.Properties(context.Background(), v.Reference(), []string{"runtime"}, &m); err != nil {
		f.t.Fatal(err)
	}
	if m.Runtime.ConsolidationNeeded {
		f.t.Errorf("(1) VM %s needs consolidation", f.vm)
	}
}

// checkTarget is invariant (2): every file under a final name is complete
// and, when the run's freeze is known, holds the disk as frozen.
func (f *fx) checkTarget() {
	t := f.t
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		t.Fatalf("(2) read the target: %v", err)
	}
	f.mu.Lock()
	seq, frozen := f.freezeSeq, f.frozen
	f.mu.Unlock()
	var want string
	for _, e := range ents {
		name := e.Name()
		if !strings.Contains(name, ".vmlua-") && strings.HasPrefix(name, "configBundle-") && strings.HasSuffix(name, ".tgz") {
			f.checkBundle(filepath.Join(f.dir, name))
		}
		if strings.Contains(name, ".vmlua-") || !strings.HasSuffix(name, "-flat.vmdk") {
			continue
		}
		p := filepath.Join(f.dir, name)
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() != f.capacity {
			t.Errorf("(2) %s under its final name has %d bytes, the disk %d", name, st.Size(), f.capacity)
			continue
		}
		if frozen {
			if want == "" {
				r, size, err := f.Sim.ExpectedContent(f.vm, f.disk, seq)
				if err != nil {
					t.Fatal(err)
				}
				want = simtest.ShaOf(t, r, size)
			}
			if simtest.FileSHA(t, p) != want {
				t.Errorf("(2) %s is not the disk as frozen (write %d)", name, seq)
			}
		}
		if _, err := os.Stat(strings.TrimSuffix(p, "-flat.vmdk") + ".vmdk"); err != nil {
			t.Errorf("(2) %s has no descriptor", name)
		}
	}
}

// checkGuestWrites is invariant (5): after consolidation the disk's base
// holds every byte the guest wrote.
func (f *fx) checkGuestWrites() {
	t := f.t
	if err := f.Sim.PauseGuest(f.vm); err != nil {
		t.Fatal(err)
	}
	defer f.Sim.ResumeGuest(f.vm)
	seq, err := f.Sim.WriteSeq(f.vm)
	if err != nil {
		t.Fatal(err)
	}
	disks, err := f.Sim.Disks(f.vm)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range disks {
		want, size, err := f.Sim.ExpectedContent(f.vm, d.ID, seq)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.DiskSHA(f.t, d.Chain[0]); got != simtest.ShaOf(t, want, size) {
			t.Errorf("(5) disk %s's base does not hold the guest's %d writes", d.ID, seq)
		}
	}
}

func partials(dir string) []string {
	var out []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".vmlua-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// checkBundle is invariant (2) for a host configuration bundle: one under
// its final name has its sidecar, and matches its size and sha256.
func (f *fx) checkBundle(p string) {
	t := f.t
	var m struct {
		Bytes  int64  `json:"bytes"`
		SHA256 string `json:"sha256"`
	}
	b, err := os.ReadFile(strings.TrimSuffix(p, ".tgz") + ".json")
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		t.Errorf("(2) %s under its final name has no readable sidecar: %v", filepath.Base(p), err)
		return
	}
	if st, err := os.Stat(p); err != nil || st.Size() != m.Bytes || simtest.FileSHA(t, p) != m.SHA256 {
		t.Errorf("(2) %s under its final name does not match its sidecar", filepath.Base(p))
	}
}
