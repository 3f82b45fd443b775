package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/eventually"
	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
)

// documentedStatuses reads the exit status table of docs/operations.md.
func documentedStatuses(t *testing.T) map[int]string {
	t.Helper()
	b, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "## Exit statuses\n")
	if !ok {
		t.Fatal("docs/operations.md has no Exit statuses section")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	out := map[int]string{}
	for _, m := range regexp.MustCompile(`(?m)^\| (\d+) \| (.*) \|$`).FindAllStringSubmatch(sec, -1) {
		n, _ := strconv.Atoi(m[1])
		out[n] = m[2]
	}
	return out
}

// TestEveryDocumentedExitStatusIsWhatTheCommandReturns runs vmlua as a
// user would, once per situation docs/operations.md lists, and checks the
// status; the table of the docs and the cases here must name the same
// statuses.
func TestEveryDocumentedExitStatusIsWhatTheCommandReturns(t *testing.T) {
	bin := simtest.Binary(t)
	home := t.TempDir() // no config file anywhere vmlua looks
	unsafe := filepath.Join(home, "unsafe.toml")
	os.WriteFile(unsafe, []byte("[credentials.nas]\nuser = \"u\"\npassword = \"Sup3r-S3cret-PW\"\n"), 0o644)
	os.Chmod(unsafe, 0o644)
	hello, _ := filepath.Abs("../../examples/hello.lua")
	sim, err := vsim.Start(context.Background(), vsim.Options{Password: "sim-Pa55word", DiskSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	cases := []struct {
		name    string
		args    []string
		signal  bool   // send SIGTERM once the script printed "started"
		status  int    // the exit status
		wantOut string // on stderr or stdout
	}{
		{"a script that returns normally exits 0", []string{"run", hello}, false, exitOK, "Hello, vmlua!"},
		{"a script that raises an error exits 1", []string{"run", script(t, "error('boom')")}, false, exitFailure, "boom"},
		{"a script that sets status failed exits 1", []string{"run", script(t, "require('script').status('failed')")}, false, exitFailure, "status failed (1)"},
		{"a missing script exits 2", []string{"run", filepath.Join(home, "nosuch.lua")}, false, exitUsage, "no script"},
		{"run without a script exits 2", []string{"run"}, false, exitUsage, "Usage: vmlua run"},
		{"an unknown flag exits 2", []string{"run", "--frobnicate", hello}, false, exitUsage, "unknown flag --frobnicate"},
		{"an unknown command exits 2", []string{"frobnicate"}, false, exitUsage, "unknown command"},
		{"a script vmlua check finds a mistake in exits 2 before it runs", []string{"run", script(t, "local log = require 'log'\nprint('started')\nlog.inf('x')")}, false, exitUsage, `did you mean "info"?`},
		{"vmlua check of a missing script exits 2", []string{"check", filepath.Join(home, "nosuch.lua")}, false, exitUsage, "no such file"},
		{"a script that needs vSphere with no endpoint configured exits 3", []string{"run", script(t, "require('vm').find('any:')")}, false, exitConfig, "no vSphere endpoint configured"},
		{"--each with no endpoint configured exits 3", []string{"run", "--each", "any:", script(t, `require("script").args{ vm = { each = true } }`)}, false, exitConfig, "no vSphere endpoint configured"},
		{"a config file readable by others exits 3", []string{"run", "--config", unsafe, hello}, false, exitConfig, "chmod 600"},
		{"a run longer than --timeout exits 4", []string{"run", "--timeout", "300ms", script(t, "while true do end")}, false, exitTimeout, "longer than its --timeout"},
		{"SIGTERM exits 5", []string{"run", script(t, "print('started') while true do end")}, true, exitCanceled, "stopped: received terminated"},
		{"a script whose selection matched nothing exits 6", []string{"run", script(t, "require('script').status('nothing_selected')")}, false, exitNothingSelected, "status nothing_selected (6)"},
		{"a script that left something out exits 7", []string{"run", script(t, "require('script').exit('partial', 'disk scsi0:2 skipped')")}, false, exitPartial, "disk scsi0:2 skipped"},
		{"vmlua doctor of a VM whose backup would leave a disk out exits 8", []string{"doctor", "--url", sim.URL.String(), "--insecure", "name:DB01"}, false, exitBlocked, "DB01: BLOCKS disk: disk scsi0:2 is independent-persistent"},
	}
	covered := map[int]bool{}
	for _, tc := range cases {
		covered[tc.status] = true
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Dir = home
			cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
			out := &simtest.LockedBuffer{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if tc.signal {
				eventually.True(t, "the script's 'started' line", func() bool { return strings.Contains(out.String(), "started") })
				_ = cmd.Process.Signal(syscall.SIGTERM)
			}
			code := exitCode(cmd.Wait())
			if code != tc.status {
				t.Errorf("exit status %d, want %d\n%s", code, tc.status, out)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("output lacks %q:\n%s", tc.wantOut, out)
			}
		})
	}
	doc := documentedStatuses(t)
	for n := range doc {
		if !covered[n] {
			t.Errorf("docs/operations.md documents exit status %d (%s) but no case here checks it", n, doc[n])
		}
	}
	for n := range covered {
		if _, ok := doc[n]; !ok {
			t.Errorf("exit status %d is returned but docs/operations.md does not list it", n)
		}
	}
	if len(doc) < 9 {
		t.Errorf("docs/operations.md lists %d statuses, want 0..8", len(doc))
	}
}

// TestHelpIsPrintedOnceOnStdout: every command's --help goes to stdout,
// once, and nothing to stderr.
func TestHelpIsPrintedOnceOnStdout(t *testing.T) {
	bin := simtest.Binary(t)
	names := []string{""}
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		t.Run("vmlua "+name+" --help", func(t *testing.T) {
			args := []string{"--help"}
			if name != "" {
				args = []string{name, "--help"}
			}
			var out, errb bytes.Buffer
			cmd := exec.Command(bin, args...)
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v: %v\n%s", args, err, errb.String())
			}
			if errb.Len() != 0 {
				t.Errorf("stderr is not empty: %q", errb.String())
			}
			if n := strings.Count(out.String(), "Usage: vmlua"); n != 1 && name != "" {
				t.Errorf("the usage is printed %d times:\n%s", n, out.String())
			}
			if out.Len() == 0 {
				t.Error("nothing on stdout")
			}
		})
	}
}

func TestVersionFlagsWorkLikeTheVersionCommand(t *testing.T) {
	bin := simtest.Binary(t)
	want, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, flag := range []string{"--version", "-version", "-v"} {
		got, err := exec.Command(bin, flag).Output()
		if err != nil || string(got) != string(want) {
			t.Errorf("vmlua %s = %q, %v; want %q", flag, got, err, want)
		}
	}
}
