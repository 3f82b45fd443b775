package backup_test

import (
	"context"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmware/govmomi/vim25/types"
)

// addDisks adds disks of the given backings to the VM, on units 1, 2, ...
func addDisks(t *testing.T, e *simtest.Env, vmName string, backings ...types.BaseVirtualDeviceBackingInfo) {
	t.Helper()
	ctx := context.Background()
	v := e.VMObj(t, vmName)
	devs, err := v.Device(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := devs.FindDiskController("scsi")
	if err != nil {
		t.Fatal(err)
	}
	var spec types.VirtualMachineConfigSpec
	for i, b := range backings {
		unit := int32(i + 1)
		d := &types.VirtualDisk{VirtualDevice: types.VirtualDevice{Key: -100 - unit, Backing: b, ControllerKey: ctl.GetVirtualController().Key, UnitNumber: &unit}, CapacityInKB: 1024}
		ds := &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, FileOperation: types.VirtualDeviceConfigSpecFileOperationCreate, Device: d}
		if fb, ok := b.(*types.VirtualDiskFlatVer2BackingInfo); ok && fb.KeyId != nil {
			// encrypted as vSphere does it: a crypto spec with the device
			ds.Backing = &types.VirtualDeviceConfigSpecBackingSpec{Crypto: &types.CryptoSpecEncrypt{CryptoKeyId: *fb.KeyId}}
		}
		spec.DeviceChange = append(spec.DeviceChange, ds)
	}
	task, err := v.Reconfigure(ctx, spec)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestDisksThatCannotBeBackedUpAreReportedUpFront: RDMs (physical and
// virtual compatibility) and encrypted disks are left out before anything
// is frozen, each with its reason (which says what vSphere can do with
// it and what to do instead) in the catalog, the table v:backup returns
// and the log; v:disks() says which disks are encrypted; the VM's other
// disks are backed up and the set is partial. The old code tried to read
// the encrypted disk (and failed the backup) and said of a virtual-mode
// RDM nothing about snapshots.
func TestDisksThatCannotBeBackedUpAreReportedUpFront(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 1 << 20, WriteRate: -1})
	file := func(name string) types.VirtualDeviceFileBackingInfo {
		return types.VirtualDeviceFileBackingInfo{FileName: "[LocalDS_0] VM1/" + name}
	}
	addDisks(t, e, "VM1",
		&types.VirtualDiskRawDiskMappingVer1BackingInfo{CompatibilityMode: "virtualMode", DiskMode: "persistent", DeviceName: "/vmfs/devices/disks/naa.1", VirtualDeviceFileBackingInfo: file("vrdm.vmdk")},
		&types.VirtualDiskRawDiskMappingVer1BackingInfo{CompatibilityMode: "physicalMode", DiskMode: "persistent", DeviceName: "/vmfs/devices/disks/naa.2", VirtualDeviceFileBackingInfo: file("prdm.vmdk")},
		&types.VirtualDiskFlatVer2BackingInfo{DiskMode: "persistent", ThinProvisioned: types.NewBool(true), KeyId: &types.CryptoKeyId{KeyId: "key-7", ProviderId: &types.KeyProviderId{Id: "kms"}}, VirtualDeviceFileBackingInfo: file("secret.vmdk")},
	)
	err, recs := e.Run(t, `
		local vm = require "vm"
		local v = vm.open("name:VM1")
		for _, d in ipairs(v:disks()) do print("DISK " .. d.id .. " encrypted=" .. tostring(d.encrypted) .. " key=" .. tostring(d.key_id)) end
		local set = v:backup{ to = arg.dest }
		for _, s in ipairs(set.skipped) do print("SKIPPED " .. s.id .. " " .. s.reason:gsub('"', "'")) end
		print("SET " .. set.id .. " " .. set.status .. " " .. #set.disks)
	`, simtest.RunOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	if got := printed(recs, "SET "); !strings.HasSuffix(got, " partial 1") {
		t.Errorf("set: %q, want partial with one disk", got)
	}
	if !strings.Contains(recs.String(), "DISK scsi0:3 encrypted=true key=key-7") || !strings.Contains(recs.String(), "DISK scsi0:0 encrypted=false key=nil") {
		t.Errorf("v:disks() does not say which disk is encrypted:\n%s", strings.Join(recs.Printed(), "\n"))
	}
	cat := readCatalogAt(t, e.Dir, strings.Fields(printed(recs, "SET "))[0])
	want := map[string][]string{
		"scsi0:1": {"virtual-mode RDM", "vSphere snapshots it", "RDM Considerations and Limitations"},
		"scsi0:2": {"physical-mode RDM", "cannot snapshot it"},
		"scsi0:3": {"encrypted disk", "key-7", "ciphertext", "Virtual Machine Encryption and Backup"},
	}
	skipped := map[string]catalog.Skipped{}
	for _, s := range cat.Skipped {
		skipped[s.ID] = s
	}
	warned := map[string]string{}
	for _, w := range recs.Find("backup: disk skipped") {
		warned[w["disk"].(string)] = w["reason"].(string)
	}
	for id, phrases := range want {
		s, ok := skipped[id]
		if !ok || s.Excluded {
			t.Errorf("%s is not skipped in the catalog: %+v", id, cat.Skipped)
			continue
		}
		for _, p := range phrases {
			if !strings.Contains(s.Reason, p) {
				t.Errorf("%s: reason %q lacks %q", id, s.Reason, p)
			}
		}
		if warned[id] != s.Reason {
			t.Errorf("%s: logged %q, catalog %q", id, warned[id], s.Reason)
		}
		if !strings.Contains(recs.String(), "SKIPPED "+id+" ") {
			t.Errorf("%s is not in the table v:backup returned", id)
		}
	}
	if len(cat.Disks) != 1 || cat.Disks[0].ID != "scsi0:0" {
		t.Errorf("disks stored: %+v", cat.Disks)
	} else if cat.Disks[0].ImageSpans != nil {
		t.Errorf("a disk without changed block tracking got span digests (a sha256 pass for nothing): %v", cat.Disks[0].ImageSpans)
	}
	if s := e.Snapshots(t, "VM1"); len(s) != 0 {
		t.Errorf("snapshots left: %v", s)
	}
}
