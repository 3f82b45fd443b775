package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
)

// runIn runs the binary with the working directory dir.
func runIn(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(simtest.Binary(t), args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	code := exitCode(cmd.Run())
	return out.String(), errb.String(), code
}

// TestABareNameRunsTheShippedScript: 'vmlua run vm_info.lua' (or
// vm_info) in a folder without that file runs the shipped script built
// into vmlua, and says so once, with --each too; a file of that name in
// the current directory wins; vmlua check finds shipped scripts the same
// way; a bare name that is neither is exit 2.
func TestABareNameRunsTheShippedScript(t *testing.T) {
	empty := t.TempDir()
	const shippedLog = "running the shipped script "
	for _, name := range []string{"vm_info.lua", "vm_info"} {
		out, errOut, code := runIn(t, empty, "run", "--sim", name, "name:DB01")
		if code != exitOK || !strings.Contains(out, "name:DB01\t") {
			t.Fatalf("vmlua run --sim %s name:DB01 in an empty folder: exit %d\n%s%s", name, code, out, errOut)
		}
		if n := strings.Count(errOut, shippedLog+"vm_info.lua built into vmlua"); n != 1 {
			t.Errorf("vmlua run %s: the shipped script was logged %d times, want once:\n%s", name, n, errOut)
		}
	}

	out, errOut, code := runIn(t, empty, "run", "--sim", "--each", "name:VM*", "disk_mode.lua", "scsi0:0")
	if code != exitOK || strings.Count(out, "persistent") != 2 || strings.Count(errOut, shippedLog+"disk_mode.lua") != 1 {
		t.Errorf("vmlua run --each name:VM* disk_mode.lua: exit %d, want two VMs' modes and the shipped script logged once:\n%s%s", code, out, errOut)
	}

	local := t.TempDir()
	if err := os.WriteFile(filepath.Join(local, "vm_info.lua"), []byte(`print("the local copy")`), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runIn(t, local, "run", "--sim", "vm_info.lua")
	if code != exitOK || strings.TrimSpace(out) != "the local copy" || strings.Contains(errOut, shippedLog) {
		t.Errorf("a local vm_info.lua must win over the shipped one: exit %d\n%s%s", code, out, errOut)
	}

	if out, errOut, code := runIn(t, empty, "check", "nightly.lua", "hot_backup"); code != exitOK {
		t.Errorf("vmlua check nightly.lua hot_backup: exit %d\n%s%s", code, out, errOut)
	}
	for _, args := range [][]string{{"run", "--sim", "nosuch.lua"}, {"check", "nosuch.lua"}, {"run", "--sim", "sub/vm_info.lua"}} {
		if _, errOut, code := runIn(t, empty, args...); code != exitUsage || !strings.Contains(errOut, "no shipped script of that name") {
			t.Errorf("vmlua %s: exit %d, want 2 and 'no shipped script':\n%s", strings.Join(args, " "), code, errOut)
		}
	}
}
