package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"

	"github.com/vmlua/vmlua/internal/vsim"
)

// TestEachRunsTheScriptOncePerVM: --each runs one sandboxed script per VM,
// within the limits, prints a table, and one VM's failure does not stop
// the others but makes the exit status non-zero.
func TestEachRunsTheScriptOncePerVM(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{VMs: 6, Password: "sim-Pa55word"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src := script(t, `
		require("script").args{ vm = { each = true }, extra = {} }
		local v = require("vm").open(arg.vm)
		assert(v.name == arg.vm_name)
		if v.name == "VM3" then error({code = "not_found", message = "pretend VM3 failed", vm = v.name}) end
		print("handled " .. v.name .. " " .. arg.extra)
		if v.name == "VM2" then require("script").exit("partial", "pretend VM2 lacks a disk") end
	`)
	cases := []struct {
		name     string
		args     []string
		wantExit int
		wantVMs  []string
		wantOK   int
		wantOut  []string
	}{
		{"all VMs, per-host limit: a failed run makes the exit status 1", []string{"--each", "name:VM*", "--jobs", "3", "--per-host", "1"}, exitFailure, []string{"VM1", "VM2", "VM3", "VM4", "VM5", "VM6"}, 5,
			[]string{"pretend VM3 failed"}},
		{"a partial run and no failed one make the exit status 7 and the table says partial", []string{"--each", "name:VM[12]"}, exitPartial, []string{"VM1", "VM2"}, 2,
			[]string{"partial  ", "pretend VM2 lacks a disk"}},
		{"no VM matches: exit 6, nothing_selected", []string{"--each", "name:nothing*"}, exitNothingSelected, nil, 0,
			[]string{"--each name:nothing* matches no VM: nothing was run"}},
		{"no VM matches with --allow-empty: exit 0", []string{"--each", "name:nothing*", "--allow-empty"}, exitOK, nil, 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--url", s.URL.String(), "--insecure"}, tc.args...)
			args = append(args, src, "extra=x")
			out, err := exec.Command(simtest.Binary(t), args...).CombinedOutput()
			if c := exitCode(err); c != tc.wantExit {
				t.Fatalf("exit %d, want %d:\n%s", c, tc.wantExit, out)
			}
			o := string(out)
			for _, v := range tc.wantVMs {
				if !regexp.MustCompile(`(?m)^` + v + `\s`).MatchString(o) {
					t.Errorf("the table lacks %s:\n%s", v, o)
				}
			}
			if got := strings.Count(o, "handled VM"); got != tc.wantOK {
				t.Errorf("%d scripts succeeded, want %d:\n%s", got, tc.wantOK, o)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(o, w) {
					t.Errorf("the output lacks %q:\n%s", w, o)
				}
			}
			if len(tc.wantVMs) == 6 {
				m := regexp.MustCompile(`max_per_host=(\d+)`).FindStringSubmatch(o)
				if m == nil {
					t.Fatalf("no max_per_host in the summary:\n%s", o)
				}
				if n, _ := strconv.Atoi(m[1]); n != 1 {
					t.Errorf("max per host observed %d, limit 1", n)
				}
			}
		})
	}
}

