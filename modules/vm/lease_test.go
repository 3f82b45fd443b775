package vm_test

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// midRead is a runtime.Progress that calls fn once, from inside the first
// operation whose label starts with prefix, when its first bytes arrive:
// in the middle of reading a disk. The read waits for fn.
type midRead struct {
	prefix string
	fn     func()
	once   sync.Once
}

func (p *midRead) Start(name string, total int64) runtime.Tracker {
	if !strings.HasPrefix(name, p.prefix) {
		return runtime.NopProgress{}.Start(name, total)
	}
	return midReadTracker{p}
}

type midReadTracker struct{ p *midRead }

func (t midReadTracker) Add(int64)  { t.p.once.Do(t.p.fn) }
func (t midReadTracker) Done(error) {}

// vmlua's snapshots of the VM, name -> description.
func vmluaSnapshots(t *testing.T, e *simtest.Env, vmName string) map[string]string {
	t.Helper()
	v := e.VMObj(t, vmName)
	var m mo.VirtualMachine
	if err := v.Properties(context.Background(), v.Reference(), []string{"snapshot"}, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	if m.Snapshot == nil {
		return out
	}
	var walk func([]types.VirtualMachineSnapshotTree)
	walk = func(ts []types.VirtualMachineSnapshotTree) {
		for _, s := range ts {
			if strings.HasPrefix(s.Name, vm.SnapshotPrefix) {
				out[s.Name] = s.Description
			}
			walk(s.ChildSnapshotList)
		}
	}
	walk(m.Snapshot.RootSnapshotList)
	return out
}

// TestAnotherMachinesCleanupLeavesALiveBackupAlone: a second backup host
// running vm.cleanup_orphans while this one's backup reads the VM's disk
// leaves the REDO log alone (its lease runs), says why, and the backup
// completes as a good set. Before leases it committed the REDO in the
// middle of the export, and the set was ok with a disk read from a base
// that was no longer frozen.
func TestAnotherMachinesCleanupLeavesALiveBackupAlone(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1, WriteRate: 200})
	var cleaned []string
	var second *simtest.Records
	hook := &midRead{prefix: "VM1 ", fn: func() {
		restore := vm.SetHostname("backup-host-2")
		defer restore()
		var err error
		err, second = e.Run(t, `for _, c in ipairs(require("vm").cleanup_orphans("name:VM1")) do print(c.snapshot) end`, simtest.RunOptions{})
		if err != nil {
			t.Errorf("the second host's cleanup: %v\n%s", err, second)
		}
		cleaned = second.Printed()
	}}
	err, recs := e.Run(t, `
		local v = require("vm").open("name:VM1")
		local set = v:backup{ to = arg.dest }
		assert(set.complete and set.status == "ok", "set " .. tostring(set.status))
	`, simtest.RunOptions{Mod: func(o *runtime.Options) { o.Progress = hook }})
	if err != nil {
		t.Fatalf("the backup failed: %v\n%s", err, recs)
	}
	if second == nil {
		t.Fatal("the second host's cleanup did not run in the middle of the read")
	}
	if len(cleaned) != 0 {
		t.Errorf("the second host committed the live backup's REDO log(s) %v\n%s", cleaned, second)
	}
	if len(second.Find("a vmlua REDO log (snapshot) is left alone: its owner may still be running")) != 1 {
		t.Errorf("the second host did not say why it left the REDO log alone:\n%s", second)
	}
	if s := e.Snapshots(t, "VM1"); len(s) != 0 {
		t.Errorf("snapshots left: %v", s)
	}
}

