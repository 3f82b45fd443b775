package vsim

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/vmlua/vmlua/internal/vmxfmt"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// The .vmx of each VM holds the VMX key/value text of its configuration and
// is rewritten whenever the configuration or the disk chain changes; a disk's
// fileName names the top of its chain, as on ESX.

// vmxText renders cfg (disks as in vs) as VMX text.
func vmxText(cfg *types.VirtualMachineConfigInfo, vs *vmState) string {
	kv := [][2]string{
		{".encoding", "UTF-8"},
		{"config.version", "8"},
		{"virtualHW.version", strings.TrimPrefix(cfg.Version, "vmx-")},
		{"displayName", cfg.Name},
		{"memsize", strconv.Itoa(int(cfg.Hardware.MemoryMB))},
		{"numvcpus", strconv.Itoa(int(cfg.Hardware.NumCPU))},
		{"guestOS", vmxfmt.GuestOS(cfg.GuestId)},
		{"uuid.bios", vmxfmt.UUID(cfg.Uuid)},
		{"vc.uuid", vmxfmt.UUID(cfg.InstanceUuid)},
	}
	if vs.uuidLocation != "" {
		kv = append(kv, [2]string{"uuid.location", vs.uuidLocation})
	}
	if vs.uuidAction != "" {
		kv = append(kv, [2]string{"uuid.action", vs.uuidAction})
	}
	if cfg.ChangeTrackingEnabled != nil && *cfg.ChangeTrackingEnabled {
		kv = append(kv, [2]string{"ctkEnabled", "TRUE"})
	}
	vmxDir := path.Dir(dsPathPath(cfg.Files.VmPathName))
	vmxDS := dsPathName(cfg.Files.VmPathName)
	devices := object.VirtualDeviceList(cfg.Hardware.Device)
	for _, dev := range devices {
		switch c := dev.(type) {
		case types.BaseVirtualSCSIController:
			sc := c.GetVirtualSCSIController()
			p := fmt.Sprintf("scsi%d", sc.BusNumber)
			kv = append(kv, [2]string{p + ".present", "TRUE"}, [2]string{p + ".virtualDev", vmxfmt.ControllerVirtualDev(dev)})
			if sc.SharedBus != "" && sc.SharedBus != types.VirtualSCSISharingNoSharing {
				kv = append(kv, [2]string{p + ".sharedBus", string(sc.SharedBus)})
			}
		case *types.VirtualDisk:
			b, ok := c.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
			if !ok {
				continue
			}
			id := deviceID(devices, c)
			name := b.FileName
			if dsPathName(name) == vmxDS && path.Dir(dsPathPath(name)) == vmxDir {
				name = path.Base(dsPathPath(name))
			} else {
				name = "/vmfs/volumes/" + dsPathName(name) + "/" + dsPathPath(name)
			}
			kv = append(kv,
				[2]string{id + ".present", "TRUE"},
				[2]string{id + ".fileName", name},
				[2]string{id + ".mode", vmxfmt.DiskMode(b.DiskMode)},
				[2]string{id + ".deviceType", vmxfmt.DeviceType(c, "scsi")},
			)
			if cfg.ChangeTrackingEnabled != nil && *cfg.ChangeTrackingEnabled {
				kv = append(kv, [2]string{id + ".ctkEnabled", "TRUE"})
			}
		case types.BaseVirtualEthernetCard:
			e := c.GetVirtualEthernetCard()
			n := -1
			for i, x := range devices.SelectByType((*types.VirtualEthernetCard)(nil)) {
				if x.GetVirtualDevice().Key == e.Key {
					n = i
				}
			}
			p := fmt.Sprintf("ethernet%d", n)
			kv = append(kv, [2]string{p + ".present", "TRUE"}, [2]string{p + ".virtualDev", vmxfmt.NICVirtualDev(dev)})
			if nb, ok := e.Backing.(*types.VirtualEthernetCardNetworkBackingInfo); ok {
				kv = append(kv, [2]string{p + ".networkName", nb.DeviceName})
			}
			if e.AddressType == string(types.VirtualEthernetCardMacTypeManual) {
				kv = append(kv, [2]string{p + ".addressType", "static"}, [2]string{p + ".address", e.MacAddress})
			} else if e.MacAddress != "" {
				kv = append(kv, [2]string{p + ".addressType", "generated"}, [2]string{p + ".generatedAddress", e.MacAddress})
			}
		}
	}
	var extra [][2]string
	for _, o := range cfg.ExtraConfig {
		ov := o.GetOptionValue()
		extra = append(extra, [2]string{ov.Key, fmt.Sprint(ov.Value)})
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i][0] < extra[j][0] })
	kv = append(kv, extra...)
	var b strings.Builder
	for _, p := range kv {
		fmt.Fprintf(&b, "%s = %q\n", p[0], p[1])
	}
	return b.String()
}

// writeVMX rewrites the VM's .vmx from its current configuration.
func (s *Sim) writeVMX(vs *vmState) error {
	vm, ok := s.reg.Get(vs.ref).(*simulator.VirtualMachine)
	if !ok {
		return errNoVM
	}
	var err error
	s.bgContext().WithLock(vm, func() {
		vs.mu.Lock()
		defer vs.mu.Unlock()
		err = s.writeVMXLocked(vm.Config, vs)
	})
	return err
}

func (s *Sim) writeVMXLocked(cfg *types.VirtualMachineConfigInfo, vs *vmState) error {
	p, err := s.dsLocal(cfg.Files.VmPathName)
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(vmxText(cfg, vs)), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// ParseVMX reads VMX key/value text.
func ParseVMX(r io.Reader) (map[string]string, error) {
	m := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		v = strings.TrimSpace(v)
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, `"`)
		}
		m[k] = v
	}
	return m, sc.Err()
}
