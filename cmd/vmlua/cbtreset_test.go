package main

import (
	"context"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmware/govmomi/vim25/mo"
)

// TestCBTResetVerb: vmlua cbt-reset SPEC resets the tracking of each VM
// it matches (one line each) and leaves no snapshot; a VM with snapshots
// of its own is refused by name and the exit is 1.
func TestCBTResetVerb(t *testing.T) {
	e := simtest.Start(t, vsim.Options{DiskSize: 1 << 20, VMs: 1})
	conn := []string{"--url", e.Sim.URL.String(), "--insecure"}
	out, errOut, code := runBin(t, append(append([]string{"cbt-reset"}, conn...), "name:DB01")...)
	if code != exitOK || !strings.Contains(out, "DB01") || !strings.Contains(out, "reset") {
		t.Fatalf("vmlua cbt-reset name:DB01: exit %d\n%s%s", code, out, errOut)
	}
	var m mo.VirtualMachine
	v := e.VMObj(t, "DB01")
	if err := v.Properties(context.Background(), v.Reference(), []string{"config.changeTrackingEnabled", "snapshot"}, &m); err != nil {
		t.Fatal(err)
	}
	if m.Config.ChangeTrackingEnabled == nil || !*m.Config.ChangeTrackingEnabled || m.Snapshot != nil && len(m.Snapshot.RootSnapshotList) > 0 {
		t.Errorf("after cbt-reset: tracking %v, snapshots %v", m.Config.ChangeTrackingEnabled, e.Snapshots(t, "DB01"))
	}

	ctx := context.Background()
	task, err := e.VMObj(t, "VM1").CreateSnapshot(ctx, "site-snap", "", false, false)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runBin(t, append(append([]string{"cbt-reset"}, conn...), "name:VM1")...)
	if code != exitFailure || !strings.Contains(out, "site-snap") {
		t.Errorf("vmlua cbt-reset of a VM with a snapshot: exit %d, want %d and the snapshot named\n%s%s", code, exitFailure, out, errOut)
	}
}

// TestRestoreDiskVerb: vmlua restore-disk TARGET VM DISK INTO attaches a
// set's disk to another VM as a new disk, and --replace on a running VM
// is refused with exit 1 and the reason.
func TestRestoreDiskVerb(t *testing.T) {
	e := simtest.Start(t, vsim.Options{DiskSize: 1 << 20, VMs: 1, WriteRate: -1})
	e.Backup(t, "DB01", "full")
	target := "file://" + e.Dir
	conn := []string{"--url", e.Sim.URL.String(), "--insecure"}
	args := func(rest ...string) []string { return append(append([]string{"restore-disk"}, conn...), rest...) }
	out, errOut, code := runBin(t, args(target, "DB01", "scsi0:1", "name:VM1")...)
	if code != exitOK || !strings.Contains(out, "into VM1 as a new disk scsi0:1") {
		t.Fatalf("restore-disk: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runBin(t, args("--replace", "scsi0:0", target, "DB01", "scsi0:0", "name:VM1")...)
	if code != exitFailure || !strings.Contains(errOut, "powered on") {
		t.Errorf("restore-disk --replace on a running VM: exit %d, want %d and why\n%s%s", code, exitFailure, out, errOut)
	}
}
