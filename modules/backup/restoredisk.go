package backup

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/vmlua/vmlua/internal/taskwait"
	"github.com/vmlua/vmlua/internal/vmdk"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// RestoreDiskOptions are backup.restore_disk's options.
type RestoreDiskOptions struct {
	Set  string // set id (resolved)
	Disk string // the disk of the set ("scsi0:1")
	VM   *vm.VM // the existing VM that gets it
	// Replace is a disk of VM that the restored disk replaces (the VM must
	// be powered off); "" attaches it as a new disk.
	Replace string
	// Datastore is where the disk's files go (default: the datastore of
	// the VM's .vmx), in the VM's folder.
	Datastore string
}

// RestoredDisk is what restore_disk did.
type RestoredDisk struct {
	ID       string // the disk's id on the VM
	Path     string // its descriptor's datastore path
	Replaced string // the datastore path of the disk it replaced (its files are kept)
	Set      string
}

// RestoreDisk puts one disk of a set into an existing VM: its image
// (a chain applied on the fly, every layer checked) is written as a new
// flat disk in the VM's folder, with a UUID of its own, then attached to
// the VM as a new disk on a free unit of its first disk controller, or in
// place of one of its disks (Replace: only while the VM is powered off;
// the replaced disk's files stay on the datastore). A failure after the
// files were written removes them.
func RestoreDisk(r *runtime.Run, t transports.Transport, o RestoreDiskOptions) (*RestoredDisk, error) {
	ctx := r.Context()
	v := o.VM
	cat, err := restoreCatalog(r, t, RestoreOptions{Set: o.Set})
	if err != nil {
		return nil, err
	}
	var d *catalog.Disk
	var ids []string
	for i := range cat.Disks {
		if strings.EqualFold(cat.Disks[i].ID, o.Disk) {
			d = &cat.Disks[i]
		}
		ids = append(ids, cat.Disks[i].ID)
	}
	if d == nil {
		return nil, &runtime.Error{Code: runtime.CodeNotFound, Path: cat.ID, Disk: o.Disk, Message: fmt.Sprintf("the set %s holds no disk %q (it holds %s)", cat.ID, o.Disk, strings.Join(ids, ", "))}
	}
	if err := v.Refresh(ctx); err != nil {
		return nil, err
	}
	var old *vm.Disk
	if o.Replace != "" {
		od, err := v.Disk(o.Replace)
		if err != nil {
			return nil, err
		}
		if p := v.Power(); p != "off" {
			return nil, &runtime.Error{Code: runtime.CodeInvalidState, VM: v.Name(), Disk: od.ID, Message: fmt.Sprintf(
				"the VM is powered %s: vmlua replaces a disk only on a powered-off VM (the guest would lose the disk under its feet); power it off first, or attach the restored disk as a new disk (leave replace= out)", p)}
		}
		if len(od.Chain) > 1 {
			return nil, &runtime.Error{Code: runtime.CodeInvalidState, VM: v.Name(), Disk: od.ID, Message: "the disk has snapshots: replacing it would orphan their deltas; remove the VM's snapshots first, or attach the restored disk as a new disk"}
		}
		old = &od
	}
	vmxDS, vmxRel := dsPath(v.MO().Config.Files.VmPathName)
	dsName := cmp.Or(o.Datastore, vmxDS)
	ds, err := datastoreOf(ctx, v.Obj.Client(), nil, dsName)
	if err != nil {
		return nil, &runtime.Error{Code: runtime.CodeNotFound, VM: v.Name(), Message: fmt.Sprintf("datastore %q: %v", dsName, err), Err: err}
	}
	dir := path.Dir(vmxRel)
	base := fmt.Sprintf("%s_restored_%s_%s", sets.DirName(v.Name()), strings.NewReplacer(":", "_").Replace(d.ID), time.Now().UTC().Format(catalog.TimeFormat))
	flat, desc := vm.ImageNames(base)
	descPath := fmt.Sprintf("[%s] %s/%s", dsName, dir, desc)
	if r.DryRunAction("restore a disk into a VM", "set", cat.ID, "disk", d.ID, "vm", v.Name(), "to", descPath, "replace", o.Replace) {
		return &RestoredDisk{Path: descPath, Set: cat.ID}, nil
	}

	chain := []*catalog.Catalog{cat}
	if cat.Incremental() {
		if chain, err = sets.ChainOf(ctx, t, cat); err != nil {
			return nil, err
		}
	}
	ls, err := sets.LayersOf(chain, d.ID)
	if err != nil {
		return nil, err
	}
	fm := object.NewFileManager(v.Obj.Client())
	dc, err := datacenterOfVM(ctx, v)
	if err != nil {
		return nil, err
	}
	written := false
	removeFiles := func() {
		cctx, cancel := r.CleanupContext()
		defer cancel()
		for _, f := range []string{desc, flat} {
			p := fmt.Sprintf("[%s] %s/%s", dsName, dir, f)
			if task, err := fm.DeleteDatastoreFile(cctx, p, dc); err == nil {
				_ = taskwait.Done(cctx, task)
			}
		}
	}
	fail := func(err error) (*RestoredDisk, error) {
		if written {
			removeFiles()
		}
		return nil, err
	}
	written = true // from the first byte on, a failure removes what was written
	if err := uploadDisk(r, t, ds, ls, dir+"/"+flat); err != nil {
		return fail(&runtime.Error{Code: runtime.CodeTransport, VM: v.Name(), Disk: d.ID, Path: cat.ID, Message: fmt.Sprintf("restore of disk %s failed (the VM was not changed): %v", d.ID, err), Err: err})
	}
	df, _ := cat.File(d.Descriptor)
	uuid := newDDBUUID()
	if err := uploadPlain(ctx, t, ds, cat, df, dir+"/"+desc, func(b []byte) []byte {
		return []byte(setDDBUUID(vmdk.FlatDescriptor(string(b), d.Capacity/512, flat), uuid))
	}); err != nil {
		return fail(&runtime.Error{Code: runtime.CodeTransport, VM: v.Name(), Disk: d.ID, Path: cat.ID, Message: fmt.Sprintf("restore of disk %s's descriptor failed (the VM was not changed): %v", d.ID, err), Err: err})
	}
	spec, err := diskSpec(v, old, descPath, d)
	if err != nil {
		return fail(err)
	}
	task, err := v.Obj.Reconfigure(ctx, spec)
	if err == nil {
		err = taskwait.Done(ctx, task)
	}
	if err != nil {
		return fail(vm.FaultError(err, v.Name(), "attach the restored disk "+descPath))
	}
	if err := v.Refresh(ctx); err != nil {
		return nil, err
	}
	nd, err := v.Disk(descPath)
	if err != nil {
		return nil, err
	}
	out := &RestoredDisk{ID: nd.ID, Path: descPath, Set: cat.ID}
	if old != nil {
		out.Replaced = old.Path
		r.Log.Info("restore_disk: disk replaced", "vm", v.Name(), "disk", nd.ID, "set", cat.ID, "from", d.ID, "path", descPath, "replaced", old.Path, "kept", "the replaced disk's files stay on the datastore")
	} else {
		r.Log.Info("restore_disk: disk attached", "vm", v.Name(), "disk", nd.ID, "set", cat.ID, "from", d.ID, "path", descPath)
	}
	return out, nil
}

