package backup_test

import (
	"context"
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
// the warning says why, tracking stays off. The old code switched it on
// whatever the VM had.
func TestCBTNeverSwitchedOnWithSnapshots(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 2 << 20})
	if cbtOn(t, e, "VM1") {
		t.Fatal("VM1 tracks changed blocks from the start; the test needs it off")
	}
	userSnapshot(t, e, "VM1", "before-upgrade")
	_, recs := e.Run(t, `
		local vm = require "vm"
		pcall(function() vm.open("name:VM1"):backup{ to = arg.dest, mode = "incremental" } end)
	`, simtest.RunOptions{})
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

// TestAPoweredOffVMOnItsOwnSnapshotsIsRefusedNotBackedUpStale: a
// powered-off VM whose disk sits on a snapshot of its own has its current
// state in the chain; the old code read the base alone (the snapshot's
// state, not the VM's) and called the set ok. It is refused, saying why,
// with no set left and the user's snapshot untouched.
func TestAPoweredOffVMOnItsOwnSnapshotsIsRefusedNotBackedUpStale(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 1 << 20, WriteRate: -1})
	userSnapshot(t, e, "VM1", "before-patch")
	if _, err := e.Sim.GuestWrite("VM1", 20); err != nil {
		t.Fatal(err)
	}
	err, recs := e.Run(t, `
		local v = require("vm").open("name:VM1")
		v:power_off()
		local ok, err = pcall(function() return v:backup{ to = arg.dest } end)
		assert(not ok, "the backup of a VM on its own snapshot succeeded")
		print("ERR " .. err.code .. " " .. err.message)
	`, simtest.RunOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	if p := printed(recs, "ERR "); !strings.HasPrefix(p, "invalid_state") || !strings.Contains(p, "snapshot level") || !strings.Contains(p, "oldest snapshot's state") {
		t.Errorf("error: %q", p)
	}
	if s := e.Snapshots(t, "VM1"); len(s) != 1 || s[0] != "before-patch" {
		t.Errorf("the VM's snapshots: %v", s)
	}
	if p := simtest.Partials(e.Dir); len(p) != 0 {
		t.Errorf("left on the target: %v", p)
	}
}
