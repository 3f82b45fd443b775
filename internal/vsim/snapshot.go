package vsim

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Snapshots are REDO logs: CreateSnapshot freezes the top of every
// non-independent disk's chain and adds a delta above it; RemoveSnapshot
// drops the snapshot and consolidates: every level of a chain that neither a
// snapshot nor the running VM needs any more is merged away (its upper
// neighbour merged into it). Only linear snapshot chains are modelled.

func (w *vmWrapper) CreateSnapshotTask(ctx *simulator.Context, req *types.CreateSnapshot_Task) soap.HasFault {
	return &methods.CreateSnapshot_TaskBody{Res: &types.CreateSnapshot_TaskResponse{
		Returnval: w.s.createSnapshot(ctx, w.VirtualMachine, req.Name, req.Description, req.Memory, req.Quiesce),
	}}
}

func (w *vmWrapper) CreateSnapshotExTask(ctx *simulator.Context, req *types.CreateSnapshotEx_Task) soap.HasFault {
	return &methods.CreateSnapshotEx_TaskBody{Res: &types.CreateSnapshotEx_TaskResponse{
		Returnval: w.s.createSnapshot(ctx, w.VirtualMachine, req.Name, req.Description, req.Memory, req.QuiesceSpec != nil),
	}}
}

func (w *vmWrapper) RemoveAllSnapshotsTask(ctx *simulator.Context, req *types.RemoveAllSnapshots_Task) soap.HasFault {
	s, vm := w.s, w.VirtualMachine
	ref := s.runTask(ctx, vm, "removeAllSnapshots", func(tctx *simulator.Context, _ *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return nil, s.removeSnapshots(tctx, vm, nil, false, "RemoveAllSnapshots_Task")
	})
	return &methods.RemoveAllSnapshots_TaskBody{Res: &types.RemoveAllSnapshots_TaskResponse{Returnval: ref}}
}

func (w *vmWrapper) ConsolidateVMDisksTask(ctx *simulator.Context, req *types.ConsolidateVMDisks_Task) soap.HasFault {
	s, vm := w.s, w.VirtualMachine
	ref := s.runTask(ctx, vm, "consolidateDisks", func(tctx *simulator.Context, _ *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		vs, err := s.adopt(vm.Self, false)
		if err != nil {
			return nil, &types.NotFound{}
		}
		var fault types.BaseMethodFault
		tctx.WithLock(vm, func() {
			vs.mu.Lock()
			defer vs.mu.Unlock()
			fault = s.consolidate(vs, "ConsolidateVMDisks_Task")
			s.syncVM(tctx, vm, vs, fault != nil)
		})
		return nil, fault
	})
	return &methods.ConsolidateVMDisks_TaskBody{Res: &types.ConsolidateVMDisks_TaskResponse{Returnval: ref}}
}

func (w *vmWrapper) RefreshStorageInfo(ctx *simulator.Context, req *types.RefreshStorageInfo) soap.HasFault {
	// the stock one renumbers layoutEx.file and breaks snapshot dataKeys
	if vs, err := w.s.adopt(w.Self, false); err == nil {
		vs.mu.Lock()
		ctx.Update(w.VirtualMachine, []types.PropertyChange{{Name: "layoutEx", Val: w.s.layoutEx(w.VirtualMachine, vs)}})
		vs.mu.Unlock()
	}
	return &methods.RefreshStorageInfoBody{Res: new(types.RefreshStorageInfoResponse)}
}

func (w *vmWrapper) RevertToCurrentSnapshotTask(ctx *simulator.Context, req *types.RevertToCurrentSnapshot_Task) soap.HasFault {
	return &methods.RevertToCurrentSnapshot_TaskBody{Fault_: simulator.Fault("vmlua sim: reverting disk content is not simulated", &types.NotSupported{})}
}

func (w *snapWrapper) RevertToSnapshotTask(ctx *simulator.Context, req *types.RevertToSnapshot_Task) soap.HasFault {
	return &methods.RevertToSnapshot_TaskBody{Fault_: simulator.Fault("vmlua sim: reverting disk content is not simulated", &types.NotSupported{})}
}

func (w *snapWrapper) RemoveSnapshotTask(ctx *simulator.Context, req *types.RemoveSnapshot_Task) soap.HasFault {
	s := w.s
	vm, ok := ctx.Map.Get(w.Vm).(*simulator.VirtualMachine)
	if !ok {
		return &methods.RemoveSnapshot_TaskBody{Fault_: simulator.Fault("", &types.ManagedObjectNotFound{Obj: w.Vm})}
	}
	snap := w.Self
	ref := s.runTask(ctx, vm, "removeSnapshot", func(tctx *simulator.Context, _ *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return nil, s.removeSnapshots(tctx, vm, &snap, req.RemoveChildren, "RemoveSnapshot_Task")
	})
	return &methods.RemoveSnapshot_TaskBody{Res: &types.RemoveSnapshot_TaskResponse{Returnval: ref}}
}

