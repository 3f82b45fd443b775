package vsim

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// RenameSnapshot changes a snapshot's name and description as ESXi does
// (vcsim has no RenameSnapshot): an empty name or description is left as
// it was; the VM's snapshot tree shows the change. vmlua renews the lease
// in its REDO logs' descriptions with it.
func (w *snapWrapper) RenameSnapshot(ctx *simulator.Context, req *types.RenameSnapshot) soap.HasFault {
	s := w.s
	fault := func(f types.BaseMethodFault) soap.HasFault {
		return &methods.RenameSnapshotBody{Fault_: simulator.Fault("", f)}
	}
	vm, ok := ctx.Map.Get(w.Vm).(*simulator.VirtualMachine)
	if !ok {
		return fault(&types.ManagedObjectNotFound{Obj: w.Self})
	}
	vs, err := s.adopt(vm.Self, false)
	if err != nil {
		return fault(&types.ManagedObjectNotFound{Obj: w.Self})
	}
	found := false
	ctx.WithLock(vm, func() {
		vs.mu.Lock()
		defer vs.mu.Unlock()
		for _, sn := range vs.snaps {
			if sn.ref != w.Self {
				continue
			}
			found = true
			if req.Name != "" {
				sn.tree.Name = req.Name
			}
			if req.Description != "" {
				sn.tree.Description = req.Description
			}
			s.syncVM(ctx, vm, vs, vm.Runtime.ConsolidationNeeded)
		}
	})
	if !found {
		return fault(&types.ManagedObjectNotFound{Obj: w.Self})
	}
	return &methods.RenameSnapshotBody{Res: new(types.RenameSnapshotResponse)}
}
