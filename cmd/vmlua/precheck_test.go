package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmware/govmomi/vim25/mo"
)

// snapshotCreations counts the CreateSnapshot tasks the simulator ran on
// a VM (its recent tasks: a snapshot made and committed again leaves no
// snapshot behind, but its task).
func snapshotCreations(t *testing.T, s *vsim.Sim, vmName string) int {
	t.Helper()
	ctx := context.Background()
	c, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v := simtest.VMOf(t, c, vmName)
	var m mo.VirtualMachine
	if err := v.Properties(ctx, v.Reference(), []string{"recentTask"}, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.RecentTask) == 0 {
		return 0
	}
	var tasks []mo.Task
	if err := c.PropertyCollector().Retrieve(ctx, m.RecentTask, []string{"info"}, &tasks); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, task := range tasks {
		if task.Info.DescriptionId == "VirtualMachine.createSnapshot" {
			n++
		}
	}
	return n
}

// TestRunRefusesAScriptCheckFindsProblemsInBeforeItsFirstSnapshot: a
// script that backs VM1 up and then calls backup.prnue is refused by
// vmlua run with check's message and exit 2 before it touches the VM (no
// snapshot is ever made, no set written); with --no-check it runs as
// before: the backup happens, then the script fails on the typo.
func TestRunRefusesAScriptCheckFindsProblemsInBeforeItsFirstSnapshot(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{VMs: 1, Password: "sim-Pa55word"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	src := script(t, `local vm = require "vm"
local backup = require "backup"
local v = vm.open("name:VM1")
v:backup{to = arg.to, compress = "none"}
backup.prnue{at = arg.to, vm = "VM1", keep = 1}
`)
	sets := func() int {
		ents, _ := os.ReadDir(filepath.Join(dir, "VM1"))
		return len(ents)
	}
	cases := []struct {
		name          string
		flags         []string
		exit          int
		want          string
		snapshots     int // CreateSnapshot tasks on VM1 by the end of the case
		setsAfterward int
	}{
		{"refused before anything happens", nil, exitUsage,
			`s.lua:5: backup.prnue: module "backup" has no function or field "prnue" (did you mean "prune"?)`, 0, 0},
		{"refused with --each too", []string{"--each", "name:VM1"}, exitUsage, `did you mean "prune"?`, 0, 0},
		{"--no-check runs it as before: the backup, then the failure", []string{"--no-check"}, exitFailure, "attempt to call a non-function object", 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--url", s.URL.String(), "--insecure", "--allow", "file://" + dir}, tc.flags...)
			out, errOut, code := runBin(t, append(args, src, "to=file://"+dir)...)
			if code != tc.exit {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.exit, out, errOut)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, errOut)
			}
			if n := snapshotCreations(t, s, "VM1"); n != tc.snapshots {
				t.Errorf("%d snapshot(s) were created on VM1, want %d", n, tc.snapshots)
			}
			if n := sets(); n != tc.setsAfterward {
				t.Errorf("%d set(s) on the target, want %d", n, tc.setsAfterward)
			}
		})
	}
}

// TestRunRefusesWrongOptionTypesWithCheck: the options check reaches run
// too: compress = 9 and policy = "seven" stop the script before it starts.
func TestRunRefusesWrongOptionTypesWithCheck(t *testing.T) {
	src := script(t, `local backup = require "backup"
local vm = require "vm"
print("started")
backup.prune{at = "file:///nowhere", vm = "VM1", policy = "seven"}
vm.open("name:VM1"):backup{to = "file:///nowhere", compress = 9}
`)
	out, errOut, code := runBin(t, "run", "--json", src)
	if code != exitUsage || strings.Contains(errOut, "started") {
		t.Fatalf("exit %d (want 2), and the script must not start:\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	for _, want := range []string{"s.lua:4: backup.prune: option policy: table expected, got string", `s.lua:5: vm.open(...):backup: option compress: \"none\"|\"gzip\"|\"zstd\" expected, got number`, "--no-check"} {
		if !strings.Contains(out, want) {
			t.Errorf("the JSON report lacks %q:\n%s", want, out)
		}
	}
}
