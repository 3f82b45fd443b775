package main

import (
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
)

// TestEveryVerbWithASelectionSaysWhenItMatchesNothing: every verb that
// takes a VM (or host) selection ends with exit 6 when it matches none,
// naming the closest that exists, instead of "nothing found" and 0 — the
// recovery commands included: cleanup name:DB1 while DB01 carries an
// orphaned REDO log commits nothing and says so. --allow-empty makes the
// recovery commands' empty selection 0.
func TestEveryVerbWithASelectionSaysWhenItMatchesNothing(t *testing.T) {
	e := simtest.Start(t, vsim.Options{DiskSize: 1 << 20, WriteRate: -1})
	target := "file://" + e.Dir
	if err, recs := e.Run(t, `assert(require("vm").open("name:VM1"):backup{ to = arg[1] }.complete)`, simtest.RunOptions{Args: []string{target}}); err != nil {
		t.Fatalf("backup of VM1: %v\n%s", err, recs)
	}
	leaveOrphan(t, e.Sim, "DB01", "vmlua-redo-deadbeef-1")
	conn := []string{"--url", e.Sim.URL.String(), "--insecure"}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"cleanup of a misspelt VM", []string{"cleanup", "name:DB1"}, exitNothingSelected, "no VM matches name:DB1 (did you mean name:DB01?): nothing was cleaned up"},
		{"cleanup of a .vmx path that is not registered", []string{"cleanup", "[LocalDS_0] DB1/DB01.vmx"}, exitNothingSelected, "(did you mean [LocalDS_0] DB01/DB01.vmx?)"},
		{"cleanup of a moref that does not exist", []string{"cleanup", "moref:vm-99999"}, exitNothingSelected, "no VM matches moref:vm-99999: nothing was cleaned up"},
		{"cleanup of a pattern that matches nothing", []string{"cleanup", "name:nosuch*"}, exitNothingSelected, "no VM matches name:nosuch*: nothing was cleaned up"},
		{"cleanup --allow-empty", []string{"cleanup", "--allow-empty", "name:DB1"}, exitOK, "nothing was cleaned up (--allow-empty)"},
		{"answer --once of a misspelt VM", []string{"answer", "--once", "--vms", "name:DB1"}, exitNothingSelected, "no VM matches name:DB1 (did you mean name:DB01?): no question was looked for"},
		{"answer watching a misspelt VM", []string{"answer", "--vms", "name:DB1"}, exitNothingSelected, "no VM matches name:DB1 (did you mean name:DB01?): nothing was watched"},
		{"answer --once --allow-empty", []string{"answer", "--once", "--allow-empty", "--vms", "name:DB1"}, exitOK, "no question was looked for (--allow-empty)"},
		{"sets list of a misspelt VM", []string{"sets", "list", target, "VM11"}, exitNothingSelected, "there is no set of VM11 on " + target + " (did you mean VM1?)"},
		{"verify of a misspelt VM", []string{"verify", target, "VM11"}, exitNothingSelected, "there is no set of VM11 on " + target + " (did you mean VM1?)"},
		{"restore of a misspelt VM", []string{"restore", target, "VM11"}, exitNothingSelected, "there is no set of VM11 on " + target + " (did you mean VM1?)"},
		{"prune of a misspelt VM", []string{"prune", "--keep", "2", target, "VM11"}, exitNothingSelected, "there is no set of VM11 on " + target + " (did you mean VM1?)"},
		{"run --each of a misspelt VM", []string{"run", "--each", "name:DB1", "disk_mode.lua", "scsi0:0"}, exitNothingSelected, "--each name:DB1 matches no VM (did you mean name:DB01?): nothing was run"},
		{"cbt-reset of a misspelt VM", []string{"cbt-reset", "name:DB1"}, exitNothingSelected, "no VM matches name:DB1 (did you mean name:DB01?): no tracking was reset"},
		{"host maintenance of a misspelt host", []string{"host", "maintenance", "enter", "DC0_H"}, exitNothingSelected, "no host matches DC0_H (did you mean DC0_H0?)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := 1
			if tc.args[0] == "sets" || tc.args[0] == "host" {
				n = 3
			}
			args := append(append(append([]string{}, tc.args[:n]...), conn...), tc.args[n:]...)
			out, errOut, code := runBin(t, args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("vmlua %s: exit %d, want %d and %q:\n%s%s", strings.Join(tc.args, " "), code, tc.code, tc.want, out, errOut)
			}
			if strings.Contains(out, "no orphaned vmlua REDO log found") {
				t.Errorf("vmlua %s reports nothing to commit for a selection that matched no VM:\n%s", strings.Join(tc.args, " "), out)
			}
		})
	}
	if s := e.Snapshots(t, "DB01"); len(s) != 1 {
		t.Errorf("DB01's orphan was touched by cleanups of other VMs: %v", s)
	}
}
