package backup_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// hostSite is a simulator whose VM1 was backed up; its cluster (the
// resource pool VM1 lives in) has three hosts, DC0_C0_H0..2.
type hostSite struct {
	*simtest.Env
	dsDir string
	set   string
}

func newHostSite(t *testing.T) *hostSite {
	t.Helper()
	dsDir := t.TempDir()
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 1 << 20, WriteRate: -1, DatastoreDir: dsDir})
	return &hostSite{Env: e, dsDir: dsDir, set: backupOnce(t, e, "VM1")}
}

// maintenance puts the named hosts in maintenance mode.
func (s *hostSite) maintenance(t *testing.T, hosts ...string) {
	t.Helper()
	for _, h := range hosts {
		if err, recs := s.Run(t, `require("host").find("name:" .. arg.h)[1]:enter_maintenance()`, simtest.RunOptions{Args: []string{"h=" + h}}); err != nil {
			t.Fatalf("enter maintenance mode on %s: %v\n%s", h, err, recs)
		}
	}
}

// restore restores the set as name with the given extra options (a Lua
// table's body); it prints the VM's host and power state.
func (s *hostSite) restore(t *testing.T, name, extra string) (error, *simtest.Records) {
	t.Helper()
	return s.Run(t, `
		local v = require("backup").restore{ from = arg.dest, set = arg.set, name = arg.name, power_on = true, `+extra+` }
		print(v.host, v.power)
	`, simtest.RunOptions{Args: []string{"set=" + s.set, "name=" + name}})
}

// registered reports whether a VM of that name is registered.
func (s *hostSite) registered(t *testing.T, name string) bool {
	t.Helper()
	err, recs := s.Run(t, `print(#require("vm").find("name:" .. arg.n))`, simtest.RunOptions{Args: []string{"n=" + name}})
	if err != nil {
		t.Fatal(err)
	}
	return recs.Printed()[0] != "0"
}

// folder reports whether the VM's folder exists on LocalDS_0.
func (s *hostSite) folder(name string) bool {
	_, err := os.Stat(filepath.Join(s.dsDir, "LocalDS_0", name))
	return err == nil
}

// noGoType fails when msg shows a fault as a Go type.
func noGoType(t *testing.T, msg string) {
	t.Helper()
	if strings.Contains(msg, "types.") || strings.Contains(msg, "ServerFaultCode") {
		t.Errorf("a fault is shown as a Go type: %s", msg)
	}
}

// TestRestoreRefusesAHostThatCannotRunTheVM: host= names a host in
// maintenance mode: refused by name and reason before anything is
// written (it used to register the VM there, fail to power it on with
// "*types.InvalidState" and leave it registered, so that a re-run hit a
// conflict).
func TestRestoreRefusesAHostThatCannotRunTheVM(t *testing.T) {
	s := newHostSite(t)
	s.maintenance(t, "DC0_C0_H1")
	err, recs := s.restore(t, "VM1-r", `host = "DC0_C0_H1"`)
	if err == nil || simtest.Code(err) != "conflict" || !strings.Contains(err.Error(), "host DC0_C0_H1 is in maintenance mode: it cannot run the restored VM") ||
		!strings.Contains(err.Error(), "vmlua host maintenance exit DC0_C0_H1") || !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("restore onto a host in maintenance mode: %v\n%s", err, recs)
	}
	noGoType(t, err.Error())
	if s.registered(t, "VM1-r") || s.folder("VM1-r") {
		t.Errorf("the refused restore left VM1-r registered (%v) or its folder (%v)", s.registered(t, "VM1-r"), s.folder("VM1-r"))
	}
	// the same with every host of the cluster in maintenance mode and no host=
	s.maintenance(t, "DC0_C0_H0", "DC0_C0_H2")
	err, recs = s.restore(t, "VM1-r", "")
	if err == nil || simtest.Code(err) != "conflict" || !strings.Contains(err.Error(), "no host of the resource pool can run the restored VM: DC0_C0_H0 is in maintenance mode; DC0_C0_H1 is in maintenance mode; DC0_C0_H2 is in maintenance mode") {
		t.Fatalf("restore with every host in maintenance mode: %v\n%s", err, recs)
	}
	if s.registered(t, "VM1-r") || s.folder("VM1-r") {
		t.Error("the refused restore left something behind")
	}
}

// TestRestoreChoosesAHostThatCanRunTheVM: without host=, the VM goes to a
// host of its cluster that is not in maintenance mode, and powers on
// there. (Registered on a host vSphere chose, two restores in three
// used to land on a host in maintenance mode.)
func TestRestoreChoosesAHostThatCanRunTheVM(t *testing.T) {
	s := newHostSite(t)
	s.maintenance(t, "DC0_C0_H0", "DC0_C0_H1")
	for _, name := range []string{"VM1-a", "VM1-b", "VM1-c", "VM1-d"} {
		err, recs := s.restore(t, name, "")
		if err != nil {
			t.Fatalf("restore %s: %v\n%s", name, err, recs)
		}
		if got := recs.Printed(); len(got) != 1 || got[0] != "DC0_C0_H2\ton" {
			t.Errorf("restore %s: host and power %q, want DC0_C0_H2 and on", name, got)
		}
	}
}

// TestARestoreThatFailsAfterRegisteringUndoesItself: the power-on fails
// (vSphere refuses it): the VM the restore registered is unregistered and
// its folder removed, the error says so and shows the fault by its
// meaning, and a re-run succeeds (it used to hit a conflict); with
// keep_failed=true the folder stays and the VM is unregistered.
func TestARestoreThatFailsAfterRegisteringUndoesItself(t *testing.T) {
	s := newHostSite(t)
	refuse := func() {
		s.Sim.AddFaultRule(&simulator.FaultInjectionRule{MethodName: "PowerOnVM_Task", ObjectType: "*", ObjectName: "*",
			Probability: 1, FaultType: simulator.FaultTypeCustom, Fault: &types.InvalidState{}, MaxCount: 1, Enabled: true})
	}
	refuse()
	err, recs := s.restore(t, "VM1-r", "")
	if err == nil || !strings.Contains(err.Error(), "could not power on: the object is in a state that does not allow it") ||
		!strings.Contains(err.Error(), "undone: VM VM1-r unregistered, folder [LocalDS_0] VM1-r removed (nothing of this restore is left") {
		t.Fatalf("a restore whose power-on fails: %v\n%s", err, recs)
	}
	noGoType(t, err.Error())
	if s.registered(t, "VM1-r") || s.folder("VM1-r") {
		t.Fatalf("the failed restore left VM1-r registered (%v) or its folder (%v)", s.registered(t, "VM1-r"), s.folder("VM1-r"))
	}
	if err, recs := s.restore(t, "VM1-r", ""); err != nil {
		t.Fatalf("the re-run: %v\n%s", err, recs)
	}

	refuse()
	err, recs = s.restore(t, "VM1-k", "keep_failed = true")
	if err == nil || !strings.Contains(err.Error(), "undone: VM VM1-k unregistered; its files are kept in [LocalDS_0] VM1-k, as keep_failed= asked") {
		t.Fatalf("keep_failed=true: %v\n%s", err, recs)
	}
	if s.registered(t, "VM1-k") || !s.folder("VM1-k") {
		t.Errorf("keep_failed=true: VM1-k registered %v (want false), its folder there %v (want true)", s.registered(t, "VM1-k"), s.folder("VM1-k"))
	}
}
