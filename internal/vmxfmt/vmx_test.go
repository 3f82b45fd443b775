package vmxfmt

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vmware/govmomi/vim25/types"
)

// TestNICsReadBackAsTheyWereWritten: each adapter's virtualDev names it
// again, so a VM registered from a .vmx has the adapters it was written
// with.
func TestNICsReadBackAsTheyWereWritten(t *testing.T) {
	card := types.VirtualEthernetCard{MacAddress: "00:50:56:00:00:01"}
	for _, tc := range []struct {
		dev  types.BaseVirtualDevice
		want string
	}{
		{&types.VirtualE1000{VirtualEthernetCard: card}, "e1000"},
		{&types.VirtualE1000e{VirtualEthernetCard: card}, "e1000e"},
		{&types.VirtualPCNet32{VirtualEthernetCard: card}, "vlance"},
		{&types.VirtualVmxnet{VirtualEthernetCard: card}, "vmxnet"},
		{&types.VirtualVmxnet2{VirtualVmxnet: types.VirtualVmxnet{VirtualEthernetCard: card}}, "vmxnet2"},
		{&types.VirtualVmxnet3{VirtualVmxnet: types.VirtualVmxnet{VirtualEthernetCard: card}}, "vmxnet3"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := NICVirtualDev(tc.dev); got != tc.want {
				t.Fatalf("NICVirtualDev(%T) = %q, want %q", tc.dev, got, tc.want)
			}
			back := NewNIC(tc.want, card)
			if fmt.Sprintf("%T", back) != fmt.Sprintf("%T", tc.dev) {
				t.Errorf("NewNIC(%q) = %T, want %T", tc.want, back, tc.dev)
			}
			if back.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard().MacAddress != card.MacAddress {
				t.Error("NewNIC lost the card")
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want string
	}{
		{"an adapter without virtualDev is a vmxnet3", fmt.Sprintf("%T", NewNIC("", types.VirtualEthernetCard{})), "*types.VirtualVmxnet3"},
		{"an unknown adapter kind reads as vmxnet3", NICVirtualDev(&types.VirtualSriovEthernetCard{}), "vmxnet3"},
		{"a controller without virtualDev is LSI Logic", fmt.Sprintf("%T", NewSCSIController("", types.VirtualSCSIController{})), "*types.VirtualLsiLogicController"},
		{"an IDE controller has no virtualDev", ControllerVirtualDev(&types.VirtualIDEController{}), ""},
		{"a disk without mode is persistent", ParseDiskMode(""), "persistent"},
		{"an unknown guestOS stays as it is", GuestID("plan9-64"), "plan9-64"},
		{"a guest id not in the table follows the rule", GuestOS("rhel9_64Guest"), "rhel9-64"},
		{"a value that is not a UUID stays as it is", UUID("not-a-uuid"), "not-a-uuid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestSCSIControllersReadBackAsTheyWereWritten(t *testing.T) {
	c := types.VirtualSCSIController{VirtualController: types.VirtualController{BusNumber: 1}}
	for _, tc := range []struct {
		dev  types.BaseVirtualDevice
		want string
	}{
		{&types.VirtualLsiLogicController{VirtualSCSIController: c}, "lsilogic"},
		{&types.VirtualLsiLogicSASController{VirtualSCSIController: c}, "lsisas1068"},
		{&types.ParaVirtualSCSIController{VirtualSCSIController: c}, "pvscsi"},
		{&types.VirtualBusLogicController{VirtualSCSIController: c}, "buslogic"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := ControllerVirtualDev(tc.dev); got != tc.want {
				t.Fatalf("ControllerVirtualDev(%T) = %q, want %q", tc.dev, got, tc.want)
			}
			if back := NewSCSIController(tc.want, c); fmt.Sprintf("%T", back) != fmt.Sprintf("%T", tc.dev) {
				t.Errorf("NewSCSIController(%q) = %T, want %T", tc.want, back, tc.dev)
			}
		})
	}
}

func TestGuestOSAsESXiWritesIt(t *testing.T) {
	for _, tc := range []struct{ id, os string }{
		{"otherGuest", "other"},
		{"otherGuest64", "other-64"},
		{"otherLinux64Guest", "otherlinux-64"},
		{"other3xLinux64Guest", "other3xlinux-64"},
		{"ubuntu64Guest", "ubuntu-64"},
		{"rhel7_64Guest", "rhel7-64"},
		{"windows9Server64Guest", "windows9srv-64"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			if got := GuestOS(tc.id); got != tc.os {
				t.Errorf("GuestOS(%q) = %q, want %q", tc.id, got, tc.os)
			}
			if got := GuestID(tc.os); got != tc.id {
				t.Errorf("GuestID(%q) = %q, want %q", tc.os, got, tc.id)
			}
		})
	}
}

func TestUUIDAndDiskModeRoundTrip(t *testing.T) {
	const api, vmx = "421c3e8a-9d36-8b02-5b8f-0cf08b3f2a4e", "42 1c 3e 8a 9d 36 8b 02-5b 8f 0c f0 8b 3f 2a 4e"
	for _, tc := range []struct {
		name      string
		got, want string
	}{
		{"API form to .vmx form", UUID(api), vmx},
		{".vmx form to API form", ParseUUID(vmx), api},
		{".vmx form stays", UUID(vmx), vmx},
		{"upper case API form", UUID("421C3E8A-9D36-8B02-5B8F-0CF08B3F2A4E"), vmx},
		{"the API and .vmx forms are one UUID", fmt.Sprint(SameUUID(api, strings.ToUpper(vmx))), "true"},
		{"two UUIDs are not", fmt.Sprint(SameUUID(api, "421c3e8a-9d36-8b02-5b8f-0cf08b3f2a4f")), "false"},
		{"disk mode to .vmx", DiskMode("independent_persistent"), "independent-persistent"},
		{"disk mode from .vmx", ParseDiskMode("independent-nonpersistent"), "independent_nonpersistent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}
