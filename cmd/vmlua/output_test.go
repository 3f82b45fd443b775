package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
)

func TestParseFlagsAcceptsFlagsAnywhereBeforeALoneDoubleDash(t *testing.T) {
	cases := []struct {
		name      string
		args      []string
		wantPos   []string
		wantAllow string
		wantDry   bool
		wantCode  int
		wantDone  bool
	}{
		{"flags before the script", []string{"--allow", "file:///srv", "x.lua", "to=y"}, []string{"x.lua", "to=y"}, "file:///srv", false, 0, false},
		{"flags after the script", []string{"x.lua", "--allow", "file:///srv", "to=y"}, []string{"x.lua", "to=y"}, "file:///srv", false, 0, false},
		{"flags between arguments", []string{"x.lua", "name:DB01", "--dry-run", "to=y"}, []string{"x.lua", "name:DB01", "to=y"}, "", true, 0, false},
		{"everything after -- is an argument", []string{"x.lua", "--", "--allow", "-5"}, []string{"x.lua", "--allow", "-5"}, "", false, 0, false},
		{"flags before -- still count", []string{"--dry-run", "x.lua", "--", "--dry-run"}, []string{"x.lua", "--dry-run"}, "", true, 0, false},
		{"an unknown flag after the script is a usage error", []string{"x.lua", "--kepe=2"}, nil, "", false, exitUsage, true},
		{"help after the script is help", []string{"x.lua", "--help"}, nil, "", false, exitOK, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("vmlua run", flag.ContinueOnError)
			var f runFlags
			f.register(fs)
			var out, errb bytes.Buffer
			fs.Usage = func() { io.WriteString(fs.Output(), "Usage: vmlua run\n") }
			pos, code, done := parseFlags(fs, tc.args, &out, &errb)
			if done != tc.wantDone || code != tc.wantCode {
				t.Fatalf("done=%v code=%d, want %v %d; stderr %q", done, code, tc.wantDone, tc.wantCode, errb.String())
			}
			if done {
				return
			}
			if strings.Join(pos, " ") != strings.Join(tc.wantPos, " ") || f.allow.String() != tc.wantAllow || f.dryRun != tc.wantDry {
				t.Errorf("pos=%q allow=%q dry=%v, want %q %q %v", pos, f.allow.String(), f.dryRun, tc.wantPos, tc.wantAllow, tc.wantDry)
			}
		})
	}
}