func (s *Sim) createSnapshot(ctx *simulator.Context, vm *simulator.VirtualMachine, name, desc string, memory, quiesce bool) types.ManagedObjectReference {
	return s.runTask(ctx, vm, "createSnapshot", func(tctx *simulator.Context, _ *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		vs, err := s.adopt(vm.Self, false)
		if err != nil {
			return nil, &types.NotFound{}
		}
		if f := s.taskFault("CreateSnapshot_Task", vs.name, PointStart); f != nil {
			return nil, f
		}
		vs.mu.Lock()
		depth := len(vs.snaps)
		vs.mu.Unlock()
		if depth >= MaxSnapshotLevels { // snapshot_tree.go: ESXi 8
			return nil, withMessage(&types.TooManySnapshotLevels{}, fmt.Sprintf("Cannot create a snapshot of %s: it already has %d snapshot levels, the most ESXi allows. Remove a snapshot and try again.", vs.name, depth))
		}
		if s.opts.MaxRedo >= 0 && depth >= s.opts.MaxRedo {
			text := fmt.Sprintf("Cannot create a REDO log for %s: the virtual machine already has %d, the maximum. Commit a REDO log and try again.", vs.name, depth)
			q, err := s.raise(vs, text, plainChoices([]string{"OK"}), 0, "msg.vmlua.redo.maxDepth")
			if err != nil {
				return nil, withMessage(&types.InvalidState{}, err.Error())
			}
			if _, err := q.Wait(s.ctx); err != nil {
				return nil, &types.RequestCanceled{}
			}
			return nil, withMessage(&types.TooManySnapshotLevels{}, text)
		}
		var snapRef types.ManagedObjectReference
		var fault types.BaseMethodFault
		tctx.WithLock(vm, func() {
			vs.mu.Lock()
			defer vs.mu.Unlock()
			snapRef, fault = s.createSnapshotLocked(tctx, vm, vs, name, desc, memory, quiesce)
		})
		if fault != nil {
			return nil, fault
		}
		if f := s.taskFault("CreateSnapshot_Task", vs.name, PointEnd); f != nil {
			return nil, f
		}
		return snapRef, nil
	})
}

func (s *Sim) createSnapshotLocked(ctx *simulator.Context, vm *simulator.VirtualMachine, vs *vmState, name, desc string, memory, quiesce bool) (types.ManagedObjectReference, types.BaseMethodFault) {
	sn := &snapState{frozen: map[string]*layer{}, seq: vs.seq}
	if vm.Config.ChangeTrackingEnabled != nil && *vm.Config.ChangeTrackingEnabled {
		sn.changeId = changeIDPrefix(vs) + strconv.FormatUint(vs.seq, 10)
	}
	var added []*disk
	for _, d := range vs.disks {
		if d.independent {
			continue
		}
		dir, ok := s.dsDir(d.dsName)
		if !ok {
			return types.ManagedObjectReference{}, &types.InvalidDatastore{Name: d.dsName}
		}
		top := d.top()
		if err := d.addDelta(dir); err != nil {
			for _, a := range added {
				a.drop(len(a.layers) - 1)
			}
			return types.ManagedObjectReference{}, withMessage(&types.CannotCreateFile{FileFault: types.FileFault{File: d.dsName}}, err.Error())
		}
		added = append(added, d)
		sn.frozen[d.id] = top
	}
	state := vm.Runtime.PowerState
	if !memory {
		state = types.VirtualMachinePowerStatePoweredOff
	}
	s.newSnapshotObject(ctx, vm, sn, name, desc, state, quiesce, time.Now())
	// .vmsn next to the .vmx
	vmx := vm.Config.Files.VmPathName
	if local, err := s.dsLocal(vmx); err == nil {
		for i := 1; ; i++ {
			fn := fmt.Sprintf("%s-Snapshot%d.vmsn", vs.name, i)
			p := filepath.Join(filepath.Dir(local), fn)
			f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if os.IsExist(err) {
				continue
			}
			if err == nil {
				fmt.Fprintf(f, "vmlua simulated snapshot %q of %s\n", name, vs.name)
				f.Close()
				sn.vmsn = fmt.Sprintf("[%s] %s", dsPathName(vmx), path.Join(path.Dir(dsPathPath(vmx)), fn))
			}
			break
		}
	}
	vs.snapCounter++
	sn.tree.Id = int32(vs.snapCounter)
	vs.snaps = append(vs.snaps, sn)
	s.syncVM(ctx, vm, vs, false)
	return sn.ref, nil
}

