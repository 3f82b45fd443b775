package backup_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmware/govmomi/vim25/mo"
)

// userSnapshot takes a snapshot of the VM as its administrator would
// (not vmlua's).
func userSnapshot(t *testing.T, e *simtest.Env, vmName, name string) {
	t.Helper()
	ctx := context.Background()
	task, err := e.VMObj(t, vmName).CreateSnapshot(ctx, name, "the site's own", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// cbtOn reads whether the VM tracks changed blocks.
func cbtOn(t *testing.T, e *simtest.Env, vmName string) bool {
	t.Helper()
	var m mo.VirtualMachine
	v := e.VMObj(t, vmName)
	if err := v.Properties(context.Background(), v.Reference(), []string{"config.changeTrackingEnabled"}, &m); err != nil {
		t.Fatal(err)
	}
	return m.Config != nil && m.Config.ChangeTrackingEnabled != nil && *m.Config.ChangeTrackingEnabled
}

// TestCBTNeverSwitchedOnWithSnapshots: a backup in mode incremental of a
// VM without tracking switches it on, but never while the VM has
// snapshots (VMware supports enabling it only without them, KB 1020128):
// the set is a full read without tracking, its full_reason and a warning
// say why, tracking stays off. The old code switched it on whatever the
// VM had.
func TestCBTNeverSwitchedOnWithSnapshots(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 2 << 20})
	if cbtOn(t, e, "VM1") {
		t.Fatal("VM1 tracks changed blocks from the start; the test needs it off")
	}
	userSnapshot(t, e, "VM1", "before-upgrade")
	err, recs := e.Run(t, `
		local vm = require "vm"
		local set = vm.open("name:VM1"):backup{ to = arg.dest, mode = "incremental" }
		print("SET " .. set.id)
	`, simtest.RunOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	if cat := readCatalogAt(t, e.Dir, printed(recs, "SET ")); cat.Mode != catalog.ModeFull || !strings.Contains(cat.FullReason, "was not switched on") || !strings.Contains(cat.FullReason, "before-upgrade") {
		t.Errorf("the set: mode %s, full_reason %q; want a full saying why tracking stays off", cat.Mode, cat.FullReason)
	}
	if cbtOn(t, e, "VM1") {
		t.Errorf("changed block tracking was switched on while VM1 has a snapshot\n%s", recs)
	}
	ws := recs.Find("backup: changed block tracking is off and is not switched on; this set is a full")
	if len(ws) != 1 || !strings.Contains(ws[0]["why"].(string), `"before-upgrade"`) || !strings.Contains(ws[0]["why"].(string), "KB 1020128") {
		t.Errorf("no warning naming the snapshot and the KB: %v\n%s", ws, recs)
	}
	if got := e.Snapshots(t, "VM1"); len(got) != 1 || got[0] != "before-upgrade" {
		t.Errorf("the VM's snapshots afterwards: %v, want only the user's", got)
	}
}

// TestFullEvery: full_every=N makes every Nth set of the chain a full, in
// mode incremental too (chain_max is auto's only).
func TestFullEvery(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 2 << 20})
	c := &chainEnv{Env: e, frozen: map[string]uint64{}}
	var got []string
	for i := 0; i < 5; i++ {
		err, recs := c.Run(t, `
			local vm = require "vm"
			local set = vm.open("name:DB01"):backup{ to = arg.dest, mode = "incremental", full_every = 2 }
			print("SET " .. set.id)
		`, simtest.RunOptions{})
		if err != nil {
			t.Fatalf("%v\n%s", err, recs)
		}
		cat := readCatalogAt(t, e.Dir, printed(recs, "SET "))
		got = append(got, cat.Mode)
		if cat.Options.FullEvery != 2 {
			t.Errorf("set %d: full_every %d in the catalog", i, cat.Options.FullEvery)
		}
		if i > 0 && cat.Mode == catalog.ModeFull && !strings.Contains(cat.FullReason, "full_every=2") {
			t.Errorf("set %d: full_reason %q does not name full_every", i, cat.FullReason)
		}
	}
	want := []string{"full", "incremental", "full", "incremental", "full"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("modes %v, want %v", got, want)
	}
}

