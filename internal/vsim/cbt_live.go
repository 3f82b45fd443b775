package vsim

import (
	"strconv"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// A powered-off VM with changed block tracking carries a changeId on the
// backing of each live disk (config.hardware.device), as ESXi stamps one
// when the disk is closed: a backup of a powered-off VM reads it there (no
// snapshot needed) and later asks QueryChangedDiskAreas for the changes
// since it. It is "52 <vm>/<n>", n the guest's write count at power-off,
// the same form snapshots carry (cbt.go). While the VM runs, the live
// backing carries its current snapshot's changeId, or none.
//
// Source: vSphere API reference, VirtualDiskFlatVer2BackingInfo.changeId
// ("The change ID of the virtual disk for the corresponding
// snapshot or virtual machine"); QueryChangedDiskAreas on a powered-off VM
// without a snapshot (notes/real-vsphere.md, "Changed block tracking":
// "without a snapshot it works only for powered-off VMs").

// liveChangeID returns the changeId the live disks of vm carry.
// Caller holds vs.mu.
func liveChangeID(vm *simulator.VirtualMachine, vs *vmState) string {
	if len(vs.snaps) > 0 {
		return vs.snaps[len(vs.snaps)-1].changeId
	}
	if vm.Config == nil || vm.Config.ChangeTrackingEnabled == nil || !*vm.Config.ChangeTrackingEnabled {
		return ""
	}
	if vm.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
		return ""
	}
	return changeIDPrefix(vs) + strconv.FormatUint(vs.seq, 10)
}

// publishLiveChangeID updates the live disks' backings (their changeId).
// Caller holds the VM's lock (ctx) and vs.mu.
func (s *Sim) publishLiveChangeID(ctx *simulator.Context, vm *simulator.VirtualMachine, vs *vmState) {
	ctx.Update(vm, []types.PropertyChange{{Name: "config.hardware.device", Val: vs.disksAt(vm.Config.Hardware.Device, nil, liveChangeID(vm, vs))}})
}

// powerWatch is a registry handler that publishes the live changeId when
// a VM's power state changes (vcsim's power tasks update
// runtime.powerState through the registry).
type powerWatch struct{ s *Sim }

func (p powerWatch) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "VmluaPowerWatch", Value: "power-watch"}
}

func (p powerWatch) PutObject(*simulator.Context, mo.Reference)                    {}
func (p powerWatch) RemoveObject(*simulator.Context, types.ManagedObjectReference) {}

func (p powerWatch) UpdateObject(ctx *simulator.Context, obj mo.Reference, changes []types.PropertyChange) {
	if obj.Reference().Type != "VirtualMachine" {
		return
	}
	power := false
	for _, ch := range changes {
		power = power || ch.Name == "runtime.powerState"
	}
	if !power {
		return
	}
	s := p.s
	s.mu.Lock()
	vs, ok := s.vms[obj.Reference().Value]
	s.mu.Unlock()
	vm, isVM := s.reg.Get(obj.Reference()).(*simulator.VirtualMachine)
	if !ok || !isVM {
		return
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	s.publishLiveChangeID(ctx, vm, vs)
}
