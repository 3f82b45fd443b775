package main

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// powerState reads a VM's power state from the simulator.
func powerState(t *testing.T, s *vsim.Sim, vmName string) types.VirtualMachinePowerState {
	t.Helper()
	ctx := context.Background()
	c, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Logout(ctx)
	v := simtest.VMOf(t, c, vmName)
	var m mo.VirtualMachine
	if err := v.Properties(ctx, v.Reference(), []string{"runtime.powerState"}, &m); err != nil {
		t.Fatal(err)
	}
	return m.Runtime.PowerState
}

const powerOffBackup = `
	local v = require("vm").open("name:VM1")
	print("started")
	v:backup{ to = arg.dest, power_off = true }
`

// startPowerOffBackup starts 'vmlua run' of a power_off=true backup of VM1
// through the gate, with extra flags.
func startPowerOffBackup(t *testing.T, g *readGate, dir string, flags ...string) (*exec.Cmd, *simtest.LockedBuffer) {
	t.Helper()
	args := append([]string{"run", "--url", g.URL.String(), "--insecure", "--allow", "file://" + dir}, flags...)
	args = append(args, script(t, powerOffBackup), "dest=file://"+dir)
	cmd := exec.Command(simtest.Binary(t), args...)
	out := &simtest.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, out
}

// checkPoweredOnAgain: after the run, the VM runs, no snapshot is left,
// and the log says the VM was powered on again, not that it could not be.
func checkPoweredOnAgain(t *testing.T, s *vsim.Sim, out *simtest.LockedBuffer) {
	t.Helper()
	if st := powerState(t, s, "VM1"); st != types.VirtualMachinePowerStatePoweredOn {
		t.Errorf("VM1 is %s after the interrupted power_off backup, want poweredOn\n%s", st, out)
	}
	if n := snapshotCount(t, s, "VM1"); n != 0 {
		t.Errorf("%d snapshot(s) left on VM1\n%s", n, out)
	}
	if strings.Contains(out.String(), "could not power the VM on again") {
		t.Errorf("the power-on failed:\n%s", out)
	}
}

// TestSIGTERMDuringAPowerOffBackupPowersTheVMOnAgain: SIGTERM while a
// power_off=true backup reads its disk ends the run with status 5, and
// the VM runs again afterwards (the power-on runs on a context of its own,
// not the cancelled run's).
func TestSIGTERMDuringAPowerOffBackupPowersTheVMOnAgain(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{Password: "sim-Pa55word", VMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g := newReadGate(t, s)
	dir := t.TempDir()
	cmd, out := startPowerOffBackup(t, g, dir)
	<-g.reached // the guest is off and the backup reads the disk
	if st := powerState(t, s, "VM1"); st != types.VirtualMachinePowerStatePoweredOff {
		t.Fatalf("VM1 is %s while its power_off backup reads the disk\n%s", st, out)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if c := exitCode(cmd.Wait()); c != exitCanceled {
		t.Fatalf("exit %d, want %d (canceled)\n%s", c, exitCanceled, out)
	}
	checkPoweredOnAgain(t, s, out)
}

// TestTimeoutDuringAPowerOffBackupPowersTheVMOnAgain: a --timeout that
// fires while a power_off=true backup reads its disk ends the run with
// status 4, and the VM runs again afterwards. The read is held until the
// run gives up, so the timeout fires in the middle of the backup once the
// run reached the read before it; a run that did not (a slow machine)
// must leave the VM running too, and the next try doubles the timeout.
func TestTimeoutDuringAPowerOffBackupPowersTheVMOnAgain(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{Password: "sim-Pa55word", VMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g := newReadGate(t, s)
	for timeout := 3 * time.Second; ; timeout *= 2 {
		dir := t.TempDir()
		cmd, out := startPowerOffBackup(t, g, dir, "--timeout", timeout.String())
		if c := exitCode(cmd.Wait()); c != exitTimeout {
			t.Fatalf("exit %d, want %d (timeout)\n%s", c, exitTimeout, out)
		}
		checkPoweredOnAgain(t, s, out)
		select {
		case <-g.reached:
			if !strings.Contains(out.String(), "the VM is powered on again") {
				t.Errorf("the power-on after the timeout was not logged:\n%s", out)
			}
			return
		default:
			t.Logf("the run did not reach the disk read within --timeout %v; trying again with twice that", timeout)
		}
	}
}
