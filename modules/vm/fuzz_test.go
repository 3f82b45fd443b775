package vm

import (
	"slices"
	"testing"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// fuzzVMs are fixed VMs for the fuzz targets: one with the devices vmlua
// maps to VMX keys (controllers, disks of every backing, a NIC, a CD-ROM,
// extra config), one bare.
func fuzzVMs() []mo.VirtualMachine {
	unit := func(n int32) *int32 { return &n }
	yes := true
	full := mo.VirtualMachine{
		Config: &types.VirtualMachineConfigInfo{
			Name: "DB01", GuestId: "otherGuest64", Uuid: "42001234-5678-9abc-def0-123456789abc", InstanceUuid: "50001234-5678-9abc-def0-123456789abc",
			Version: "vmx-19", Annotation: "fuzz", ChangeTrackingEnabled: &yes,
			Files: types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0] DB01/DB01.vmx"},
			Hardware: types.VirtualHardware{NumCPU: 2, MemoryMB: 1024, Device: []types.BaseVirtualDevice{
				&types.VirtualLsiLogicController{VirtualSCSIController: types.VirtualSCSIController{VirtualController: types.VirtualController{
					VirtualDevice: types.VirtualDevice{Key: 1000, SlotInfo: &types.VirtualDevicePciBusSlotInfo{PciSlotNumber: 16}}, BusNumber: 0}}},
				&types.VirtualIDEController{VirtualController: types.VirtualController{VirtualDevice: types.VirtualDevice{Key: 200}, BusNumber: 0}},
				&types.VirtualDisk{VirtualDevice: types.VirtualDevice{Key: 2000, ControllerKey: 1000, UnitNumber: unit(0),
					Backing: &types.VirtualDiskFlatVer2BackingInfo{DiskMode: "persistent", VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: "[LocalDS_0] DB01/DB01.vmdk"}}}},
				&types.VirtualDisk{VirtualDevice: types.VirtualDevice{Key: 2001, ControllerKey: 1000, UnitNumber: unit(1),
					Backing: &types.VirtualDiskRawDiskMappingVer1BackingInfo{DiskMode: "independent_persistent", CompatibilityMode: "physicalMode", VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: "[LocalDS_1] DB01/rdm.vmdk"}}}},
				&types.VirtualDisk{VirtualDevice: types.VirtualDevice{Key: 2002, ControllerKey: 1000, UnitNumber: unit(2),
					Backing: &types.VirtualDiskSparseVer2BackingInfo{DiskMode: "nonpersistent"}}},
				&types.VirtualDisk{VirtualDevice: types.VirtualDevice{Key: 2003, ControllerKey: 1000}}, // no unit, no backing
				&types.VirtualCdrom{VirtualDevice: types.VirtualDevice{Key: 3000, ControllerKey: 200, UnitNumber: unit(0),
					Backing: &types.VirtualCdromRemotePassthroughBackingInfo{}}},
				&types.VirtualE1000{VirtualEthernetCard: types.VirtualEthernetCard{VirtualDevice: types.VirtualDevice{Key: 4000,
					Backing: &types.VirtualEthernetCardNetworkBackingInfo{VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: "VM Network"}}},
					AddressType: "generated", MacAddress: "00:50:56:00:00:01"}},
				&types.VirtualVmxnet3{VirtualVmxnet: types.VirtualVmxnet{VirtualEthernetCard: types.VirtualEthernetCard{VirtualDevice: types.VirtualDevice{Key: 4001}}}},
			}},
			ExtraConfig: []types.BaseOptionValue{&types.OptionValue{Key: "guestinfo.x", Value: "1"}, &types.OptionValue{Key: "nil.value"}},
		},
		Runtime: types.VirtualMachineRuntimeInfo{PowerState: types.VirtualMachinePowerStatePoweredOn},
		Guest:   &types.GuestInfo{IpAddress: "10.0.0.1", HostName: "db01.example.org", Net: []types.GuestNicInfo{{IpAddress: []string{"10.0.0.1", "fe80::1"}}}},
	}
	full.Name, full.Self = "DB01", types.ManagedObjectReference{Type: "VirtualMachine", Value: "vm-42"}
	bare := mo.VirtualMachine{Config: &types.VirtualMachineConfigInfo{}}
	return []mo.VirtualMachine{full, bare, {}}
}

