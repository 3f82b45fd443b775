package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/eventually"
	"github.com/vmlua/vmlua/internal/harness/simtest"

	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmware/govmomi/vim25/mo"
)

// startRun starts 'vmlua run' against the simulator and waits until the
// script printed ready.
func startRun(t *testing.T, s *vsim.Sim, dir, src, ready string) (*exec.Cmd, *simtest.LockedBuffer) {
	t.Helper()
	cmd := exec.Command(simtest.Binary(t), "run", "--url", s.URL.String(), "--insecure", "--allow", "file://"+dir, script(t, src), "dest=file://"+dir)
	errb := &simtest.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = errb, errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	eventually.True(t, "the script to print "+ready, func() bool { return strings.Contains(errb.String(), ready) })
	return cmd, errb
}

func snapshotCount(t *testing.T, s *vsim.Sim, vmName string) int {
	t.Helper()
	ctx := context.Background()
	c, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v := simtest.VMOf(t, c, vmName)
	var m mo.VirtualMachine
	if err := v.Properties(ctx, v.Reference(), []string{"snapshot"}, &m); err != nil {
		t.Fatal(err)
	}
	if m.Snapshot == nil {
		return 0
	}
	n := 0
	for range m.Snapshot.RootSnapshotList {
		n++
	}
	return n
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestSIGTERMDuringExportCommitsTheREDO: a vmlua run process that gets
// SIGTERM in the middle of an export commits its REDO, leaves no partial
// file, and exits 5.
func TestSIGTERMDuringExportCommitsTheREDO(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{Password: "sim-Pa55word", DiskSize: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	cmd, errb := startRun(t, s, dir, `
		local v = require("vm").open("name:DB01")
		v:add_redo("scsi0:0")
		print("frozen")
		for i = 1, 1000 do v:export("scsi0:0", arg.dest, {name = "copy" .. i}) end
	`, "frozen")
	time.Sleep(300 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err = cmd.Wait()
	if c := exitCode(err); c != exitCanceled {
		t.Fatalf("exit %d, want %d; stderr:\n%s", c, exitCanceled, errb.String())
	}
	if n := snapshotCount(t, s, "DB01"); n != 0 {
		t.Errorf("%d snapshot(s) left on DB01 after SIGTERM; stderr:\n%s", n, errb.String())
	}
	if !strings.Contains(errb.String(), "the script ended with a REDO log still open; committing it") {
		t.Errorf("the commit was not logged:\n%s", errb.String())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".vmlua-") {
			t.Errorf("partial file left: %s", e.Name())
		}
	}
}

// TestSIGKILLLeavesAnOrphanTheNextRunRemoves: SIGKILL cannot be handled, so
// the REDO stays; the next run reports it and vm.cleanup_orphans commits it.
func TestSIGKILLLeavesAnOrphanTheNextRunRemoves(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{Password: "sim-Pa55word"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	cmd, _ := startRun(t, s, dir, `
		local v = require("vm").open("name:DB01")
		v:add_redo("scsi0:0")
		print("frozen")
		while true do end
	`, "frozen")
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if n := snapshotCount(t, s, "DB01"); n != 1 {
		t.Fatalf("%d snapshots after SIGKILL, want the orphan", n)
	}
	next := exec.Command(simtest.Binary(t), "run", "--url", s.URL.String(), "--insecure", script(t, `
		local vm = require "vm"
		vm.open("name:DB01")
		local l = vm.cleanup_orphans()
		print("committed " .. #l)
	`))
	out, err := next.CombinedOutput()
	if err != nil {
		t.Fatalf("next run: %v\n%s", err, out)
	}
	for _, want := range []string{"left by an earlier vmlua run that did not finish", "committed an orphaned REDO log", "committed 1"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("next run's output lacks %q:\n%s", want, out)
		}
	}
	if n := snapshotCount(t, s, "DB01"); n != 0 {
		t.Errorf("%d snapshots left after cleanup_orphans", n)
	}
}

// TestRunSim: 'vmlua run --sim' needs no vCenter: the book's script backs
// up the simulator's DB01.
func TestRunSim(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command(simtest.Binary(t), "run", "--sim", "--allow", "file://"+dir, "../../scripts/hot_backup.lua", "name:DB01", "to=file://"+dir).CombinedOutput()
	if exitCode(err) != exitPartial { // DB01's independent disk cannot be frozen
		t.Fatalf("exit %d, want %d (partial): %v\n%s", exitCode(err), exitPartial, err, out)
	}
	for _, f := range []string{"DB01-flat.vmdk", "DB01.vmdk", "DB01_1-flat.vmdk", "DB01_1.vmdk"} {
		if _, err := os.Stat(dir + "/" + f); err != nil {
			t.Errorf("%s not exported: %v\n%s", f, err, out)
		}
	}
	out, _ = exec.Command(simtest.Binary(t), "run", "--sim", "--url", "https://x/sdk", "../../examples/hello.lua").CombinedOutput()
	if !strings.Contains(string(out), "--sim replaces --url") {
		t.Errorf("--sim with --url was not refused clearly:\n%s", out)
	}
}
