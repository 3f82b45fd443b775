package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/eventually"
	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
)

// leaveOrphan puts a snapshot on the VM as a vmlua run on another machine
// that was killed long ago (by a vmlua from before leases) would have left it.
func leaveOrphan(t *testing.T, s *vsim.Sim, vmName, snap string) {
	t.Helper()
	leaveSnapshot(t, s, vmName, snap, "vmlua REDO log: run=deadbeef pid=999999 host=elsewhere created=2026-01-01T00:00:00Z keep=false. x")
}

// leaveSnapshot puts a vmlua snapshot with the given description on the VM.
func leaveSnapshot(t *testing.T, s *vsim.Sim, vmName, snap, desc string) {
	t.Helper()
	ctx := context.Background()
	c, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Logout(ctx)
	task, err := simtest.VMOf(t, c, vmName).CreateSnapshot(ctx, snap, desc, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// runCleanup runs 'vmlua cleanup' with args against the simulator and
// returns its stdout and stderr; it fails the test when it fails.
func runCleanup(t *testing.T, s *vsim.Sim, args ...string) (stdout, stderr string) {
	t.Helper()
	args = append([]string{"cleanup", "--url", s.URL.String(), "--insecure"}, args...)
	cmd := exec.Command(simtest.Binary(t), args...)
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("vmlua %v: %v\n%s%s", args, err, out, errb.String())
	}
	return string(out), errb.String()
}

// TestCleanupCommitsOrphans: 'vmlua cleanup --dry-run' lists the REDO logs
// killed runs left and commits nothing; 'vmlua cleanup SPEC' commits those
// of the VMs SPEC matches, says so, and a second run finds nothing.
func TestCleanupCommitsOrphans(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{Password: "sim-Pa55word"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	leaveOrphan(t, s, "DB01", "vmlua-redo-deadbeef-1")
	leaveOrphan(t, s, "VM1", "vmlua-redo-deadbeef-2")
	steps := []struct {
		name       string
		args       []string
		want       []string
		snapsAfter map[string]int
	}{
		{"a dry run lists every orphan and commits none", []string{"--dry-run"},
			[]string{"DB01", "vmlua-redo-deadbeef-1", "VM1", "vmlua-redo-deadbeef-2", "2 orphaned REDO log(s) would commit (dry run)"}, map[string]int{"DB01": 1, "VM1": 1}},
		{"a specifier limits the cleanup to the VMs it names", []string{"name:DB01"},
			[]string{"DB01", "vmlua-redo-deadbeef-1", "committed", "1 orphaned REDO log(s) committed"}, map[string]int{"DB01": 0, "VM1": 1}},
		{"without a specifier every VM is cleaned", nil,
			[]string{"VM1", "vmlua-redo-deadbeef-2", "1 orphaned REDO log(s) committed"}, map[string]int{"DB01": 0, "VM1": 0}},
		{"with nothing left it says so and succeeds", nil,
			[]string{"no orphaned vmlua REDO log found"}, map[string]int{"DB01": 0, "VM1": 0}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			out, _ := runCleanup(t, s, st.args...)
			for _, w := range st.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for vmName, n := range st.snapsAfter {
				if got := snapshotCount(t, s, vmName); got != n {
					t.Errorf("%s has %d snapshot(s), want %d", vmName, got, n)
				}
			}
		})
	}
	out, err := exec.Command(simtest.Binary(t), "cleanup", "--url", s.URL.String(), "--insecure", "bogus:x").CombinedOutput()
	if exitCode(err) != exitUsage || !strings.Contains(string(out), "bogus") {
		t.Errorf("a bad specifier: exit %d, want %d:\n%s", exitCode(err), exitUsage, out)
	}
}

// TestSIGKILLMidBackupThenNightlySucceeds: a 'vmlua run' killed in the
// middle of v:backup leaves its REDO log (nothing can commit it); the next
// nightly.lua of that VM commits it first, backs the VM up, and leaves no
// snapshot.
func TestSIGKILLMidBackupThenNightlySucceeds(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{Password: "sim-Pa55word", DiskSize: 256 << 20, WriteRate: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	cmd := exec.Command(simtest.Binary(t), "run", "--url", s.URL.String(), "--insecure", "--allow", "file://"+dir, script(t, `
		require("vm").open("name:VM1"):backup{ to = arg.dest, compress = "none" }
	`), "dest=file://"+dir)
	errb := &simtest.LockedBuffer{}
	cmd.Stderr, cmd.Stdout = errb, errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	eventually.True(t, "the backup to freeze the disk", func() bool { return strings.Contains(errb.String(), "backup: disk frozen") })
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if n := snapshotCount(t, s, "VM1"); n != 1 {
		t.Fatalf("%d snapshots after SIGKILL, want the orphan:\n%s", n, errb.String())
	}
	nightly, _ := filepath.Abs("../../scripts/nightly.lua")
	next := exec.Command(simtest.Binary(t), "run", "--url", s.URL.String(), "--insecure", "--allow", "file://"+dir, nightly, "to=file://"+dir, "vms=name:VM1", "keep=2")
	out, err := next.CombinedOutput()
	if err != nil {
		t.Fatalf("the nightly after SIGKILL: %v\n%s", err, out)
	}
	for _, want := range []string{"committed an orphaned REDO log", "1 VM(s), 1 target(s): 1 set(s) written, 0 failed"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the nightly's output lacks %q:\n%s", want, out)
		}
	}
	if n := snapshotCount(t, s, "VM1"); n != 0 {
		t.Errorf("%d snapshot(s) left after the nightly", n)
	}
	if sets, _ := filepath.Glob(filepath.Join(dir, "VM1", "*", "catalog.json")); len(sets) != 1 {
		t.Errorf("complete sets after the nightly: %v, want 1", sets)
	}
}
