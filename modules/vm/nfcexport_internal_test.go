package vm

import (
	"testing"

	"github.com/vmware/govmomi/nfc"
	"github.com/vmware/govmomi/vim25/types"
)

// TestDiskItem: a disk's URL in an NFC export lease is found by its
// device key as vCenter names it (controller:unit), as the simulator
// names it (the disk's id), or as the lease's only disk; a lease of
// several disks none of which is it is an error naming the keys.
func TestDiskItem(t *testing.T) {
	lease := func(keys ...string) *nfc.LeaseInfo {
		info := &nfc.LeaseInfo{}
		for _, k := range keys {
			info.Items = append(info.Items, nfc.FileItem{OvfFileItem: types.OvfFileItem{DeviceId: k, Path: k + ".vmdk"}})
		}
		return info
	}
	for _, tc := range []struct {
		name string
		info *nfc.LeaseInfo
		disk string
		want string // the key found; "" an error
	}{
		{"vCenter's key, second disk", lease("/vm-42/VirtualLsiLogicController0:0", "/vm-42/VirtualLsiLogicController0:1"), "scsi0:1", "/vm-42/VirtualLsiLogicController0:1"},
		{"vCenter's key, another bus", lease("/vm-42/VirtualLsiLogicController0:1", "/vm-42/ParaVirtualSCSIController1:1"), "scsi1:1", "/vm-42/ParaVirtualSCSIController1:1"},
		{"the simulator's key", lease("/vm-7/VirtualLsiLogicController0:scsi0:0", "/vm-7/VirtualLsiLogicController0:scsi0:1"), "scsi0:1", "/vm-7/VirtualLsiLogicController0:scsi0:1"},
		{"the only disk", lease("/vm-9/disk"), "scsi0:3", "/vm-9/disk"},
		{"none of several", lease("/vm-42/VirtualLsiLogicController0:0", "/vm-42/VirtualLsiLogicController0:1"), "scsi0:2", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it, err := diskItem(tc.info, tc.disk)
			switch {
			case tc.want == "" && err == nil:
				t.Fatalf("found %s, want an error", it.DeviceId)
			case tc.want != "" && (err != nil || it.DeviceId != tc.want):
				t.Fatalf("found %q (%v), want %q", it.DeviceId, err, tc.want)
			}
		})
	}
}