// newSnapshotObject puts the snapshot's managed object in the inventory and
// fills sn's tree entry.
func (s *Sim) newSnapshotObject(ctx *simulator.Context, vm *simulator.VirtualMachine, sn *snapState, name, desc string, state types.VirtualMachinePowerState, quiesce bool, created time.Time) {
	snap := &simulator.VirtualMachineSnapshot{}
	snap.Vm = vm.Self
	snap.Config = *copyConfig(vm.Config)
	ctx.Map.Put(snap)
	sn.ref = snap.Self
	sn.tree = types.VirtualMachineSnapshotTree{
		Snapshot:        snap.Self,
		Vm:              vm.Self,
		Name:            name,
		Description:     desc,
		CreateTime:      created,
		State:           state,
		Quiesced:        quiesce,
		ReplaySupported: types.NewBool(false),
	}
}

// removeSnapshots removes snapshot ref (and, with children, those above it),
// or all snapshots when ref is nil, then consolidates.
func (s *Sim) removeSnapshots(ctx *simulator.Context, vm *simulator.VirtualMachine, ref *types.ManagedObjectReference, children bool, method string) types.BaseMethodFault {
	vs, err := s.adopt(vm.Self, false)
	if err != nil {
		return &types.NotFound{}
	}
	if f := s.taskFault(method, vs.name, PointStart); f != nil {
		return f
	}
	var fault types.BaseMethodFault
	var removed []*snapState
	ctx.WithLock(vm, func() {
		vs.mu.Lock()
		defer vs.mu.Unlock()
		var keep []*snapState
		if ref != nil {
			k := vs.snapIndex(*ref)
			if k < 0 {
				fault = &types.ManagedObjectNotFound{Obj: *ref}
				return
			}
			keep = append(keep, vs.snaps[:k]...)
			if !children {
				keep = append(keep, vs.snaps[k+1:]...)
				removed = []*snapState{vs.snaps[k]}
			} else {
				removed = vs.snaps[k:]
			}
		} else {
			removed = vs.snaps
		}
		vs.snaps = keep
		// as on ESX, the snapshot leaves the tree even if the merge fails;
		// runtime.consolidationNeeded then tells ConsolidateVMDisks to finish.
		fault = s.consolidate(vs, method)
		s.syncVM(ctx, vm, vs, fault != nil)
	})
	for _, sn := range removed {
		if sn.vmsn != "" {
			if p, err := s.dsLocal(sn.vmsn); err == nil {
				os.Remove(p)
			}
		}
		ctx.Map.Remove(ctx, sn.ref)
	}
	if fault == nil {
		fault = s.taskFault(method, vs.name, PointEnd)
	}
	return fault
}

// consolidate merges away every level of every chain that is neither the
// top nor frozen by a snapshot. Caller holds the VM lock and vs.mu.
func (s *Sim) consolidate(vs *vmState, method string) types.BaseMethodFault {
	var injected types.BaseMethodFault
	midway := func() error {
		if f := s.taskFault(method, vs.name, PointMerge); f != nil {
			injected = f
			return fmt.Errorf("injected fault")
		}
		return nil
	}
	for _, d := range vs.disks {
		for j := len(d.layers) - 2; j >= 0; j-- {
			if vs.levelNeeded(d, j) {
				continue
			}
			if err := d.mergeCopy(j+1, midway); err != nil {
				if injected != nil {
					return injected
				}
				return withMessage(&types.GenericVmConfigFault{}, fmt.Sprintf("consolidate %s: %v", d.id, err))
			}
			up := d.layers[j+1]
			for _, sn := range vs.snaps {
				if sn.frozen[d.id] == up {
					sn.frozen[d.id] = d.layers[j]
				}
			}
			d.drop(j + 1)
		}
	}
	return nil
}

// levelNeeded: the chain state at layers[j] is the running disk or some
// snapshot's frozen state.
func (vs *vmState) levelNeeded(d *disk, j int) bool {
	if j == len(d.layers)-1 {
		return true
	}
	for _, sn := range vs.snaps {
		if sn.frozen[d.id] == d.layers[j] {
			return true
		}
	}
	return false
}

// level returns the index of the layer snapshot sn froze of d (the top for a
// disk it did not freeze, i.e. an independent one).
func (d *disk) level(sn *snapState) int {
	if sn != nil {
		if l, ok := sn.frozen[d.id]; ok {
			for i, x := range d.layers {
				if x == l {
					return i
				}
			}
		}
	}
	return len(d.layers) - 1
}

