package vsim

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/vmlua/vmlua/internal/vmxfmt"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// RegisterVM_Task reads the .vmx and creates the VM with its devices and
// disks (stock vcsim registers a VM with no devices). ReconfigVM_Task keeps
// the .vmx current.

func (w *folderWrapper) RegisterVMTask(ctx *simulator.Context, req *types.RegisterVM_Task) soap.HasFault {
	s, f := w.s, w.Folder
	ref := s.runTask(ctx, f, "registerVm", func(tctx *simulator.Context, _ *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		local, err := s.dsLocal(req.Path)
		if err != nil {
			return nil, &types.InvalidDatastorePath{DatastorePath: req.Path}
		}
		fh, err := os.Open(local)
		if err != nil {
			return nil, &types.FileNotFound{FileFault: types.FileFault{File: req.Path}}
		}
		kv, err := ParseVMX(fh)
		fh.Close()
		if err != nil {
			return nil, withMessage(&types.InvalidVmConfig{}, err.Error())
		}
		spec, fault := s.specFromVMX(kv, req.Path)
		if fault != nil {
			return nil, fault
		}
		if req.Name == "" {
			req.Name = kv["displayName"]
		}
		// vcsim insists on finding these; ESX creates them when missing
		for _, n := range []string{req.Name + ".nvram", "vmware.log"} {
			p := filepath.Join(filepath.Dir(local), n)
			if _, err := os.Stat(p); err != nil {
				os.WriteFile(p, nil, 0o644)
			}
		}
		var res soap.HasFault
		tctx.WithLock(f, func() { res = f.RegisterVMTask(tctx, req) })
		body := res.(*methods.RegisterVM_TaskBody)
		if body.Fault_ != nil {
			return nil, body.Fault_.VimFault().(types.BaseMethodFault)
		}
		if fault := s.waitTask(s.ctx, body.Res.Returnval); fault != nil {
			s.logf("vsim: register %s: %#v", req.Path, fault)
			return nil, fault
		}
		t := s.reg.Get(body.Res.Returnval).(*simulator.Task)
		var vmRef types.ManagedObjectReference
		s.bgContext().WithLock(t, func() { vmRef = t.Info.Result.(types.ManagedObjectReference) })
		vm := s.reg.Get(vmRef).(*simulator.VirtualMachine)
		var rres soap.HasFault
		tctx.WithLock(vm, func() { rres = vm.ReconfigVMTask(tctx, &types.ReconfigVM_Task{This: vmRef, Spec: spec}) })
		rb := rres.(*methods.ReconfigVM_TaskBody)
		if rb.Fault_ != nil {
			return nil, rb.Fault_.VimFault().(types.BaseMethodFault)
		}
		if fault := s.waitTask(s.ctx, rb.Res.Returnval); fault != nil {
			s.logf("vsim: register %s: reconfigure: %#v", req.Path, fault)
			return nil, fault
		}
		vs, err := s.adopt(vmRef, false)
		if err != nil {
			return nil, withMessage(&types.InvalidVmConfig{}, err.Error())
		}
		// what the .vmx recorded, even if something adopted the VM before
		vs.mu.Lock()
		vs.uuidLocation, vs.uuidAction = kv["uuid.location"], kv["uuid.action"]
		vs.mu.Unlock()
		if err := s.writeVMX(vs); err != nil {
			s.logf("vsim: %s: write vmx: %v", vs.name, err)
		}
		// a chain of deltas: the snapshot tree from the .vmsd (snapshot_tree.go)
		tctx.WithLock(vm, func() {
			vs.mu.Lock()
			defer vs.mu.Unlock()
			chained := false
			for _, d := range vs.disks {
				chained = chained || len(d.layers) > 1
			}
			if !chained {
				return
			}
			if err := s.restoreSnapshotTree(tctx, vm, vs); err != nil {
				s.logf("vsim: register %s: no snapshot tree: %v", req.Path, err)
				s.syncVM(tctx, vm, vs, true) // on deltas with no snapshot: consolidation needed
			} else if len(vs.snaps) == 0 {
				s.syncVM(tctx, vm, vs, true)
			}
		})
		return vmRef, nil
	})
	return &methods.RegisterVM_TaskBody{Res: &types.RegisterVM_TaskResponse{Returnval: ref}}
}

