package vsim

import (
	"context"
	"testing"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// TestRenameSnapshot: RenameSnapshot changes the name and the description
// the VM's snapshot tree shows; an empty one is left as it was; a snapshot
// removed meanwhile answers ManagedObjectNotFound, as ESXi does.
func TestRenameSnapshot(t *testing.T) {
	ctx := context.Background()
	_, c := startSim(t, Options{VMs: 1})
	vm := findVM(t, c, "VM1")
	task, err := vm.CreateSnapshot(ctx, "s1", "first", false, false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := task.WaitForResult(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ref := res.Result.(types.ManagedObjectReference)
	tree := func() types.VirtualMachineSnapshotTree {
		m := vmProps(t, vm, "snapshot")
		if m.Snapshot == nil || len(m.Snapshot.RootSnapshotList) != 1 {
			t.Fatalf("snapshot tree: %+v", m.Snapshot)
		}
		return m.Snapshot.RootSnapshotList[0]
	}
	for _, tc := range []struct{ name, desc, wantName, wantDesc string }{
		{"", "renewed", "s1", "renewed"},
		{"s2", "", "s2", "renewed"},
		{"s3", "again", "s3", "again"},
	} {
		if _, err := methods.RenameSnapshot(ctx, c.Client, &types.RenameSnapshot{This: ref, Name: tc.name, Description: tc.desc}); err != nil {
			t.Fatalf("RenameSnapshot(%q, %q): %v", tc.name, tc.desc, err)
		}
		if got := tree(); got.Name != tc.wantName || got.Description != tc.wantDesc {
			t.Errorf("after RenameSnapshot(%q, %q): %q, %q; want %q, %q", tc.name, tc.desc, got.Name, got.Description, tc.wantName, tc.wantDesc)
		}
	}
	rt, err := methods.RemoveSnapshot_Task(ctx, c.Client, &types.RemoveSnapshot_Task{This: ref})
	if err != nil {
		t.Fatal(err)
	}
	if err := object.NewTask(c.Client, rt.Returnval).Wait(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = methods.RenameSnapshot(ctx, c.Client, &types.RenameSnapshot{This: ref, Description: "too late"})
	if !fault.Is(err, &types.ManagedObjectNotFound{}) {
		t.Errorf("RenameSnapshot of a removed snapshot: %v, want ManagedObjectNotFound", err)
	}
}