// chainBacking builds the backing of d's chain up to level, Parent linked.
func chainBacking(tmpl *types.VirtualDiskFlatVer2BackingInfo, d *disk, level int, changeId string) *types.VirtualDiskFlatVer2BackingInfo {
	var parent *types.VirtualDiskFlatVer2BackingInfo
	for i := 0; i <= level; i++ {
		b := *tmpl
		b.Parent = parent
		b.FileName = d.layers[i].dsPath
		b.ContentId = fmt.Sprintf("%08x", d.layers[i].cid)
		b.ChangeId = ""
		b.Uuid = d.uuid
		if i == level {
			b.ChangeId = changeId
		}
		parent = &b
	}
	return parent
}

// disksAt returns a copy of devices whose disks are backed by their chains at
// snapshot sn (nil: the running state).
// live is the changeId of the running state's backings (liveChangeID).
func (vs *vmState) disksAt(devices []types.BaseVirtualDevice, sn *snapState, live string) []types.BaseVirtualDevice {
	out := make([]types.BaseVirtualDevice, 0, len(devices))
	for _, dev := range devices {
		vd, ok := dev.(*types.VirtualDisk)
		if !ok {
			out = append(out, dev)
			continue
		}
		d := vs.diskByKey(vd.Key)
		b, ok := vd.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if d == nil || !ok {
			out = append(out, dev)
			continue
		}
		cp := *vd
		changeId := live
		if sn != nil {
			changeId = sn.changeId
		}
		cp.Backing = chainBacking(b, d, d.level(sn), changeId)
		out = append(out, &cp)
	}
	return out
}

// syncVM publishes vs (backings, snapshot tree, snapshot configs, layoutEx)
// on the VM. Caller holds the VM lock (ctx) and vs.mu.
func (s *Sim) syncVM(ctx *simulator.Context, vm *simulator.VirtualMachine, vs *vmState, consolidationNeeded bool) {
	devices := vs.disksAt(vm.Config.Hardware.Device, nil, liveChangeID(vm, vs))
	changes := []types.PropertyChange{{Name: "config.hardware.device", Val: devices}}
	var next []types.VirtualMachineSnapshotTree
	for i := len(vs.snaps) - 1; i >= 0; i-- {
		sn := vs.snaps[i]
		item := sn.tree
		item.ChildSnapshotList = next
		next = []types.VirtualMachineSnapshotTree{item}
		if obj, ok := ctx.Map.Get(sn.ref).(*simulator.VirtualMachineSnapshot); ok {
			ctx.WithLock(obj, func() {
				cfg := copyConfig(&obj.Config)
				cfg.Hardware.Device = vs.disksAt(cfg.Hardware.Device, sn, "")
				obj.Config = *cfg
				obj.ChildSnapshot = nil
				if i+1 < len(vs.snaps) {
					obj.ChildSnapshot = []types.ManagedObjectReference{vs.snaps[i+1].ref}
				}
			})
		}
	}
	if len(vs.snaps) == 0 {
		changes = append(changes,
			types.PropertyChange{Name: "snapshot", Val: nil},
			types.PropertyChange{Name: "rootSnapshot", Val: nil})
	} else {
		cur := vs.snaps[len(vs.snaps)-1].ref
		changes = append(changes,
			types.PropertyChange{Name: "snapshot", Val: &types.VirtualMachineSnapshotInfo{CurrentSnapshot: &cur, RootSnapshotList: next}},
			types.PropertyChange{Name: "rootSnapshot", Val: []types.ManagedObjectReference{vs.snaps[0].ref}})
	}
	ctx.Update(vm, changes)
	if err := s.writeVMSDLocked(vm.Config, vs); err != nil { // before layoutEx, which lists it
		s.logf("vsim: %s: write vmsd: %v", vs.name, err)
	}
	ctx.Update(vm, []types.PropertyChange{
		{Name: "layoutEx", Val: s.layoutEx(vm, vs)},
		{Name: "runtime.consolidationNeeded", Val: consolidationNeeded},
	})
	if err := s.writeVMXLocked(vm.Config, vs); err != nil {
		s.logf("vsim: %s: write vmx: %v", vs.name, err)
	}
}