// specFromVMX turns VMX keys into a ConfigSpec adding the VM's controllers,
// disks (existing files) and NICs.
func (s *Sim) specFromVMX(kv map[string]string, vmxPath string) (types.VirtualMachineConfigSpec, types.BaseMethodFault) {
	spec := types.VirtualMachineConfigSpec{GuestId: vmxfmt.GuestID(kv["guestOS"])}
	if n, err := strconv.Atoi(kv["memsize"]); err == nil {
		spec.MemoryMB = int64(n)
	}
	if n, err := strconv.Atoi(kv["numvcpus"]); err == nil {
		spec.NumCPUs = int32(n)
	}
	if strings.EqualFold(kv["ctkEnabled"], "TRUE") {
		spec.ChangeTrackingEnabled = types.NewBool(true)
	}
	vmxDS, vmxDir := dsPathName(vmxPath), path.Dir(dsPathPath(vmxPath))
	known := map[string]bool{".encoding": true, "config.version": true, "virtualHW.version": true, "displayName": true,
		"memsize": true, "numvcpus": true, "guestOS": true, "uuid.bios": true, "vc.uuid": true, "ctkEnabled": true,
		"uuid.location": true, "uuid.action": true} // uuid_question.go
	if u := vmxfmt.ParseUUID(kv["uuid.bios"]); len(u) == 36 && strings.Count(u, "-") == 4 {
		spec.Uuid = u // the VM keeps its BIOS uuid, as ESXi registers it
	}
	add := func(dev types.BaseVirtualDevice, fop types.VirtualDeviceConfigSpecFileOperation) {
		spec.DeviceChange = append(spec.DeviceChange, &types.VirtualDeviceConfigSpec{
			Operation: types.VirtualDeviceConfigSpecOperationAdd, FileOperation: fop, Device: dev})
	}
	ctrlKey := map[int]int32{}
	key := int32(-200)
	for bus := 0; bus < 4; bus++ {
		p := fmt.Sprintf("scsi%d", bus)
		if !strings.EqualFold(kv[p+".present"], "TRUE") {
			continue
		}
		key--
		ctrlKey[bus] = key
		vc := types.VirtualSCSIController{
			VirtualController: types.VirtualController{VirtualDevice: types.VirtualDevice{Key: key}, BusNumber: int32(bus)},
			SharedBus:         types.VirtualSCSISharingNoSharing,
		}
		add(vmxfmt.NewSCSIController(kv[p+".virtualDev"], vc), "")
	}
	var diskIDs []string
	for k := range kv {
		if strings.HasPrefix(k, "scsi") && strings.HasSuffix(k, ".fileName") {
			diskIDs = append(diskIDs, strings.TrimSuffix(k, ".fileName"))
		}
	}
	sort.Strings(diskIDs)
	for _, id := range diskIDs {
		var bus, unit int
		if _, err := fmt.Sscanf(id, "scsi%d:%d", &bus, &unit); err != nil {
			continue
		}
		ck, ok := ctrlKey[bus]
		if !ok || !strings.EqualFold(kv[id+".present"], "TRUE") {
			continue
		}
		fn := kv[id+".fileName"]
		var dsp string
		if rest, ok := strings.CutPrefix(fn, "/vmfs/volumes/"); ok {
			ds, p, _ := strings.Cut(rest, "/")
			dsp = fmt.Sprintf("[%s] %s", ds, p)
		} else {
			dsp = fmt.Sprintf("[%s] %s", vmxDS, path.Join(vmxDir, fn))
		}
		local, err := s.dsLocal(dsp)
		if err != nil {
			return spec, &types.InvalidDatastorePath{DatastorePath: dsp}
		}
		capacity, err := descriptorCapacity(local)
		if err != nil {
			return spec, &types.FileNotFound{FileFault: types.FileFault{File: dsp}}
		}
		mode := vmxfmt.ParseDiskMode(kv[id+".mode"])
		u := int32(unit)
		key--
		add(&types.VirtualDisk{
			VirtualDevice: types.VirtualDevice{Key: key, ControllerKey: ck, UnitNumber: &u,
				Backing: &types.VirtualDiskFlatVer2BackingInfo{
					VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: dsp},
					DiskMode:                     mode, ThinProvisioned: types.NewBool(true),
					Uuid: descriptorUUID(local),
				}},
			CapacityInBytes: capacity, CapacityInKB: capacity / 1024,
		}, "")
		for _, suf := range []string{".present", ".fileName", ".mode", ".deviceType", ".ctkEnabled"} {
			known[id+suf] = true
		}
	}
	for n := 0; n < 10; n++ {
		p := fmt.Sprintf("ethernet%d", n)
		if !strings.EqualFold(kv[p+".present"], "TRUE") {
			continue
		}
		key--
		card := types.VirtualEthernetCard{VirtualDevice: types.VirtualDevice{Key: key,
			Backing: &types.VirtualEthernetCardNetworkBackingInfo{VirtualDeviceDeviceBackingInfo: types.VirtualDeviceDeviceBackingInfo{DeviceName: kv[p+".networkName"]}}}}
		if kv[p+".addressType"] == "static" {
			card.AddressType = string(types.VirtualEthernetCardMacTypeManual)
			card.MacAddress = kv[p+".address"]
		}
		add(vmxfmt.NewNIC(kv[p+".virtualDev"], card), "")
	}
	for k, v := range kv {
		if known[k] || strings.HasPrefix(k, "scsi") || strings.HasPrefix(k, "ethernet") {
			continue
		}
		spec.ExtraConfig = append(spec.ExtraConfig, &types.OptionValue{Key: k, Value: v})
	}
	sort.Slice(spec.ExtraConfig, func(i, j int) bool {
		return spec.ExtraConfig[i].GetOptionValue().Key < spec.ExtraConfig[j].GetOptionValue().Key
	})
	return spec, nil
}

