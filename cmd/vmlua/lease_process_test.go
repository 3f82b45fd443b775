package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
)

// anotherHosts is the description a run on backup-host-2 gives its REDO
// log, with its lease running until lease.
func anotherHosts(run string, lease time.Time) string {
	return fmt.Sprintf("vmlua REDO log: run=%s pid=4242 host=backup-host-2 boot=b0 created=%s lease=%s keep=false. While the run lives it renews the lease.",
		run, lease.Add(-time.Hour).UTC().Format(time.RFC3339), lease.UTC().Format(time.RFC3339))
}

// TestCleanupHonoursLeases: 'vmlua cleanup' commits another machine's REDO
// log once its lease has expired and leaves one whose lease runs (saying
// why); --force commits that one too, with a warning, and says so.
func TestCleanupHonoursLeases(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{Password: "sim-Pa55word"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	leaveSnapshot(t, s, "VM1", "vmlua-redo-0000aaaa-1", anotherHosts("0000aaaa", time.Now().Add(-time.Minute)))
	leaveSnapshot(t, s, "DB01", "vmlua-redo-0000bbbb-1", anotherHosts("0000bbbb", time.Now().Add(20*time.Minute)))
	steps := []struct {
		name               string
		args               []string
		stdout, stderr     []string
		notStdout          []string
		snapsVM1, snapsDB1 int
	}{
		{"without --force only the expired lease's REDO log is committed", nil,
			[]string{"VM1", "vmlua-redo-0000aaaa-1", "1 orphaned REDO log(s) committed"},
			[]string{"left alone: its owner may still be running", "vmlua-redo-0000bbbb-1", "made on backup-host-2, which renews its lease"},
			[]string{"vmlua-redo-0000bbbb-1"}, 0, 1},
		{"--force commits the one whose lease runs, with a warning", []string{"--force"},
			[]string{"DB01", "vmlua-redo-0000bbbb-1", "--force: its owner may have been running"},
			[]string{"--force: committing a REDO log whose owner may still be running"},
			nil, 0, 0},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			out, stderr := runCleanup(t, s, st.args...)
			for _, w := range st.stdout {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range st.notStdout {
				if strings.Contains(out, w) {
					t.Errorf("stdout has %q:\n%s", w, out)
				}
			}
			for _, w := range st.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if n := snapshotCount(t, s, "VM1"); n != st.snapsVM1 {
				t.Errorf("VM1 has %d snapshot(s), want %d", n, st.snapsVM1)
			}
			if n := snapshotCount(t, s, "DB01"); n != st.snapsDB1 {
				t.Errorf("DB01 has %d snapshot(s), want %d", n, st.snapsDB1)
			}
		})
	}
}

// TestCleanupDuringALiveBackup: while a 'vmlua run' process backs VM1 up
// (held in the middle of reading the disk), 'vmlua cleanup' on the same
// machine leaves its REDO log alone (its process runs); 'vmlua cleanup
// --force' commits it, with a warning; the backup then notices that the
// snapshot it read from is gone and fails the disk: exit 1, no complete
// set, no snapshot left.
func TestCleanupDuringALiveBackup(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{Password: "sim-Pa55word", VMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	g := newReadGate(t, s)
	defer g.Release()
	dir := t.TempDir()
	cmd := exec.Command(simtest.Binary(t), "run", "--url", g.URL.String(), "--insecure", "--allow", "file://"+dir, script(t, `
		local v = require("vm").open("name:VM1")
		local set = v:backup{ to = arg.dest }
		print("set " .. set.status)
	`), "dest=file://"+dir)
	out := &simtest.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	<-g.reached
	cleanup := func(args ...string) string {
		t.Helper()
		args = append([]string{"cleanup", "--url", s.URL.String(), "--insecure"}, args...)
		b, err := exec.Command(simtest.Binary(t), append(args, "name:VM1")...).CombinedOutput()
		if err != nil {
			t.Fatalf("vmlua %v: %v\n%s", args, err, b)
		}
		return string(b)
	}
	if got := cleanup(); !strings.Contains(got, "no orphaned vmlua REDO log found") || !strings.Contains(got, "still runs") {
		t.Errorf("cleanup during the backup:\n%s", got)
	}
	if n := snapshotCount(t, s, "VM1"); n != 1 {
		t.Fatalf("the live backup's REDO log is gone after a cleanup without --force (%d snapshots)", n)
	}
	if got := cleanup("--force"); !strings.Contains(got, "--force: committing a REDO log whose owner may still be running") {
		t.Errorf("cleanup --force during the backup did not warn:\n%s", got)
	}
	g.Release()
	if c := exitCode(cmd.Wait()); c != exitFailure {
		t.Errorf("the backup whose REDO log was committed under it: exit %d, want %d\n%s", c, exitFailure, out)
	}
	if !strings.Contains(out.String(), "was removed while the disk was read") {
		t.Errorf("the backup did not say its snapshot was removed:\n%s", out)
	}
	if strings.Contains(out.String(), "set ok") {
		t.Errorf("the backup reported a good set:\n%s", out)
	}
	if cats, _ := filepath.Glob(filepath.Join(dir, "VM1", "*", "catalog.json")); len(cats) != 0 {
		t.Errorf("a set was completed: %v", cats)
	}
	if n := snapshotCount(t, s, "VM1"); n != 0 {
		t.Errorf("%d snapshot(s) left on VM1", n)
	}
}
