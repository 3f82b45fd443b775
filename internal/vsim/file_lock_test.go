package vsim

import (
	"net/http"
	"testing"
)

// A running VM's live disk (its base without snapshot, its top delta
// with one) cannot be read; a base under a snapshot, and a powered-off
// VM's disk, can.
func TestRunningVMsLiveDiskIsLocked(t *testing.T) {
	s, c := startSim(t, Options{VMs: 1})
	addr, _ := s.HostAddress(hostOf(t, s, c, "VM1"))
	get := func(p string) int {
		code, _ := rawGet(t, addr, "LocalDS_0", p, withCookie(c))
		return code
	}
	if got := get("VM1/VM1-flat.vmdk"); got != http.StatusInternalServerError {
		t.Fatalf("GET of a running VM's base: %d, want 500", got)
	}
	if got := get("VM1/VM1.vmdk"); got != http.StatusOK {
		t.Fatalf("GET of its descriptor: %d", got)
	}
	vm := findVM(t, c, "VM1")
	snapshot(t, vm, "s1")
	if got := get("VM1/VM1-flat.vmdk"); got != http.StatusOK {
		t.Fatalf("GET of the base under a snapshot: %d", got)
	}
	if got := get("VM1/VM1-000001-delta.vmdk"); got != http.StatusInternalServerError {
		t.Fatalf("GET of the running delta: %d, want 500", got)
	}
	snapshot(t, vm, "s2")
	if got := get("VM1/VM1-000001-delta.vmdk"); got != http.StatusOK {
		t.Fatalf("GET of a delta under a newer one: %d", got)
	}
	powerOff(t, vm)
	if got := get("VM1/VM1-000002-delta.vmdk"); got != http.StatusOK {
		t.Fatalf("GET of a powered-off VM's top delta: %d", got)
	}
	if st := s.FolderStats(s.hostOfVM(vm.Reference()).name); st.Locked != 2 {
		t.Fatalf("stats %+v, want 2 locked", st)
	}
}

// NoFileLocks turns the locks off, for a test that needs them off.
func TestNoFileLocksReadsTheLiveDisk(t *testing.T) {
	s, c := startSim(t, Options{VMs: 1, NoFileLocks: true})
	if got, _ := rawGet(t, s.URL.Host, "LocalDS_0", "VM1/VM1-flat.vmdk", withCookie(c)); got != http.StatusOK {
		t.Fatalf("GET: %d", got)
	}
}
