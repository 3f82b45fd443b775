package vsim

import (
	"context"
	"io"

	"github.com/vmware/govmomi/nfc"
	"github.com/vmware/govmomi/vim25/methods"
	"testing"

	"github.com/vmware/govmomi/vim25/types"
)

func TestDefaultInventoryHasAMultiDiskVM(t *testing.T) {
	s, c := startSim(t, Options{})
	vm := findVM(t, c, "DB01")
	m := vmProps(t, vm, "config.hardware.device", "runtime.powerState", "layoutEx")
	var ids []string
	disks, _ := s.Disks("DB01")
	for _, d := range disks {
		ids = append(ids, d.ID)
	}
	if len(disks) != 3 || disks[0].ID != "scsi0:0" || disks[1].ID != "scsi0:1" {
		t.Fatalf("disks = %v", ids)
	}
	var ds []string
	var modes []string
	for _, d := range m.Config.Hardware.Device {
		if vd, ok := d.(*types.VirtualDisk); ok {
			b := vd.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
			ds = append(ds, dsPathName(b.FileName))
			modes = append(modes, b.DiskMode)
			if vd.CapacityInBytes != 4<<20 {
				t.Errorf("capacity %d", vd.CapacityInBytes)
			}
		}
	}
	if ds[0] == ds[1] || modes[2] != "independent_persistent" {
		t.Fatalf("datastores %v modes %v", ds, modes)
	}
	if m.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn {
		t.Fatalf("power %s", m.Runtime.PowerState)
	}
	_ = context.Background()
}

func TestModelsServeSnapshotExports(t *testing.T) {
	for _, model := range []string{"vpx", "esx"} {
		t.Run(model, func(t *testing.T) {
			s, c := startSim(t, Options{Model: model, VMs: 1})
			vm := findVM(t, c, "VM1")
			waitWrites(t, s, "VM1", 5)
			snap := snapshot(t, vm, "s")
			seq, _ := s.SnapshotSeq(snap)
			res, err := methods.ExportSnapshot(context.Background(), c.Client, &types.ExportSnapshot{This: snap})
			if err != nil {
				t.Fatal(err)
			}
			leaseDownload(t, c, res.Returnval, func(item nfc.FileItem, r io.Reader) {
				want, size, _ := s.ExpectedContent("VM1", "scsi0:0", seq)
				sameContent(t, model+" export", exportReader(t, r), want, size)
			})
		})
	}
}