// diskSpec is the reconfiguration that attaches the disk file descPath
// (of the catalog disk d): in old's place, or on the first free unit of
// the controller of the VM's first disk (else its first SCSI controller).
func diskSpec(v *vm.VM, old *vm.Disk, descPath string, d *catalog.Disk) (types.VirtualMachineConfigSpec, error) {
	devs := object.VirtualDeviceList(v.MO().Config.Hardware.Device)
	backing := &types.VirtualDiskFlatVer2BackingInfo{
		VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: descPath},
		DiskMode:                     string(types.VirtualDiskModePersistent), ThinProvisioned: types.NewBool(d.Thin),
	}
	disk := &types.VirtualDisk{VirtualDevice: types.VirtualDevice{Key: -1, Backing: backing}, CapacityInBytes: d.Capacity, CapacityInKB: d.Capacity / 1024}
	var spec types.VirtualMachineConfigSpec
	if old != nil {
		od := devs.FindByKey(old.Key)
		if od == nil {
			return spec, &runtime.Error{Code: runtime.CodeNotFound, VM: v.Name(), Disk: old.ID, Message: "the disk to replace is gone"}
		}
		ovd := od.(*types.VirtualDisk)
		backing.DiskMode = cmp.Or(diskModeOf(ovd), backing.DiskMode)
		disk.ControllerKey, disk.UnitNumber = ovd.ControllerKey, ovd.UnitNumber
		// the old disk's files are kept: a replaced disk can be attached again
		spec.DeviceChange = append(spec.DeviceChange, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationRemove, Device: od})
	} else {
		var ctl types.BaseVirtualController
		for _, x := range devs.SelectByType((*types.VirtualDisk)(nil)) {
			if c, ok := devs.FindByKey(x.GetVirtualDevice().ControllerKey).(types.BaseVirtualController); ok {
				ctl = c
				break
			}
		}
		if ctl == nil {
			c, err := devs.FindDiskController("scsi")
			if err != nil {
				return spec, &runtime.Error{Code: runtime.CodeInvalidState, VM: v.Name(), Message: "the VM has no disk controller to attach the restored disk to: add one first", Err: err}
			}
			ctl = c
		}
		used := map[int32]bool{7: true} // a SCSI controller's own unit
		if _, isSCSI := ctl.(types.BaseVirtualSCSIController); !isSCSI {
			used = map[int32]bool{}
		}
		for _, x := range devs {
			if dv := x.GetVirtualDevice(); dv.ControllerKey == ctl.GetVirtualController().Key && dv.UnitNumber != nil {
				used[*dv.UnitNumber] = true
			}
		}
		unit := int32(-1)
		for u := int32(0); u < 16; u++ {
			if !used[u] {
				unit = u
				break
			}
		}
		if unit < 0 {
			return spec, &runtime.Error{Code: runtime.CodeInvalidState, VM: v.Name(), Message: "the VM's disk controller has no free unit for the restored disk: add a controller first"}
		}
		disk.ControllerKey, disk.UnitNumber = ctl.GetVirtualController().Key, &unit
	}
	spec.DeviceChange = append(spec.DeviceChange, &types.VirtualDeviceConfigSpec{Operation: types.VirtualDeviceConfigSpecOperationAdd, Device: disk})
	return spec, nil
}

// diskModeOf is a virtual disk's mode as its backing says ("" when it
// does not).
func diskModeOf(vd *types.VirtualDisk) string {
	if b, ok := vd.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
		return b.DiskMode
	}
	return ""
}

// datacenterOfVM finds the datacenter the VM is in.
func datacenterOfVM(ctx context.Context, v *vm.VM) (*object.Datacenter, error) {
	c := v.Obj.Client()
	ref := v.Ref
	for i := 0; i < 64; i++ {
		var me mo.ManagedEntity
		if err := v.Obj.Properties(ctx, ref, []string{"parent"}, &me); err != nil || me.Parent == nil {
			break
		}
		if me.Parent.Type == "Datacenter" {
			return object.NewDatacenter(c, *me.Parent), nil
		}
		ref = *me.Parent
	}
	return nil, &runtime.Error{Code: runtime.CodeNotFound, VM: v.Name(), Message: "cannot find the VM's datacenter"}
}