// TestASnapshotRemovedInTheMiddleOfAReadFailsTheDisk: when the snapshot
// that froze a disk is removed while v:backup or v:export reads the disk
// (an administrator, or 'vmlua cleanup --force' on another machine), the
// disk fails — a clear invalid_state error naming the snapshot — and
// nothing lands under a final name: no complete set, no exported image.
func TestASnapshotRemovedInTheMiddleOfAReadFailsTheDisk(t *testing.T) {
	for _, tc := range []struct{ name, script string }{
		{"v:backup", `v:backup{ to = arg.dest }`},
		{"v:export", `v:add_redo(d); v:export(d, arg.dest)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := simtest.Start(t, vsim.Options{VMs: 1, WriteRate: 200})
			removed := ""
			hook := &midRead{prefix: "VM1 ", fn: func() {
				for name := range vmluaSnapshots(t, e, "VM1") {
					ref, _ := e.SnapshotRef(t, "VM1", name)
					ctx := context.Background()
					res, err := methods.RemoveSnapshot_Task(ctx, e.Client, &types.RemoveSnapshot_Task{This: ref, Consolidate: types.NewBool(true)})
					if err == nil {
						err = object.NewTask(e.Client.Client, res.Returnval).Wait(ctx)
					}
					if err != nil {
						t.Errorf("remove %s: %v", name, err)
					}
					removed = name
				}
			}}
			err, recs := e.Run(t, `
				local v = require("vm").open("name:VM1")
				local d = v:disks()[1].id
				`+tc.script, simtest.RunOptions{Mod: func(o *runtime.Options) { o.Progress = hook }})
			if removed == "" {
				t.Fatalf("no snapshot was removed in the middle of the read\n%s", recs)
			}
			if err == nil {
				t.Fatalf("%s succeeded although its snapshot was removed in the middle of the read\n%s", tc.name, recs)
			}
			if simtest.Code(err) != runtime.CodeInvalidState || !strings.Contains(err.Error(), "the snapshot "+removed+" that froze disk") || !strings.Contains(err.Error(), "was removed while the disk was read") {
				t.Errorf("error = %v (code %s), want invalid_state naming the snapshot removed", err, simtest.Code(err))
			}
			if cats, _ := filepath.Glob(filepath.Join(e.Dir, "VM1", "*", "catalog.json")); len(cats) != 0 {
				t.Errorf("a set was completed: %v", cats)
			}
			if flats, _ := filepath.Glob(filepath.Join(e.Dir, "*-flat.vmdk")); len(flats) != 0 {
				t.Errorf("an image was exported under its final name: %v", flats)
			}
			if p := simtest.Partials(e.Dir); len(p) > 0 {
				t.Errorf("partial files left: %v", p)
			}
			if s := e.Snapshots(t, "VM1"); len(s) != 0 {
				t.Errorf("snapshots left: %v", s)
			}
		})
	}
}

var leaseField = regexp.MustCompile(`lease=(\S+)`)

// TestTheLeaseIsRenewedWhileTheRunLives: a run holding a REDO log moves
// its lease forward (RenameSnapshot) every LeaseRenew, to LeaseLength from
// then by vSphere's clock, and keeps the snapshot's name.
func TestTheLeaseIsRenewedWhileTheRunLives(t *testing.T) {
	defer func(old time.Duration) { vm.LeaseRenew = old }(vm.LeaseRenew)
	vm.LeaseRenew = 20 * time.Millisecond
	e := simtest.Start(t, vsim.Options{VMs: 1})
	var first, renewed, frozenBy time.Time
	started := time.Now().Truncate(time.Second) // the simulator's clock is this machine's
	err, recs := e.Run(t, `
		local v = require("vm").open("name:VM1")
		v:add_redo(v:disks()[1].id)
		print("frozen")
	`, simtest.RunOptions{Hook: func(msg string, _ map[string]any) {
		if msg != "frozen" {
			return
		}
		lease := func() time.Time {
			snaps := vmluaSnapshots(t, e, "VM1")
			if len(snaps) != 1 {
				t.Fatalf("vmlua snapshots: %v", snaps)
			}
			for _, d := range snaps {
				m := leaseField.FindStringSubmatch(d)
				if m == nil {
					t.Fatalf("no lease in %q", d)
				}
				l, err := time.Parse(time.RFC3339, m[1])
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			return time.Time{}
		}
		frozenBy = time.Now()
		first = lease()
		if first.Before(started.Add(vm.LeaseLength)) || first.After(frozenBy.Add(vm.LeaseLength)) {
			t.Errorf("the lease runs until %v; want %v after the REDO log was added (between %v and %v)", first, vm.LeaseLength, started, frozenBy)
		}
		for renewed = lease(); !renewed.After(first); renewed = lease() {
			time.Sleep(10 * time.Millisecond) // the renewal is every 20 ms; the lease has a second's resolution
		}
	}})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	if !renewed.After(first) {
		t.Errorf("the lease was not renewed: %v then %v", first, renewed)
	}
	if s := e.Snapshots(t, "VM1"); len(s) != 0 {
		t.Errorf("snapshots left: %v", s)
	}
}
