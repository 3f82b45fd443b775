package vsim

import (
	"context"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

func liveChangeIDs(t *testing.T, vm *object.VirtualMachine) map[int32]string {
	t.Helper()
	out := map[int32]string{}
	for k, b := range diskBackings(vmProps(t, vm, "config")) {
		out[k] = b.ChangeId
	}
	return out
}

// A powered-off VM with CBT carries a changeId on its live disks, which
// QueryChangedDiskAreas without a snapshot answers from: the powered-off
// incremental path. Running, it carries none (no snapshot).
func TestPoweredOffVMsLiveDisksCarryAChangeID(t *testing.T) {
	s, c := startSim(t, Options{Inventory: []VMSpec{
		{Name: "OFF01", PoweredOff: true, ChangeTracking: true},
		{Name: "OFF02", PoweredOff: true},
	}})
	ctx := context.Background()
	vm := findVM(t, c, "OFF01")
	disks, _ := s.Disks("OFF01")
	key := disks[0].Key
	first := liveChangeIDs(t, vm)[key]
	if first == "" {
		t.Fatal("a powered-off VM with CBT has no changeId on its live disk")
	}
	if id := liveChangeIDs(t, findVM(t, c, "OFF02"))[key]; id != "" {
		t.Fatalf("a VM without CBT has changeId %q", id)
	}
	task, err := vm.PowerOn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if id := liveChangeIDs(t, vm)[key]; id != "" {
		t.Fatalf("running without a snapshot: changeId %q", id)
	}
	waitWrites(t, s, "OFF01", 10)
	powerOff(t, vm)
	second := liveChangeIDs(t, vm)[key]
	if second == "" || second == first {
		t.Fatalf("after running and powering off: changeId %q (before %q)", second, first)
	}
	res, err := methods.QueryChangedDiskAreas(ctx, c.Client, &types.QueryChangedDiskAreas{This: vm.Reference(), DeviceKey: key, ChangeId: first})
	if err != nil {
		t.Fatal(err)
	}
	log, _ := s.WriteLog("OFF01")
	if len(log) == 0 || len(res.Returnval.ChangedArea) == 0 {
		t.Fatalf("%d writes, %d changed areas since the first power-off", len(log), len(res.Returnval.ChangedArea))
	}
	for _, w := range log {
		in := false
		for _, a := range res.Returnval.ChangedArea {
			in = in || (w.Offset >= a.Start && w.Offset+w.Length <= a.Start+a.Length)
		}
		if !in {
			t.Fatalf("write %d (%d+%d) missing from the changes since %q", w.Seq, w.Offset, w.Length, first)
		}
	}
	res, err = methods.QueryChangedDiskAreas(ctx, c.Client, &types.QueryChangedDiskAreas{This: vm.Reference(), DeviceKey: key, ChangeId: second})
	if err != nil || len(res.Returnval.ChangedArea) != 0 {
		t.Fatalf("changes since the last power-off: %v %v, want none", res, err)
	}
}

// A snapshot taken before CBT was switched on: "*" returns the whole disk,
// unallocated areas too (VDDK guide); one taken after, the allocated
// areas only.
func TestStarOnASnapshotFromBeforeCBTIsTheWholeDisk(t *testing.T) {
	s, c := startSim(t, Options{Inventory: []VMSpec{{Name: "LATE", PoweredOff: true}}})
	ctx := context.Background()
	vm := findVM(t, c, "LATE")
	before := snapshot(t, vm, "before CBT")
	task, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ChangeTrackingEnabled: types.NewBool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, vm, "after CBT")
	disks, _ := s.Disks("LATE")
	for _, tc := range []struct {
		name  string
		snap  types.ManagedObjectReference
		whole bool
	}{{"before", before, true}, {"after", after, false}} {
		res, err := methods.QueryChangedDiskAreas(ctx, c.Client, &types.QueryChangedDiskAreas{This: vm.Reference(), Snapshot: &tc.snap, DeviceKey: disks[0].Key, ChangeId: "*"})
		if err != nil {
			t.Fatal(err)
		}
		a := res.Returnval.ChangedArea
		whole := len(a) == 1 && a[0].Start == 0 && a[0].Length == disks[0].Capacity
		if whole != tc.whole {
			t.Errorf("snapshot %s CBT: \"*\" gave %d areas (whole disk %v), want whole %v", tc.name, len(a), whole, tc.whole)
		}
	}
}