// runBin runs the vmlua binary and returns stdout, stderr and the status.
func runBin(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(simtest.Binary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	code := exitCode(cmd.Run())
	return out.String(), errb.String(), code
}

func TestRunOutputModes(t *testing.T) {
	dir := t.TempDir()
	grantNeeded := script(t, `local t = require("transport").open(arg.to); t:write("x.txt", "x"); print("wrote x.txt")`)
	rows := script(t, `local s = require "script"
local log = require "log"
log.info("working")
print("VM\tSTATUS")
s.result{ vm = "DB01", status = "ok", bytes = 42 }
s.result{ vm = "WEB01", status = "partial", message = "disk scsi0:2 skipped" }
print("DB01\tok")
if arg.fail == "1" then error("boom") end
s.status("partial")`)
	declared := script(t, `local a = require("script").args{ keep = { type = "number", default = 4, help = "sets to keep" } }
print("keep " .. a.keep)`)
	cases := []struct {
		name                  string
		args                  []string
		wantStatus            int
		wantStdout, notStdout string
		wantStderr, notStderr string
		stdoutEmpty           bool
		stderrEmpty           bool
		json                  bool
	}{
		{name: "a flag after the script name is vmlua's", args: []string{"run", grantNeeded, "--allow", "file://" + dir, "to=file://" + dir}, wantStdout: "wrote x.txt"},
		{name: "after -- it is the script's", args: []string{"run", grantNeeded, "to=file://" + dir, "--", "--allow"}, wantStatus: exitFailure, wantStderr: "not_granted"},
		{name: "a misspelt declared argument fails with did you mean", args: []string{"run", declared, "kepe=2"}, wantStatus: exitUsage, wantStderr: "unknown argument kepe (did you mean keep?)"},
		{name: "a declared argument reaches the script typed", args: []string{"run", declared, "keep=7"}, wantStdout: "keep 7\n"},
		{name: "print goes to stdout and logs to stderr", args: []string{"run", rows}, wantStatus: exitPartial, wantStdout: "VM\tSTATUS\nDB01\tok\n", notStdout: "working", wantStderr: "working"},
		{name: "--log-level warn drops logs but not what the script printed", args: []string{"run", "--log-level", "warn", rows}, wantStatus: exitPartial, wantStdout: "DB01\tok", notStderr: "working"},
		{name: "--json prints one JSON object and sends print to stderr", args: []string{"run", "--json", rows}, wantStatus: exitPartial, json: true, wantStderr: "DB01\tok", notStdout: "DB01\tok"},
		{name: "--json reports a failure", args: []string{"run", "--json", rows, "fail=1"}, wantStatus: exitFailure, json: true, wantStdout: `"status":"failed","exit":1,"error":"s.lua:8: boom"`},
		{name: "--quiet prints nothing when the run succeeds", args: []string{"run", "--quiet", "../../examples/hello.lua"}, stdoutEmpty: true, stderrEmpty: true},
		{name: "--quiet with --summary line prints one line", args: []string{"run", "--quiet", "--summary", "line", "../../examples/hello.lua"}, wantStdout: "hello.lua: ok (exit 0) in ", stderrEmpty: true},
		{name: "--quiet shows the held output when the run fails", args: []string{"run", "--quiet", rows, "fail=1"}, wantStatus: exitFailure, wantStdout: "VM\tSTATUS\nDB01\tok\n", wantStderr: "boom", notStderr: "working"},
		{name: "--summary line counts the result rows by status", args: []string{"run", "--summary=line", rows}, wantStatus: exitPartial, wantStdout: "s.lua: partial (exit 7) in "},
		{name: "--summary takes none or line only", args: []string{"run", "--summary=full", rows}, wantStatus: exitUsage, wantStderr: `--summary "full": want none or line`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errb, code := runBin(t, tc.args...)
			if code != tc.wantStatus {
				t.Errorf("exit status %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantStatus, out, errb)
			}
			if !strings.Contains(out, tc.wantStdout) || (tc.notStdout != "" && strings.Contains(out, tc.notStdout)) {
				t.Errorf("stdout %q: want %q, not %q", out, tc.wantStdout, tc.notStdout)
			}
			if !strings.Contains(errb, tc.wantStderr) || (tc.notStderr != "" && strings.Contains(errb, tc.notStderr)) {
				t.Errorf("stderr %q: want %q, not %q", errb, tc.wantStderr, tc.notStderr)
			}
			if tc.stdoutEmpty && out != "" {
				t.Errorf("stdout is not empty: %q", out)
			}
			if tc.stderrEmpty && errb != "" {
				t.Errorf("stderr is not empty: %q", errb)
			}
			if tc.json {
				var rep runReport
				dec := json.NewDecoder(strings.NewReader(out))
				if err := dec.Decode(&rep); err != nil || dec.More() {
					t.Fatalf("stdout is not one JSON object (%v): %q", err, out)
				}
				if rep.Exit != tc.wantStatus || len(rep.Results) != 2 || rep.Results[1]["status"] != "partial" || rep.Results[0]["bytes"] != float64(42) {
					t.Errorf("report = %+v", rep)
				}
			}
		})
	}
}

func TestSummaryLineCountsResultsByStatus(t *testing.T) {
	rep := newReport("/x/nightly.lua", exitPartial, nil, 0, []map[string]any{{"status": "ok"}, {"status": "partial"}, {"status": "ok"}, {"vm": "x"}})
	if got, want := rep.summaryLine(), "nightly.lua: partial (exit 7) in 0s, 4 result(s): 1 no status, 2 ok, 1 partial"; got != want {
		t.Errorf("summary line %q, want %q", got, want)
	}
}

// TestProgressHonoursTheLogLevel: progress lines are info; above info, and
// with --quiet, there are none.
func TestProgressHonoursTheLogLevel(t *testing.T) {
	t.Setenv("VMLUA_CONFIG", filepath.Join(t.TempDir(), "none.toml"))
	os.WriteFile(os.Getenv("VMLUA_CONFIG"), nil, 0o600)
	cases := []struct {
		name  string
		f     runFlags
		shown bool
	}{
		{"info shows progress", runFlags{logFormat: "text", logLevel: "info"}, true},
		{"debug shows progress", runFlags{logFormat: "text", logLevel: "debug"}, true},
		{"warn hides it", runFlags{logFormat: "text", logLevel: "warn"}, false},
		{"error hides it", runFlags{logFormat: "text", logLevel: "error"}, false},
		{"JSON logs hide it", runFlags{logFormat: "json", logLevel: "info"}, false},
		{"--quiet hides it", runFlags{logFormat: "text", logLevel: "info", out: outputFlags{quiet: true}}, false},
		{"the demo shows it at warn", runFlags{logFormat: "text", logLevel: "warn", showProgress: true}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := tc.f.options(context.Background(), io.Discard, nil)
			if err != nil {
				t.Fatal(err)
			}
			if shown := opts.Progress != nil; shown != tc.shown {
				t.Errorf("progress shown = %v, want %v", shown, tc.shown)
			}
		})
	}
}

func TestHeldOutputKeepsTheLastLines(t *testing.T) {
	h := &heldOutput{max: 10}
	for _, l := range []string{"line1\n", "line2\n", "line3\n"} {
		h.Write([]byte(l))
	}
	var b bytes.Buffer
	h.flush(&b)
	if got := b.String(); got != "(the first 12 bytes the script printed were dropped; the last 6 follow)\nline3\n" {
		t.Errorf("flushed %q", got)
	}
}

// TestPrintedLinesCanBePiped: what vm_info.lua prints is on stdout, one
// tab-separated line per VM, so 'vmlua run ... | cut -f2' works; the logs
// are on stderr.
func TestPrintedLinesCanBePiped(t *testing.T) {
	out, errb, code := runBin(t, "run", "--sim", "../../scripts/vm_info.lua", "any:")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errb)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 2 {
			t.Fatalf("line %q is not tab-separated", line)
		}
		names = append(names, f[1]) // cut -f2
	}
	if strings.Join(names, ",") != "name:DB01,name:VM1,name:VM2" {
		t.Errorf("cut -f2 gives %v\nstdout:\n%s", names, out)
	}
}

// TestJSONReportsARunThatCouldNotStart: with --json, stdout holds a report
// even when the script never ran.
func TestJSONReportsARunThatCouldNotStart(t *testing.T) {
	out, _, code := runBin(t, "run", "--json", filepath.Join(t.TempDir(), "nosuch.lua"))
	var rep runReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitUsage || rep.Exit != exitUsage || rep.Status != "usage" || !strings.Contains(rep.Error, "no script") {
		t.Errorf("exit %d, stdout %q (%v)", code, out, err)
	}
}
