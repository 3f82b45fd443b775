package vmxfmt

import (
	"strings"

	"github.com/vmware/govmomi/vim25/types"
)

// NICVirtualDev returns ethernetN.virtualDev of a network adapter. An
// adapter of a kind not listed (SR-IOV, PVRDMA) reads as vmxnet3, the
// paravirtual adapter those are variants of.
func NICVirtualDev(d types.BaseVirtualDevice) string {
	switch d.(type) {
	case *types.VirtualE1000:
		return "e1000"
	case *types.VirtualE1000e:
		return "e1000e"
	case *types.VirtualPCNet32:
		return "vlance"
	case *types.VirtualVmxnet:
		return "vmxnet"
	case *types.VirtualVmxnet2:
		return "vmxnet2"
	}
	return "vmxnet3"
}

// NewNIC returns the adapter ethernetN.virtualDev names, around card;
// vmxnet3 when the value is missing or unknown.
func NewNIC(virtualDev string, card types.VirtualEthernetCard) types.BaseVirtualDevice {
	switch strings.ToLower(virtualDev) {
	case "e1000":
		return &types.VirtualE1000{VirtualEthernetCard: card}
	case "e1000e":
		return &types.VirtualE1000e{VirtualEthernetCard: card}
	case "vlance":
		return &types.VirtualPCNet32{VirtualEthernetCard: card}
	case "vmxnet":
		return &types.VirtualVmxnet{VirtualEthernetCard: card}
	case "vmxnet2":
		return &types.VirtualVmxnet2{VirtualVmxnet: types.VirtualVmxnet{VirtualEthernetCard: card}}
	}
	return &types.VirtualVmxnet3{VirtualVmxnet: types.VirtualVmxnet{VirtualEthernetCard: card}}
}

// ControllerVirtualDev returns scsiN.virtualDev (sataN, nvmeN) of a
// controller; "" for a controller a .vmx gives none (IDE).
func ControllerVirtualDev(d types.BaseVirtualDevice) string {
	switch d.(type) {
	case *types.VirtualLsiLogicController:
		return "lsilogic"
	case *types.VirtualLsiLogicSASController:
		return "lsisas1068"
	case *types.ParaVirtualSCSIController:
		return "pvscsi"
	case *types.VirtualBusLogicController:
		return "buslogic"
	case *types.VirtualAHCIController:
		return "ahci"
	case *types.VirtualNVMEController:
		return "nvme"
	}
	return ""
}

// NewSCSIController returns the SCSI controller scsiN.virtualDev names,
// around c; LSI Logic (lsilogic) when the value is missing or unknown.
func NewSCSIController(virtualDev string, c types.VirtualSCSIController) types.BaseVirtualDevice {
	switch strings.ToLower(virtualDev) {
	case "pvscsi":
		return &types.ParaVirtualSCSIController{VirtualSCSIController: c}
	case "lsisas1068":
		return &types.VirtualLsiLogicSASController{VirtualSCSIController: c}
	case "buslogic":
		return &types.VirtualBusLogicController{VirtualSCSIController: c}
	}
	return &types.VirtualLsiLogicController{VirtualSCSIController: c}
}

// guestOS maps API guest ids to the guestOS values ESXi writes for them
// where the spelling is not the rule guessGuestOS applies.
var guestOS = map[string]string{
	"otherGuest":            "other",
	"otherGuest64":          "other-64",
	"otherLinuxGuest":       "otherlinux",
	"otherLinux64Guest":     "otherlinux-64",
	"other3xLinuxGuest":     "other3xlinux",
	"other3xLinux64Guest":   "other3xlinux-64",
	"ubuntuGuest":           "ubuntu",
	"ubuntu64Guest":         "ubuntu-64",
	"centos64Guest":         "centos-64",
	"rhel7_64Guest":         "rhel7-64",
	"windows9Server64Guest": "windows9srv-64",
}

// GuestOS returns the guestOS value of an API guest id
// ("otherLinux64Guest" -> "otherlinux-64", "rhel7_64Guest" -> "rhel7-64").
func GuestOS(id string) string {
	if v, ok := guestOS[id]; ok {
		return v
	}
	s := id
	if strings.HasSuffix(s, "Guest64") {
		s = strings.TrimSuffix(s, "Guest64") + "-64"
	}
	s = strings.TrimSuffix(s, "Guest")
	return strings.ToLower(strings.ReplaceAll(s, "_", "-"))
}

// GuestID returns the API guest id of a guestOS value GuestOS knows; other
// values are returned as they are.
func GuestID(os string) string {
	for id, v := range guestOS {
		if v == os {
			return id
		}
	}
	return os
}

// UUID renders a UUID in the API form ("421c3e8a-9d36-8b02-5b8f-0cf08b3f2a4e")
// the way a .vmx does ("42 1c 3e 8a 9d 36 8b 02-5b 8f 0c f0 8b 3f 2a 4e");
// a value that is not a UUID is returned as it is.
func UUID(u string) string {
	h := hexDigits(u)
	if len(h) != 32 {
		return u
	}
	var b strings.Builder
	for i := 0; i < 16; i++ {
		if i == 8 {
			b.WriteByte('-')
		} else if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(h[2*i : 2*i+2])
	}
	return b.String()
}

// ParseUUID returns the API form of a UUID in either form; a value that is
// not a UUID is returned as it is.
func ParseUUID(v string) string {
	h := hexDigits(v)
	if len(h) != 32 {
		return v
	}
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// SameUUID reports whether a and b are one UUID, each in the API or the
// .vmx form, in any case.
func SameUUID(a, b string) bool { return hexDigits(a) == hexDigits(b) }

// hexDigits returns the hex digits of s, lower case; nothing else.
func hexDigits(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		if (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// DiskMode spells an API disk mode as a .vmx does
// ("independent_persistent" -> "independent-persistent").
func DiskMode(m string) string { return strings.ReplaceAll(m, "_", "-") }

// ParseDiskMode returns the API disk mode of a .vmx mode; persistent when
// it is missing.
func ParseDiskMode(m string) string {
	if m == "" {
		return string(types.VirtualDiskModePersistent)
	}
	return strings.ReplaceAll(m, "-", "_")
}

// DeviceType returns a device's deviceType; bus is the kind of controller
// it sits on (scsi, ide, sata, nvme). "" for devices that have none.
func DeviceType(d types.BaseVirtualDevice, bus string) string {
	switch b := d.(type) {
	case *types.VirtualDisk:
		if rdm, ok := b.Backing.(*types.VirtualDiskRawDiskMappingVer1BackingInfo); ok {
			if rdm.CompatibilityMode == string(types.VirtualDiskCompatibilityModePhysicalMode) {
				return "scsi-passthru"
			}
			return "rawDisk"
		}
		if bus == "ide" || bus == "sata" {
			return "ata-hardDisk"
		}
		return "scsi-hardDisk"
	case *types.VirtualCdrom:
		switch b.Backing.(type) {
		case *types.VirtualCdromIsoBackingInfo:
			return "cdrom-image"
		case *types.VirtualCdromAtapiBackingInfo:
			return "atapi-cdrom"
		}
		return "cdrom-raw"
	case *types.VirtualFloppy:
		return "floppy"
	}
	return ""
}

// Bool spells a boolean as a .vmx does.
func Bool(b bool) string {
	if b {
		return "TRUE"
	}
	return "FALSE"
}
