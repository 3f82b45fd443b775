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