// layoutEx lists the VM's files: vmx, nvram, log, each disk's chain
// (descriptor and data file per layer) and each snapshot's .vmsn.
func (s *Sim) layoutEx(vm *simulator.VirtualMachine, vs *vmState) *types.VirtualMachineFileLayoutEx {
	lx := &types.VirtualMachineFileLayoutEx{Timestamp: time.Now()}
	// allocated: a delta's data file is sparse here (written at the
	// image's offsets); on ESXi a REDO log's file grows with the grains
	// written, and its size is those
	add := func(name, typ string, allocated bool) int32 {
		key := int32(len(lx.File))
		var size int64
		if p, err := s.dsLocal(name); err == nil {
			if fi, err := os.Stat(p); err == nil {
				size = fi.Size()
				if st, ok := fi.Sys().(*syscall.Stat_t); ok && allocated {
					size = min(size, st.Blocks*512)
				}
			}
		}
		lx.File = append(lx.File, types.VirtualMachineFileLayoutExFileInfo{
			Key: key, Name: name, Type: typ, Size: size, UniqueSize: size, Accessible: types.NewBool(true),
		})
		return key
	}
	vmx := vm.Config.Files.VmPathName
	add(vmx, string(types.VirtualMachineFileLayoutExFileTypeConfig), false)
	dir := path.Dir(dsPathPath(vmx))
	ds := dsPathName(vmx)
	for _, f := range []struct{ name, typ string }{
		{vs.name + ".nvram", string(types.VirtualMachineFileLayoutExFileTypeNvram)},
		{"vmware.log", string(types.VirtualMachineFileLayoutExFileTypeLog)},
	} {
		p := fmt.Sprintf("[%s] %s", ds, path.Join(dir, f.name))
		if l, err := s.dsLocal(p); err == nil {
			if _, err := os.Stat(l); err == nil {
				add(p, f.typ, false)
			}
		}
	}
	if p, local, err := s.vmsdPath(vm.Config, vs); err == nil {
		if _, err := os.Stat(local); err == nil {
			add(p, string(types.VirtualMachineFileLayoutExFileTypeSnapshotList), false)
		}
	}
	layerKeys := map[*layer][]int32{}
	for _, d := range vs.disks {
		for i, l := range d.layers {
			dk := add(l.dsPath, string(types.VirtualMachineFileLayoutExFileTypeDiskDescriptor), false)
			if d.kind.isObjectStore() {
				// vSAN, vVols: the disk is an object, no extent file
				layerKeys[l] = []int32{dk}
				continue
			}
			data := fmt.Sprintf("[%s] %s", d.dsName, path.Join(path.Dir(dsPathPath(l.dsPath)), filepath.Base(l.dataFile)))
			ek := add(data, string(types.VirtualMachineFileLayoutExFileTypeDiskExtent), i > 0)
			layerKeys[l] = []int32{dk, ek}
		}
	}
	chain := func(d *disk, level int) types.VirtualMachineFileLayoutExDiskLayout {
		dl := types.VirtualMachineFileLayoutExDiskLayout{Key: d.key}
		for i := 0; i <= level; i++ {
			dl.Chain = append(dl.Chain, types.VirtualMachineFileLayoutExDiskUnit{FileKey: layerKeys[d.layers[i]]})
		}
		return dl
	}
	for _, d := range vs.disks {
		lx.Disk = append(lx.Disk, chain(d, len(d.layers)-1))
	}
	for _, sn := range vs.snaps {
		sl := types.VirtualMachineFileLayoutExSnapshotLayout{Key: sn.ref, DataKey: -1, MemoryKey: -1}
		if sn.vmsn != "" {
			sl.DataKey = add(sn.vmsn, string(types.VirtualMachineFileLayoutExFileTypeSnapshotData), false)
		}
		for _, d := range vs.disks {
			sl.Disk = append(sl.Disk, chain(d, d.level(sn)))
		}
		lx.Snapshot = append(lx.Snapshot, sl)
	}
	return lx
}

// copyConfig copies a config deep enough that changing its device list or a
// disk's backing does not touch the original.
func copyConfig(src *types.VirtualMachineConfigInfo) *types.VirtualMachineConfigInfo {
	cfg := *src
	cfg.Hardware.Device = make([]types.BaseVirtualDevice, 0, len(src.Hardware.Device))
	for _, dev := range src.Hardware.Device {
		if vd, ok := dev.(*types.VirtualDisk); ok {
			cp := *vd
			if b, ok := vd.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
				bb := *b
				cp.Backing = &bb
			}
			dev = &cp
		}
		cfg.Hardware.Device = append(cfg.Hardware.Device, dev)
	}
	cfg.ExtraConfig = append([]types.BaseOptionValue(nil), src.ExtraConfig...)
	return &cfg
}

func (s *Sim) dsDir(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.dsDirs[name]
	return d, ok
}