// FuzzParseSpec: ParseSpec and Spec.Matches never panic, and what ParseSpec
// accepts has a known kind.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"name:DB01", "name:web-*", "name:[", "uuid:42001234-5678-9abc-def0-123456789abc", "ipaddr:10.0.0.1", "ipaddr:db01",
		"moref:vm-42", "powerstate:ON", "any:", "none:", "[LocalDS_0] DB01/DB01.vmx", "[x.vmx", "colour:red", ":", "", " name: x ",
		"folder:/DC0/vm/prod powerstate:on", "name:DB01,WEB01, tag:Backup:gold", `name:"a b: c" host:h*`, "pool:prod/db,/DC0/host/C/Resources", "tag:\"A B\":\"c:d\"",
		"cluster:DC0_C0 datastore:LocalDS_[01]", "fodler:/x", `name:"x`, "name:x ,, any:", "[ds] a.vmx none:"} {
		f.Add(s)
	}
	vms := fuzzVMs()
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseSpec(s)
		if err != nil {
			return
		}
		known := func(k string) bool { return k == "vmx" || slices.Contains(kinds, k) }
		if !known(sp.Kind) && sp.Kind != "compound" {
			t.Fatalf("ParseSpec(%q) accepted kind %q", s, sp.Kind)
		}
		if len(sp.Alts) == 0 {
			t.Fatalf("ParseSpec(%q) accepted no term", s)
		}
		for _, alt := range sp.Alts {
			for _, tm := range alt {
				if !known(tm.Kind) || len(tm.Values) == 0 {
					t.Fatalf("ParseSpec(%q) accepted term %+v", s, tm)
				}
			}
		}
		again, err := ParseSpec(sp.String())
		if err != nil || again.Kind != sp.Kind || len(again.Alts) != len(sp.Alts) {
			t.Fatalf("ParseSpec(%q) = %+v, but its String %q parses to %+v, %v", s, sp, sp.String(), again, err)
		}
		for _, x := range vms {
			sp.Matches(x)
			bound := sp
			bound.bind = &binding{sets: map[[2]int]map[string]bool{}, parents: map[string]string{"a": "b", "b": "a"}}
			bound.Matches(x)
		}
		_ = sp.single()
		_ = sp.Props()
	})
}

// FuzzGetConfig: a VMX key look-up never panics, whatever the key.
func FuzzGetConfig(f *testing.F) {
	for _, k := range []string{"displayName", "memsize", "numvcpus", "guestOS", "uuid.bios", "vc.uuid", "virtualHW.version", "annotation", "ctkEnabled",
		"scsi0.present", "scsi0.virtualDev", "scsi0.pciSlotNumber", "scsi0:0.fileName", "scsi0:1.mode", "scsi0:2.mode", "scsi0:3.present", "scsi0:0.deviceType",
		"scsi0:0.redo", "ide0:0.fileName", "ide0:0.deviceType", "ethernet0.address", "ethernet1.virtualDev", "ethernet0.networkName",
		"guestinfo.x", "nil.value", "scsi99999999999999999999.present", "scsi0:99999999999999999999.mode", "ethernet-1.present", ""} {
		f.Add(k)
	}
	vms := fuzzVMs()[:2] // Refresh refuses a VM without config
	f.Fuzz(func(t *testing.T, key string) {
		for _, m := range vms {
			v := &VM{mo: m}
			val, ok := v.GetConfig(key)
			if !ok && val != "" {
				t.Fatalf("GetConfig(%q) = %q but not found", key, val)
			}
		}
	})
}