// TestShardsSplitTheFleet: --shard 1/2 and 2/2 together cover every VM once.
func TestShardsSplitTheFleet(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{VMs: 8, Password: "sim-Pa55word"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src := script(t, `require("script").args{ vm = { each = true } } print("handled " .. arg.vm_name)`)
	seen := map[string]int{}
	for _, shard := range []string{"1/2", "2/2"} {
		out, err := exec.Command(simtest.Binary(t), "run", "--url", s.URL.String(), "--insecure", "--each", "name:VM*", "--shard", shard, src).CombinedOutput()
		if err != nil {
			t.Fatalf("shard %s: %v\n%s", shard, err, out)
		}
		for _, m := range regexp.MustCompile(`handled (VM\d+)`).FindAllStringSubmatch(string(out), -1) {
			seen[m[1]]++
		}
	}
	if len(seen) != 8 {
		t.Errorf("the shards covered %d of 8 VMs: %v", len(seen), seen)
	}
	for v, n := range seen {
		if n != 1 {
			t.Errorf("%s ran in %d shards", v, n)
		}
	}
	out, _ := exec.Command(simtest.Binary(t), "run", "--url", s.URL.String(), "--insecure", "--each", "any:", "--shard", "3/2", src).CombinedOutput()
	if !strings.Contains(string(out), "want i/n with 1 <= i <= n") {
		t.Errorf("a bad shard was not refused clearly:\n%s", out)
	}
}

// TestEachCommitsOrphansBeforeDispatch: --each commits the REDO logs that
// killed runs left on the VMs it is about to run for, before the first run
// starts, and leaves the other VMs alone.
func TestEachCommitsOrphansBeforeDispatch(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{VMs: 3, Password: "sim-Pa55word"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	leaveOrphan(t, s, "VM1", "vmlua-redo-deadbeef-1")
	leaveOrphan(t, s, "VM3", "vmlua-redo-deadbeef-3")
	src := script(t, `
		require("script").args{ vm = { each = true } }
		local v = require("vm").open(arg.vm)
		assert(#v:snapshots() == 0, v.name .. " still has the orphan when its run starts")
		print("clean " .. v.name)
	`)
	out, err := exec.Command(simtest.Binary(t), "run", "--url", s.URL.String(), "--insecure", "--each", "name:VM[12]", src).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, w := range []string{"clean VM1", "clean VM2", "committed an orphaned REDO log", "before the runs, committed the REDO logs"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("the output lacks %q:\n%s", w, out)
		}
	}
	if n := snapshotCount(t, s, "VM3"); n != 1 {
		t.Errorf("VM3, not selected, has %d snapshot(s), want its orphan left alone", n)
	}
}

// TestAnEmptySelectionOfASingleRun: nightly.lua whose selection matches no
// VM exits 6 and says why; --allow-empty makes it 0, and reaches a script
// that declares no such argument without an error.
func TestAnEmptySelectionOfASingleRun(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{Password: "sim-Pa55word"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	nightly, _ := filepath.Abs("../../scripts/nightly.lua")
	declaresNothing := script(t, `local a = require("script").args{}; print("allow_empty=" .. tostring(a.allow_empty))`)
	cases := []struct {
		name string
		args []string
		exit int
		want string
	}{
		{"a typo in vms= exits 6 and says nothing was backed up", []string{nightly, "to=file://" + dir, "vms=name:DB1"}, exitNothingSelected, "no VM matches vms=name:DB1: nothing was backed up"},
		{"allow_empty=true makes it 0", []string{nightly, "to=file://" + dir, "vms=name:DB1", "allow_empty=true"}, exitOK, "0 VM(s) selected by vms=name:DB1"},
		{"--allow-empty makes it 0", []string{"--allow-empty", nightly, "to=file://" + dir, "vms=name:DB1"}, exitOK, "0 VM(s) selected by vms=name:DB1"},
		{"--allow-empty reaches a script that does not declare it", []string{"--allow-empty", declaresNothing}, exitOK, "allow_empty=true"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--url", s.URL.String(), "--insecure", "--allow", "file://" + dir}, tc.args...)
			out, err := exec.Command(simtest.Binary(t), args...).CombinedOutput()
			if c := exitCode(err); c != tc.exit {
				t.Fatalf("exit %d, want %d:\n%s", c, tc.exit, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("the output lacks %q:\n%s", tc.want, out)
			}
		})
	}
}

// TestEachRunsOnlyScriptsWrittenForIt: --each refuses, before anything
// runs, a script whose script.args does not declare vm = { each = true }
// (it would do its whole job once per VM: hybrid.lua backed the fleet up
// once per VM, two_targets.lua made double backups fighting over the
// lock), naming the script; a script written for it runs once per VM and
// every line it prints starts with its VM's name.
func TestEachRunsOnlyScriptsWrittenForIt(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{VMs: 2, DiskSize: 1 << 20, Password: "sim-Pa55word"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	run := func(args ...string) (string, int) {
		t.Helper()
		full := append([]string{"run", "--url", s.URL.String(), "--insecure", "--allow", "file://" + dir + "/"}, args...)
		out, err := exec.Command(simtest.Binary(t), full...).CombinedOutput()
		return string(out), exitCode(err)
	}
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	refused := []struct{ name, script, why string }{
		{"an example that selects its own VMs", abs("../../examples/hybrid.lua"), "its script.args{...} does not declare vm with each = true"},
		{"an example with two targets", abs("../../examples/two_targets.lua"), "does not declare vm with each = true"},
		{"a script whose vm= is a VM name, not the VM --each hands it", abs("../../scripts/restore.lua"), "does not declare vm with each = true"},
		{"a script that does not declare its arguments", script(t, `print("ran " .. tostring(arg.vm))`), "it does not declare its arguments"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			out, code := run("--each", "name:VM*", tc.script, "to=file://"+dir+"/x", "local=file://"+dir+"/l", "offsite=file://"+dir+"/o", "from=file://"+dir)
			if code != exitUsage {
				t.Errorf("exit %d, want 2:\n%s", code, out)
			}
			if !strings.Contains(out, "vmlua: --each: "+tc.script+" is not written for --each: ") || !strings.Contains(out, tc.why) {
				t.Errorf("the refusal does not name the script and say why (%q):\n%s", tc.why, out)
			}
			if strings.Contains(out, "ran ") || strings.Contains(out, "add_redo") || strings.Contains(out, "VM1  ") {
				t.Errorf("something ran:\n%s", out)
			}
			if got, _ := filepath.Glob(filepath.Join(dir, "*", "*")); len(got) != 0 {
				t.Errorf("the refused run wrote %v", got)
			}
		})
	}
	t.Run("a script written for --each prints lines that name their VM", func(t *testing.T) {
		out, code := run("--each", "name:VM*", abs("../../scripts/backup_all.lua"), "to=file://"+dir+"/each")
		if code != exitOK {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		for _, v := range []string{"VM1", "VM2"} {
			if !regexp.MustCompile(`(?m)^` + v + `: 1 of 1 VM\(s\) backed up to file://`).MatchString(out) {
				t.Errorf("no summary line of %s that names it:\n%s", v, out)
			}
		}
		if regexp.MustCompile(`(?m)^1 of 1 VM`).MatchString(out) {
			t.Errorf("a per-VM line does not say which VM it is about:\n%s", out)
		}
	})
}

func TestEachLinesNameTheirVMOnce(t *testing.T) {
	cases := []struct{ in, want string }{
		{"did VM2\n", "VM2: did VM2\n"},
		{"VM2: 1 disk(s) exported\n", "VM2: 1 disk(s) exported\n"},
		{"VM2\tok\n", "VM2\tok\n"},
		{"VM20 is another VM\n", "VM2: VM20 is another VM\n"},
		{"a\nb\n", "VM2: a\nVM2: b\n"},
	}
	for _, tc := range cases {
		var b strings.Builder
		n, err := vmLines{w: &b, vm: "VM2"}.Write([]byte(tc.in))
		if err != nil || n != len(tc.in) || b.String() != tc.want {
			t.Errorf("%q -> %q (%d, %v), want %q", tc.in, b.String(), n, err, tc.want)
		}
	}
}

// TestEachOnlyFlagsNeedEach: the flags that shape an --each run, given
// without --each, are a usage error (exit 2) that says to add --each,
// before anything runs; they used to be ignored, so that --shard 1/3 ran
// the script on the whole fleet and exited 0. A --shard that is not i/n
// is refused before vSphere is asked anything (no endpoint is configured
// here: that would be exit 3).
func TestEachOnlyFlagsNeedEach(t *testing.T) {
	hello, _ := filepath.Abs("../../examples/hello.lua")
	for _, tc := range []struct {
		name string
		args []string
		exit int
		want string
	}{
		{"--shard without --each", []string{"--shard", "1/3"}, exitUsage, "--shard works with --each only"},
		{"--shard= without --each", []string{"--shard=2/3"}, exitUsage, "add --each SPEC"},
		{"--jobs and --per-host without --each", []string{"--jobs", "2", "--per-host", "1"}, exitUsage, "--jobs and --per-host work with --each only"},
		{"--per-datastore without --each", []string{"--per-datastore", "1"}, exitUsage, "--per-datastore works with --each only"},
		{"--per-target without --each", []string{"--per-target", "1"}, exitUsage, "--per-target works with --each only"},
		{"a shard that is not i/n", []string{"--each", "any:", "--shard", "0/3"}, exitUsage, `--shard "0/3": want i/n`},
		{"--allow-empty without --each is the script's (allow_empty=true)", []string{"--allow-empty"}, exitOK, "Hello, vmlua!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errb, code := runBin(t, append(append([]string{"run"}, tc.args...), hello)...)
			if code != tc.exit || !strings.Contains(out+errb, tc.want) {
				t.Errorf("exit %d, want %d saying %q\nstdout: %s\nstderr: %s", code, tc.exit, tc.want, out, errb)
			}
			if tc.exit != exitOK && strings.Contains(out, "Hello, vmlua!") {
				t.Errorf("the script ran: %s", out)
			}
		})
	}
}
