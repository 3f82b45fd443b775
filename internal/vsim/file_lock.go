package vsim

import (
	"net/http"
	"sync"

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
// The same holds while an NFC export streams a disk (nfc_lease.go): the
// files of the chain it reads are open, and a /folder GET or PUT of one of
// them fails with 500 until the stream ends (notes/real-vsphere.md, "the
// file service answers 500 while NFC has the disk open").
//
// Options.NoFileLocks turns this behaviour off.

// lockedBy returns the name of the powered-on VM that writes the local
// file, if one does.
func (s *Sim) lockedBy(local string) (string, bool) {
	if s.opts.NoFileLocks {
		return "", false
	}
	s.nfcOpen.Lock()
	n := s.nfcOpen.files[local]
	s.nfcOpen.Unlock()
	if n > 0 {
		return "an NFC export", true
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
	holder := "the disk of the running virtual machine " + vm
	if vm == "an NFC export" {
		holder = "open by an NFC export"
	}
	http.Error(w, "500 Internal Server Error: Failed to lock the file ("+holder+")", http.StatusInternalServerError)
}

// nfcFiles counts the files NFC exports hold open.
type nfcFiles struct {
	sync.Mutex
	files map[string]int
}

// holdNFC marks the files an export stream reads as open until release.
func (s *Sim) holdNFC(files []string) (release func()) {
	s.nfcOpen.Lock()
	if s.nfcOpen.files == nil {
		s.nfcOpen.files = map[string]int{}
	}
	for _, f := range files {
		s.nfcOpen.files[f]++
	}
	s.nfcOpen.Unlock()
	return func() {
		s.nfcOpen.Lock()
		for _, f := range files {
			if s.nfcOpen.files[f]--; s.nfcOpen.files[f] <= 0 {
				delete(s.nfcOpen.files, f)
			}
		}
		s.nfcOpen.Unlock()
	}
}

// DatastoreFile returns the local file behind "[ds] path": what the
// datastore holds, for a test to read on the simulator's side (as from
// the ESXi shell), locks or not.
func (s *Sim) DatastoreFile(dsPath string) (string, error) { return s.dsLocal(dsPath) }
