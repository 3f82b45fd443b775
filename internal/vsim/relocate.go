package vsim

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// RelocateVM_Task to another datastore is a storage migration (Storage
// vMotion): the VM keeps running while its files are copied, disks
// through their chain, to the same folder on the target datastore; it
// then runs from the copies and the source files are removed, as ESXi
// does (notes/real-vsphere.md). Stock vcsim only changes the datastore
// property. A VM with snapshots is refused (NotSupported: vsim models
// their REDO chains on one datastore). A move without a datastore is
// stock vcsim's.

func (w *vmWrapper) RelocateVMTask(ctx *simulator.Context, req *types.RelocateVM_Task) soap.HasFault {
	s, vm := w.s, w.VirtualMachine
	if req.Spec.Datastore == nil {
		return vm.RelocateVMTask(ctx, req)
	}
	ref := s.runTask(ctx, vm, "relocateVm", func(tctx *simulator.Context, _ *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		ds, ok := tctx.Map.Get(*req.Spec.Datastore).(*simulator.Datastore)
		if !ok {
			return nil, &types.ManagedObjectNotFound{Obj: *req.Spec.Datastore}
		}
		vs, err := s.adopt(vm.Self, false)
		if err != nil {
			return nil, withMessage(&types.InvalidState{}, err.Error())
		}
		var fault types.BaseMethodFault
		tctx.WithLock(vm, func() {
			vs.mu.Lock()
			defer vs.mu.Unlock()
			fault = s.relocateLocked(tctx, vm, vs, ds)
		})
		return nil, fault
	})
	return &methods.RelocateVM_TaskBody{Res: &types.RelocateVM_TaskResponse{Returnval: ref}}
}

func (s *Sim) relocateLocked(ctx *simulator.Context, vm *simulator.VirtualMachine, vs *vmState, ds *simulator.Datastore) types.BaseMethodFault {
	if len(vs.snaps) > 0 {
		return withMessage(&types.NotSupported{}, "vsim relocates a VM without snapshots only: remove them first")
	}
	destDir, ok := s.dsDir(ds.Name)
	if !ok {
		return withMessage(&types.InvalidDatastore{Name: ds.Name}, "vsim has no folder for datastore "+ds.Name)
	}
	oldVMX := vm.Config.Files.VmPathName
	if dsPathName(oldVMX) == ds.Name {
		return nil // already there
	}
	oldLocal, err := s.dsLocal(oldVMX)
	if err != nil {
		return withMessage(&types.InvalidDatastorePath{DatastorePath: oldVMX}, err.Error())
	}
	folder := path.Dir(dsPathPath(oldVMX))
	newDir := filepath.Join(destDir, filepath.FromSlash(folder))
	if err := os.MkdirAll(newDir, 0o755); err != nil {
		return withMessage(&types.CannotCreateFile{FileFault: types.FileFault{File: newDir}}, err.Error())
	}
	fail := func(file string, err error) types.BaseMethodFault {
		return withMessage(&types.CannotCreateFile{FileFault: types.FileFault{File: file}}, fmt.Sprintf("relocate %s: %s: %v", vs.name, file, err))
	}
	// the disks, through their chains, sparse
	var moved []*layer
	var old [][]*layer
	diskFiles := map[string]bool{}
	for _, d := range vs.disks {
		base := d.layers[0]
		name := path.Base(dsPathPath(base.dsPath))
		nl := &layer{dsPath: fmt.Sprintf("[%s] %s/%s", ds.Name, folder, name), descFile: filepath.Join(newDir, name), cid: base.cid}
		nl.dataFile = strings.TrimSuffix(nl.descFile, ".vmdk") + "-flat.vmdk"
		f, err := os.OpenFile(nl.dataFile, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return fail(nl.dataFile, err)
		}
		nl.f = f
		if err := f.Truncate(d.capacity); err != nil {
			return fail(nl.dataFile, err)
		}
		buf := make([]byte, 1<<20)
		for off := int64(0); off < d.capacity; off += int64(len(buf)) {
			n, err := d.readAt(len(d.layers)-1, buf, off)
			if err != nil && err != io.EOF {
				return fail(base.dataFile, err)
			}
			if !bytes.Equal(buf[:n], make([]byte, n)) {
				if _, err := f.WriteAt(buf[:n], off); err != nil {
					return fail(nl.dataFile, err)
				}
			}
		}
		for _, l := range d.layers {
			diskFiles[filepath.Base(l.descFile)], diskFiles[filepath.Base(l.dataFile)] = true, true
		}
		moved = append(moved, nl)
		old = append(old, d.layers)
	}
	// the other files of the folder (nvram, logs), the .vmx last
	srcDir := filepath.Dir(oldLocal)
	des, _ := os.ReadDir(srcDir)
	var others []string
	for _, de := range des {
		n := de.Name()
		if de.IsDir() || diskFiles[n] || n == filepath.Base(oldLocal) || strings.HasSuffix(n, ".lck") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(srcDir, n))
		if err != nil {
			return fail(n, err)
		}
		if err := os.WriteFile(filepath.Join(newDir, n), b, 0o644); err != nil {
			return fail(n, err)
		}
		others = append(others, n)
	}
	// switch: the VM runs from the copies
	for i, d := range vs.disks {
		for _, l := range d.layers {
			l.f.Close()
		}
		d.layers = []*layer{moved[i]}
		d.dsName = ds.Name
		if err := d.writeDescriptor(0); err != nil {
			return fail(moved[i].descFile, err)
		}
	}
	newVMX := fmt.Sprintf("[%s] %s/%s", ds.Name, folder, path.Base(dsPathPath(oldVMX)))
	files := vm.Config.Files
	files.VmPathName = newVMX
	for _, p := range []*string{&files.LogDirectory, &files.SnapshotDirectory, &files.SuspendDirectory} {
		*p = fmt.Sprintf("[%s] %s/", ds.Name, folder)
	}
	for _, oldDS := range vm.Datastore {
		if o, ok := ctx.Map.Get(oldDS).(*simulator.Datastore); ok {
			ctx.Map.RemoveReference(ctx, o, &o.Vm, vm.Self)
		}
	}
	ctx.Map.AddReference(ctx, ds, &ds.Vm, vm.Self)
	ctx.Update(vm, []types.PropertyChange{
		{Name: "config.files", Val: files},
		{Name: "summary.config.vmPathName", Val: newVMX},
		{Name: "datastore", Val: []types.ManagedObjectReference{ds.Self}},
	})
	// a migration records the new location: the next power-on does not
	// ask whether the VM was moved (uuid_question.go)
	if vs.uuidLocation != "" {
		vs.uuidLocation = uuidLocation(newVMX)
	}
	s.syncVM(ctx, vm, vs, false) // backings, layoutEx, the .vmx at its new place
	// the source files go, as after a Storage vMotion
	for _, ls := range old {
		for _, l := range ls {
			os.Remove(l.dataFile)
			os.Remove(l.descFile)
		}
	}
	for _, n := range others {
		os.Remove(filepath.Join(srcDir, n))
	}
	os.Remove(oldLocal)
	s.logf("vsim: %s relocated to %s", vs.name, newVMX)
	return nil
}
