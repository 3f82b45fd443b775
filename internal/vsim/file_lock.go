package vsim

import (
	"net/http"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// File locks: the disk file a powered-on VM writes (the flat base of a
// disk without snapshot, or the data file of the top delta, independent
// disks included) is locked by the VM's vmx: a /folder GET or PUT of it
// fails with 500 Internal Server Error, "Failed to lock the file". A base
// under a snapshot, a delta under a newer one, and every file of a
// powered-off VM read.
//
// Sources: Xen Orchestra's vectura, measured on ESXi 7 and 8
// (@xen-orchestra/vmware-explorer/vectura/docs/reference/host-requirements-and-limits.md):
// "The link a running virtual machine writes to: No"; "A base link under a
// snapshot of a running virtual machine: Yes, and the bytes are frozen for
// the duration"; a file one reader holds cannot be opened by another
// ("DiskLib error 16392: Failed to lock the file") and "the datastore
// browser answers 500 while the disk is open".
//
// Options.NoFileLocks turns this behaviour off.

// lockedBy returns the name of the powered-on VM that writes the local
// file, if one does.
func (s *Sim) lockedBy(local string) (string, bool) {
	if s.opts.NoFileLocks {
		return "", false
	}
	vms := s.allVMs()
	for _, vs := range vms {
		vs.mu.Lock()
		writes := false
		for _, d := range vs.disks {
			if len(d.layers) > 0 && d.top().dataFile == local {
				writes = true
				break
			}
		}
		vs.mu.Unlock()
		if writes && s.poweredOn(vs.ref) {
			return vs.name, true
		}
	}
	return "", false
}

func (s *Sim) poweredOn(ref types.ManagedObjectReference) bool {
	vm, ok := s.reg.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return false
	}
	var on bool
	s.bgContext().WithLock(vm, func() { on = vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn })
	return on
}

// lockedFile answers a request for a file a running VM holds.
func lockedFile(w http.ResponseWriter, vm string) {
	http.Error(w, "500 Internal Server Error: Failed to lock the file (the disk of the running virtual machine "+vm+")", http.StatusInternalServerError)
}

// DatastoreFile returns the local file behind "[ds] path": what the
// datastore holds, for a test to read on the simulator's side (as from
// the ESXi shell), locks or not.
func (s *Sim) DatastoreFile(dsPath string) (string, error) { return s.dsLocal(dsPath) }