// descriptorCapacity sums the extents of a VMDK text descriptor.
func descriptorCapacity(local string) (int64, error) {
	b, err := os.ReadFile(local)
	if err != nil {
		return 0, err
	}
	var sectors int64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && (f[0] == "RW" || f[0] == "RDONLY") {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				sectors += n
			}
		}
	}
	if sectors == 0 {
		return 0, fmt.Errorf("no extents in %s", local)
	}
	return sectors * 512, nil
}

// descriptorUUID is the disk UUID a descriptor's ddb.uuid gives ("60 00
// C2 9b ...-..." or a plain UUID) as the backing's uuid spells it
// ("6000c29b-...."), "" when it has none: ESXi takes a registered disk's
// identity from its descriptor, so a copy with the original's descriptor
// has the original's UUID (the VMDK descriptor's disk database holds it:
// VMware's Virtual Disk Format 1.1 specification, "The Disk Database").
func descriptorUUID(local string) string {
	b, err := os.ReadFile(local)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) != "ddb.uuid" {
			continue
		}
		h := strings.NewReplacer(" ", "", "-", "", "\"", "").Replace(strings.TrimSpace(v))
		if len(h) != 32 {
			return ""
		}
		return fmt.Sprintf("%s-%s-%s-%s-%s", h[:8], h[8:12], h[12:16], h[16:20], h[20:])
	}
	return ""
}

// ReconfigVMTask runs the stock reconfigure, then brings vmlua's disk state
// and the .vmx up to date.
func (w *vmWrapper) ReconfigVMTask(ctx *simulator.Context, req *types.ReconfigVM_Task) soap.HasFault {
	res := w.VirtualMachine.ReconfigVMTask(ctx, req)
	body, ok := res.(*methods.ReconfigVM_TaskBody)
	if !ok || body.Fault_ != nil || body.Res == nil {
		return res
	}
	s, ref := w.s, w.Self
	if off := req.Spec.ChangeTrackingEnabled; off != nil && !*off {
		// tracking stops: its change ids end with it (cbt.go); now, not
		// when the task is seen done, so no snapshot after it gets the old epoch
		if vs, err := s.adopt(ref, false); err == nil {
			vs.mu.Lock()
			vs.cbtEpoch++
			vs.mu.Unlock()
		}
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if s.waitTask(s.ctx, body.Res.Returnval) != nil {
			return
		}
		if vs, err := s.adopt(ref, false); err == nil {
			s.refreshDisks(vs)
		}
	}()
	return res
}

// refreshDisks adds disks the configuration gained, drops those it lost,
// and rewrites the .vmx.
func (s *Sim) refreshDisks(vs *vmState) {
	vm, ok := s.reg.Get(vs.ref).(*simulator.VirtualMachine)
	if !ok {
		return
	}
	s.bgContext().WithLock(vm, func() {
		vs.mu.Lock()
		defer vs.mu.Unlock()
		keys := map[int32]bool{}
		for _, dev := range vm.Config.Hardware.Device {
			vd, ok := dev.(*types.VirtualDisk)
			if !ok {
				continue
			}
			keys[vd.Key] = true
			if vs.diskByKey(vd.Key) == nil {
				if d, err := s.newDisk(vs.name, vm.Config.Hardware.Device, vd, false); err == nil && d != nil { // nil: not a flat disk (an RDM), which has no content here
					vs.disks = append(vs.disks, d)
				} else {
					s.logf("vsim: %s: new disk: %v", vs.name, err)
				}
			}
		}
		kept := vs.disks[:0]
		for _, d := range vs.disks {
			if keys[d.key] {
				kept = append(kept, d)
			} else {
				d.close()
			}
		}
		vs.disks = kept
		if changeID := liveChangeID(vm, vs); changeID != "" {
			s.publishLiveChangeID(s.bgContext(), vm, vs) // CBT switched on while powered off
		}
		if err := s.writeVMXLocked(vm.Config, vs); err != nil {
			s.logf("vsim: %s: write vmx: %v", vs.name, err)
		}
	})
}
