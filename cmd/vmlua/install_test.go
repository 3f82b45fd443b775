package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
)

// TestDemoRunTwiceKeepsEditsAndReplacesItsOwnSets: a second 'vmlua demo'
// into the same folder keeps the user's edited script, says so, and
// leaves as many sets and bytes as the first run, not twice as many.
func TestDemoRunTwiceKeepsEditsAndReplacesItsOwnSets(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo")
	demo := func() string {
		t.Helper()
		cmd := exec.Command(simtest.Binary(t), "demo", "--out", out, "--disk-size", "4M")
		var stdout, stderr simtest.LockedBuffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("vmlua demo: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	demo()
	catalogs := func() []string {
		m, _ := filepath.Glob(filepath.Join(out, "backups", "*", "*", "catalog.json"))
		return m
	}
	first, firstBytes := len(catalogs()), dirBytes(t, filepath.Join(out, "backups"))
	edited := filepath.Join(out, "scripts", "backup_all.lua")
	mine := "-- my site's version\nerror('the demo must not run my edited copy')\n"
	if err := os.WriteFile(edited, []byte(mine), 0o644); err != nil {
		t.Fatal(err)
	}
	o := demo()
	if b, _ := os.ReadFile(edited); string(b) != mine {
		t.Errorf("the second demo overwrote the edited %s", edited)
	}
	if !strings.Contains(o, "kept your edited copies in "+filepath.Join(out, "scripts")+": backup_all.lua") {
		t.Errorf("the demo does not say it kept the edited script:\n%s", o)
	}
	if n := len(catalogs()); n != first {
		t.Errorf("%d sets after the second run, %d after the first", n, first)
	}
	if b := dirBytes(t, filepath.Join(out, "backups")); b > firstBytes*11/10 {
		t.Errorf("the backups grew from %d to %d bytes", firstBytes, b)
	}
}

func TestDemoRefusesABackupsFolderItDidNotWrite(t *testing.T) {
	out := t.TempDir()
	os.MkdirAll(filepath.Join(out, "backups", "PAYROLL"), 0o755)
	_, errb, code := runBin(t, "demo", "--out", out, "--disk-size", "1M")
	if code != exitFailure || !strings.Contains(errb, "holds PAYROLL, which the demo did not write; give another --out") {
		t.Errorf("exit %d, stderr %q", code, errb)
	}
	if _, err := os.Stat(filepath.Join(out, "backups", "PAYROLL")); err != nil {
		t.Errorf("the folder it did not write is gone: %v", err)
	}
}

func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// TestScriptsExportNeverOverwrites: export writes every shipped script into
// a new folder, and run again it keeps a copy the user edited and says so.
func TestScriptsExportNeverOverwrites(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "site-scripts")
	out, errb, code := runBin(t, "scripts", "export", dir)
	if code != exitOK {
		t.Fatalf("export: exit %d: %s", code, errb)
	}
	names := shippedScripts()
	if len(names) < 5 || strings.Count(out, "wrote  ") != len(names) {
		t.Errorf("export of %d scripts said:\n%s", len(names), out)
	}
	os.WriteFile(filepath.Join(dir, "nightly.lua"), []byte("-- mine\n"), 0o644)
	out, _, code = runBin(t, "scripts", "export", dir)
	if code != exitOK || !strings.Contains(out, "kept   "+filepath.Join(dir, "nightly.lua")+": it differs from the shipped version") || strings.Contains(out, "wrote") {
		t.Errorf("second export (exit %d) said:\n%s", code, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "nightly.lua")); string(b) != "-- mine\n" {
		t.Errorf("the edited nightly.lua was overwritten: %q", b)
	}
	if !strings.Contains(out, "same   "+filepath.Join(dir, "restore.lua")) {
		t.Errorf("an unchanged copy is not reported as the same:\n%s", out)
	}
	shown, _, code := runBin(t, "scripts", "show", "nightly.lua")
	if want, _ := os.ReadFile("../../scripts/nightly.lua"); code != exitOK || shown != string(want) {
		t.Errorf("scripts show nightly.lua (exit %d) is not the shipped script", code)
	}
	list, _, _ := runBin(t, "scripts", "list")
	if strings.Join(strings.Fields(list), ",") != strings.Join(names, ",") {
		t.Errorf("scripts list = %q, want %v", list, names)
	}
	if _, errb, code := runBin(t, "scripts", "show", "nosuch.lua"); code != exitUsage || !strings.Contains(errb, "no shipped script") {
		t.Errorf("show of an unknown script: exit %d, %q", code, errb)
	}
}

// TestMakeInstallPutsTheBinaryScriptsAndExamplesUnderPrefix runs 'make
// install' into a temporary prefix and uses what it installed.
func TestMakeInstallPutsTheBinaryScriptsAndExamplesUnderPrefix(t *testing.T) {
	prefix := t.TempDir()
	if out, err := exec.Command("make", "-C", "../..", "install", "PREFIX="+prefix).CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	bin := filepath.Join(prefix, "bin", "vmlua")
	if out, err := exec.Command(bin, "--version").Output(); err != nil || !strings.HasPrefix(string(out), "vmlua ") {
		t.Fatalf("%s --version = %q, %v", bin, out, err)
	}
	for _, n := range shippedScripts() {
		if _, err := os.Stat(filepath.Join(prefix, "share", "vmlua", "scripts", n)); err != nil {
			t.Errorf("script %s not installed: %v", n, err)
		}
	}
	examples, _ := filepath.Glob(filepath.Join(prefix, "share", "vmlua", "examples", "*.lua"))
	src, _ := filepath.Glob("../../examples/*.lua")
	if len(examples) != len(src) {
		t.Errorf("%d examples installed, %d in the tree", len(examples), len(src))
	}
	installed, _ := filepath.Glob(filepath.Join(prefix, "share", "vmlua", "scripts", "*.lua"))
	if out, err := exec.Command(bin, append([]string{"check"}, installed...)...).CombinedOutput(); err != nil {
		t.Errorf("vmlua check on the installed scripts: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "run", filepath.Join(prefix, "share", "vmlua", "examples", "hello.lua"), "name=installed").Output(); err != nil || !strings.Contains(string(out), "Hello, installed!") {
		t.Errorf("the installed hello.lua printed %q, %v", out, err)
	}
}
