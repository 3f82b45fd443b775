package vm

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/vmlua/vmlua/internal/datastore"
	"github.com/vmlua/vmlua/internal/vmxfmt"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
)

// GetConfig answers a VMX key from the VM's live configuration, so that
// VmPerl's get_config works against any vCenter. ok is false for a key the
// VM does not have (VmPerl returned undef).
func (v *VM) GetConfig(key string) (string, bool) {
	m := v.MO()
	cfg := m.Config
	lk := strings.ToLower(key)
	switch lk {
	case "displayname":
		return cfg.Name, true
	case "guestos":
		return vmxfmt.GuestOS(cfg.GuestId), true
	case "memsize":
		return strconv.Itoa(int(cfg.Hardware.MemoryMB)), true
	case "numvcpus":
		return strconv.Itoa(int(cfg.Hardware.NumCPU)), true
	case "uuid.bios":
		return vmxfmt.UUID(cfg.Uuid), true
	case "vc.uuid":
		return vmxfmt.UUID(cfg.InstanceUuid), cfg.InstanceUuid != ""
	case "config.version":
		return "8", true
	case "virtualhw.version":
		return strings.TrimPrefix(cfg.Version, "vmx-"), cfg.Version != ""
	case "annotation":
		return cfg.Annotation, cfg.Annotation != ""
	case "ctkenabled":
		if cfg.ChangeTrackingEnabled != nil && *cfg.ChangeTrackingEnabled {
			return "TRUE", true
		}
		return "FALSE", true
	}
	if val, ok := deviceKey(cfg, m.Config.Files.VmPathName, lk); ok {
		return val, true
	}
	for _, o := range cfg.ExtraConfig {
		if ov := o.GetOptionValue(); strings.EqualFold(ov.Key, key) {
			return fmt.Sprint(ov.Value), true
		}
	}
	return "", false
}

var (
	ctlKey  = regexp.MustCompile(`^(scsi|ide|sata|nvme)(\d+)\.(present|virtualdev|pcislotnumber)$`)
	diskKey = regexp.MustCompile(`^(scsi|ide|sata|nvme)(\d+):(\d+)\.(present|filename|name|mode|devicetype|redo)$`)
	nicKey  = regexp.MustCompile(`^ethernet(\d+)\.(present|networkname|addresstype|address|generatedaddress|virtualdev|connectiontype|startconnected)$`)
)

func deviceKey(cfg *types.VirtualMachineConfigInfo, vmx, key string) (string, bool) {
	devs := object.VirtualDeviceList(cfg.Hardware.Device)
	if m := ctlKey.FindStringSubmatch(key); m != nil {
		bus, _ := strconv.Atoi(m[2])
		for _, d := range devs {
			ctl, ok := d.(types.BaseVirtualController)
			if !ok || ctlPrefix(d) != m[1] || int(ctl.GetVirtualController().BusNumber) != bus {
				continue
			}
			switch m[3] {
			case "present":
				return "TRUE", true
			case "virtualdev":
				return vmxfmt.ControllerVirtualDev(d), true
			case "pcislotnumber":
				if si := ctl.GetVirtualController().SlotInfo; si != nil {
					if p, ok := si.(*types.VirtualDevicePciBusSlotInfo); ok {
						return strconv.Itoa(int(p.PciSlotNumber)), true
					}
				}
				return "", false
			}
		}
		return "", false
	}
	if m := diskKey.FindStringSubmatch(key); m != nil {
		id := m[1] + m[2] + ":" + m[3]
		for _, d := range devs {
			vd := d.GetVirtualDevice()
			if vd.UnitNumber == nil || deviceID(devs, vd) != id {
				continue
			}
			switch m[4] {
			case "present":
				return "TRUE", true
			case "filename", "name":
				if b, ok := vd.Backing.(types.BaseVirtualDeviceFileBackingInfo); ok {
					return vmxFileName(b.GetVirtualDeviceFileBackingInfo().FileName, vmx), true
				}
				if b, ok := vd.Backing.(*types.VirtualCdromRemotePassthroughBackingInfo); ok {
					return b.DeviceName, true
				}
				return "", false
			case "mode":
				switch b := vd.Backing.(type) {
				case *types.VirtualDiskFlatVer2BackingInfo:
					return vmxfmt.DiskMode(b.DiskMode), true
				case *types.VirtualDiskRawDiskMappingVer1BackingInfo:
					return vmxfmt.DiskMode(b.DiskMode), true
				case *types.VirtualDiskSparseVer2BackingInfo:
					return vmxfmt.DiskMode(b.DiskMode), true
				}
				return "", false
			case "devicetype":
				return vmxfmt.DeviceType(d, m[1]), true
			case "redo":
				return "", true
			}
		}
		return "", false
	}
	if m := nicKey.FindStringSubmatch(key); m != nil {
		idx, _ := strconv.Atoi(m[1])
		nics := devs.SelectByType((*types.VirtualEthernetCard)(nil))
		sort.Slice(nics, func(i, j int) bool { return nics[i].GetVirtualDevice().Key < nics[j].GetVirtualDevice().Key })
		if idx >= len(nics) {
			return "", false
		}
		card := nics[idx].(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
		switch m[2] {
		case "present":
			return "TRUE", true
		case "networkname":
			switch b := card.Backing.(type) {
			case *types.VirtualEthernetCardNetworkBackingInfo:
				return b.DeviceName, true
			case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
				return b.Port.PortgroupKey, true
			}
			return "", false
		case "addresstype":
			switch card.AddressType {
			case string(types.VirtualEthernetCardMacTypeManual):
				return "static", true
			case string(types.VirtualEthernetCardMacTypeAssigned):
				return "vpx", true
			}
			return "generated", true
		case "address", "generatedaddress":
			return card.MacAddress, card.MacAddress != ""
		case "virtualdev":
			return vmxfmt.NICVirtualDev(nics[idx]), true
		case "connectiontype":
			return "bridged", true
		case "startconnected":
			if card.Connectable != nil && card.Connectable.StartConnected {
				return "TRUE", true
			}
			return "FALSE", true
		}
	}
	return "", false
}

func ctlPrefix(d types.BaseVirtualDevice) string {
	switch d.(type) {
	case types.BaseVirtualSCSIController:
		return "scsi"
	case *types.VirtualIDEController:
		return "ide"
	case *types.VirtualAHCIController:
		return "sata"
	case *types.VirtualNVMEController:
		return "nvme"
	}
	return ""
}

// vmxFileName renders a backing path as a .vmx does: relative when the
// file is in the VM's own directory, /vmfs/volumes/ds/... otherwise.
func vmxFileName(p, vmx string) string {
	ds, rel := datastore.Split(p)
	vmxDS, vmxRel := datastore.Split(vmx)
	if ds == vmxDS && path.Dir(rel) == path.Dir(vmxRel) {
		return path.Base(rel)
	}
	if ds == "" {
		return p
	}
	return "/vmfs/volumes/" + ds + "/" + rel
}
