package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
)

// TestDemo runs 'vmlua demo' as a new user would: it must back up every
// simulated VM, verify every set, restore DB01 byte-exact, and say so.
func TestDemo(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo")
	cmd := exec.Command(simtest.Binary(t), "demo", "--out", out, "--disk-size", "16M")
	var stdout, stderr simtest.LockedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("vmlua demo: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	o := stdout.String()
	for _, row := range []struct{ vm, status string }{{"APP01", "ok"}, {"DB01", `partial \(lacks scsi0:2\)`}, {"WEB01", "ok"}, {"WEB02", "ok"}} {
		if !regexp.MustCompile(`(?m)^` + row.vm + `\s+\d+\s.*\s` + row.status + `\s+ok$`).MatchString(o) {
			t.Errorf("the summary has no verified row for %s with status %s:\n%s", row.vm, row.status, o)
		}
	}
	if !strings.Contains(o, "Partial sets: DB01 scsi0:2") {
		t.Errorf("the demo does not explain DB01's partial set:\n%s", o)
	}
	if !strings.Contains(o, "Restore of DB01 as DB01-restored: byte-exact") {
		t.Errorf("the restore was not proven byte-exact:\n%s", o)
	}
	// Not a terminal: progress comes as plain lines.
	if !regexp.MustCompile(`DB01 scsi0:0: done, 16.0 MiB in`).MatchString(stderr.String()) {
		t.Errorf("no plain progress lines on stderr:\n%s", stderr.String())
	}
	for _, p := range []string{"scripts/backup_all.lua", "scripts/restore.lua", "scripts/hot_backup.lua"} {
		if _, err := os.Stat(filepath.Join(out, p)); err != nil {
			t.Errorf("the demo did not leave %s for the user: %v", p, err)
		}
	}
	sets, _ := filepath.Glob(filepath.Join(out, "backups", "*", "*", "catalog.json"))
	if len(sets) < 5 {
		t.Errorf("%d catalogs written, want one per VM plus the restored VM's: %v", len(sets), sets)
	}
	if hosts, _ := filepath.Glob(filepath.Join(out, "backups", "host", "*", "*", "configBundle-*.json")); len(hosts) == 0 {
		t.Errorf("the demo backed up no host configuration")
	}
	runTheDemosNext(t, o, filepath.Join(out, "backups"))
}

// runTheDemosNext runs the commands the demo suggests, as printed, in
// order: each must succeed, the first must leave a set (not loose disk
// images beside the demo's sets, which restore.lua cannot use), and the
// last restores it.
func runTheDemosNext(t *testing.T, demoOut, backups string) {
	t.Helper()
	_, next, ok := strings.Cut(demoOut, "\nNext: ")
	if !ok {
		t.Fatalf("the demo suggests nothing to do next:\n%s", demoOut)
	}
	var cmds [][]string
	for _, line := range strings.Split(next, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "vmlua" {
			cmds = append(cmds, f[1:])
		}
	}
	if len(cmds) < 2 {
		t.Fatalf("the demo's Next holds %d commands, want a backup and a restore:\n%s", len(cmds), next)
	}
	for i, args := range cmds {
		out, err := exec.Command(simtest.Binary(t), args...).CombinedOutput()
		if err != nil {
			t.Fatalf("the demo's suggestion %q: %v\n%s", strings.Join(args, " "), err, out)
		}
		if i == len(cmds)-1 && !strings.Contains(string(out), "restored VM1-restored") {
			t.Errorf("the last suggestion restored nothing:\n%s", out)
		}
	}
	if loose, _ := filepath.Glob(filepath.Join(backups, "*.vmdk")); len(loose) != 0 {
		t.Errorf("the suggestions left loose disk images beside the sets: %v", loose)
	}
	if sets, _ := filepath.Glob(filepath.Join(backups, "VM1", "*", "catalog.json")); len(sets) != 1 {
		t.Errorf("the suggested backup left %d sets of VM1, want 1", len(sets))
	}
}