// TestCBTReset: v:cbt_reset() runs KB 2139574's sequence; tracking is on
// afterwards, no snapshot is left, and the next incremental is a full
// (the old change ids belong to the tracking that was reset). Refused on a
// VM with snapshots.
func TestCBTReset(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 2 << 20})
	c := &chainEnv{Env: e, frozen: map[string]uint64{}}
	backup := func() *catalog.Catalog {
		// a write before each set: chainEnv.backup takes a freeze at write 0 for none
		if _, err := e.Sim.GuestWrite("DB01", 5); err != nil {
			t.Fatal(err)
		}
		return c.backup(t, "incremental")
	}
	backup()
	if s := backup(); s.Mode != catalog.ModeIncremental {
		t.Fatalf("second set: %s (%s)", s.Mode, s.FullReason)
	}
	err, recs := e.Run(t, `
		local vm = require "vm"
		vm.open("name:DB01"):cbt_reset()
	`, simtest.RunOptions{})
	if err != nil {
		t.Fatalf("cbt_reset: %v\n%s", err, recs)
	}
	if !cbtOn(t, e, "DB01") {
		t.Error("tracking is off after cbt_reset")
	}
	if s := e.Snapshots(t, "DB01"); len(s) != 0 {
		t.Errorf("cbt_reset left snapshots: %v", s)
	}
	s := backup()
	if s.Mode != catalog.ModeFull || !strings.Contains(s.FullReason, "reset") {
		t.Errorf("after cbt_reset: mode %s, full_reason %q; want a full because tracking was reset", s.Mode, s.FullReason)
	}
	if s := backup(); s.Mode != catalog.ModeIncremental {
		t.Errorf("the set after the reset's full: %s (%s)", s.Mode, s.FullReason)
	}

	userSnapshot(t, e, "DB01", "keep-me")
	err, recs = e.Run(t, `
		local vm = require "vm"
		local ok, err = pcall(function() vm.open("name:DB01"):cbt_reset() end)
		assert(not ok)
		print("CODE " .. err.code .. " " .. err.message:gsub('"', "'"))
	`, simtest.RunOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	if p := printed(recs, "CODE "); !strings.HasPrefix(p, "invalid_state") || !strings.Contains(p, "keep-me") {
		t.Errorf("cbt_reset on a VM with a snapshot: %q", p)
	}
	if !cbtOn(t, e, "DB01") || len(e.Snapshots(t, "DB01")) != 1 {
		t.Errorf("a refused cbt_reset changed the VM: cbt %v, snapshots %v", cbtOn(t, e, "DB01"), e.Snapshots(t, "DB01"))
	}
}

// TestVMsWithSnapshotTreesOfTheirOwn: a VM with a three-level snapshot
// tree of its own is backed up as it is now: the backup's snapshot on top
// of the user's, each disk read flattened through that snapshot's NFC
// export lease; afterwards the user's tree is intact (only vmlua's own
// snapshot is gone), and a restore is byte-exact the VM's state at the
// backup, running or powered off. The old code refused the running VM
// ("sits on 4 snapshot levels") and stored the powered-off one's base, the
// oldest snapshot's state, as an ok set.
func TestVMsWithSnapshotTreesOfTheirOwn(t *testing.T) {
	for _, off := range []bool{false, true} {
		name := map[bool]string{false: "running", true: "powered off"}[off]
		t.Run(name, func(t *testing.T) {
			e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 1 << 20, WriteRate: -1, MaxRedo: -1})
			tree := []string{"installed", "patched", "configured"}
			for _, s := range tree {
				if _, err := e.Sim.GuestWrite("VM1", 15); err != nil {
					t.Fatal(err)
				}
				userSnapshot(t, e, "VM1", s)
			}
			seq, err := e.Sim.GuestWrite("VM1", 15)
			if err != nil {
				t.Fatal(err)
			}
			err, recs := e.Run(t, `
				local vm, backup = require "vm", require "backup"
				local v = vm.open("name:VM1")
				if arg.off == "true" then v:power_off() end
				local set = v:backup{ to = arg.dest }
				print("SET " .. set.id .. " " .. set.status .. " " .. set.disks[1].read)
				backup.restore{ from = arg.dest, set = set.id, datastore = "LocalDS_1", name = "VM1-now" }
			`, simtest.RunOptions{Args: []string{fmt.Sprintf("off=%v", off)}})
			if err != nil {
				t.Fatalf("%v\n%s", err, recs)
			}
			if got := e.Snapshots(t, "VM1"); strings.Join(got, ",") != strings.Join(tree, ",") {
				t.Errorf("the VM's snapshots afterwards: %v, want its own tree %v", got, tree)
			}
			if p := strings.Fields(printed(recs, "SET ")); len(p) != 3 || p[1] != "ok" || p[2] != catalog.ReadFull {
				t.Errorf("set: %v", p)
			}
			want, size, err := e.Sim.ExpectedContent("VM1", "scsi0:0", seq)
			if err != nil {
				t.Fatal(err)
			}
			cat := readCatalogAt(t, e.Dir, strings.Fields(printed(recs, "SET "))[0])
			if got := e.DiskSHA(t, "[LocalDS_1] VM1-now/"+cat.Disks[0].Descriptor); got != simtest.ShaOf(t, want, size) {
				t.Errorf("the restore is not the VM's disk at the backup (write %d)", seq)
			}
			if ws := recs.Find("backup: disk read through the snapshot's export lease"); len(ws) != 1 || ws[0]["own_levels"] != int64(3) && ws[0]["own_levels"] != 3 {
				t.Errorf("the log does not say how the disk was read: %v", ws)
			}
		})
	}
}
