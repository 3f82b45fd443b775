package vsim

import (
	"context"
	"os"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// A VM registered from existing files (a restored VM) has none of the
// generated image's data: "*" must answer from its flat file.
func TestAllocatedAreasOfARegisteredDiskComeFromItsFile(t *testing.T) {
	s, c := startSim(t, Options{})
	ctx := context.Background()
	vm2 := findVM(t, c, "VM2")
	powerOff(t, vm2)
	src, _ := s.Disks("VM2")
	srcDir, _ := s.dsLocal("[LocalDS_0] VM2")
	dstDir, _ := s.dsLocal("[LocalDS_0] R2")
	if err := os.MkdirAll(dstDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"VM2.vmx", "VM2.vmdk"} {
		b, err := os.ReadFile(srcDir + "/" + n)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dstDir+"/"+n, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// the restored image holds data in two blocks only
	written := [][2]int64{{3 * BlockSize, 4 * BlockSize}, {10 * BlockSize, 11 * BlockSize}}
	f, err := os.Create(dstDir + "/VM2-flat.vmdk")
	if err != nil {
		t.Fatal(err)
	}
	blk := make([]byte, BlockSize)
	for i := range blk {
		blk[i] = 0xa5
	}
	for _, w := range written {
		if _, err := f.WriteAt(blk, w[0]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(src[0].Capacity); err != nil {
		t.Fatal(err)
	}
	f.Close()

	finder := find.NewFinder(c.Client)
	dc, _ := finder.DefaultDatacenter(ctx)
	folders, _ := dc.Folders(ctx)
	pool, err := finder.DefaultResourcePool(ctx)
	if err != nil {
		pools, _ := finder.ResourcePoolList(ctx, "*")
		pool = pools[0]
	}
	rt, err := folders.VmFolder.RegisterVM(ctx, "[LocalDS_0] R2/VM2.vmx", "R2", false, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := rt.WaitForResult(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r2 := object.NewVirtualMachine(c.Client, info.Result.(types.ManagedObjectReference))
	task, err := r2.Reconfigure(ctx, types.VirtualMachineConfigSpec{ChangeTrackingEnabled: types.NewBool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	snap := snapshot(t, r2, "full")
	disks, _ := s.Disks("R2")
	res, err := methods.QueryChangedDiskAreas(ctx, c.Client, &types.QueryChangedDiskAreas{This: r2.Reference(), Snapshot: &snap, DeviceKey: disks[0].Key, ChangeId: "*"})
	if err != nil {
		t.Fatal(err)
	}
	areas := res.Returnval.ChangedArea
	var total int64
	for _, a := range areas {
		total += a.Length
	}
	for _, w := range written {
		ok := false
		for _, a := range areas {
			ok = ok || (w[0] >= a.Start && w[1] <= a.Start+a.Length)
		}
		if !ok {
			t.Errorf("written block %d-%d is not in \"*\" (%+v)", w[0], w[1], areas)
		}
	}
	// SEEK_DATA is exact on the file systems tests run on; the seed's
	// image would claim about three blocks in four
	if total > 4*BlockSize {
		t.Errorf("\"*\" claims %d bytes allocated, the file holds %d (%+v)", total, 2*BlockSize, areas)
	}
}
