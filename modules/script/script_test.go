package script_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmlua/vmlua/modules/script"
	"github.com/vmlua/vmlua/runtime"
	lua "github.com/yuin/gopher-lua"
)

type outcome struct {
	err     error
	stdout  string
	log     string
	results []map[string]any
	cleaned []string
}

// run runs src with the script module (and a module whose cleanup action
// records that it ran) and the given arguments.
func run(t *testing.T, src string, args []string, host ...string) outcome {
	t.Helper()
	var stdout, logs bytes.Buffer
	var mu sync.Mutex
	var cleaned []string
	hold := &runtime.Module{Name: "hold", Summary: "test", Funcs: []runtime.Func{{
		Name: "redo", Doc: "registers a cleanup action as add_redo does",
		Fn: func(r *runtime.Run, L *lua.LState) int {
			r.Cleanup.Push("commit REDO", func(context.Context) error {
				mu.Lock()
				cleaned = append(cleaned, "commit REDO")
				mu.Unlock()
				return nil
			})
			return 0
		},
	}, {
		Name: "broken", Doc: "registers a cleanup action that fails, as a commit the server refuses",
		Fn: func(r *runtime.Run, L *lua.LState) int {
			r.Cleanup.Push("commit REDO", func(context.Context) error { return errors.New("the server refused the commit") })
			return 0
		},
	}}}
	r, err := runtime.New(runtime.Options{
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
		Modules: []*runtime.Module{script.Module, hold},
		Args:    args, HostArgs: host, Stdout: &stdout, Timeout: 20 * time.Second,
		Endpoints: map[string]runtime.Endpoint{"vc": {Password: "Sup3r-S3cret-PW"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = r.ExecString("t.lua", src)
	mu.Lock()
	defer mu.Unlock()
	return outcome{err: err, stdout: stdout.String(), log: logs.String(), results: r.Results(), cleaned: cleaned}
}

func TestArgsParsesDeclaredArgumentsByType(t *testing.T) {
	const decl = `local script = require "script"
local a = script.args{
  keep = { type = "number", default = 4, help = "sets to keep" },
  to = { required = true, help = "target URL" },
  verify = { type = "boolean", default = false },
  vms = { type = "list", default = "name:DB01,name:WEB*" },
  note = { },
}
`
	cases := []struct {
		name string
		args []string
		host []string
		src  string // printed with print(...)
		want string
	}{
		{"a number is converted", []string{"to=x", "keep=7"}, nil, "a.keep, type(a.keep)", "7\tnumber"},
		{"a missing argument takes its default", []string{"to=x"}, nil, "a.keep, a.verify, a.note", "4\tfalse\tnil"},
		{"a boolean accepts yes and no", []string{"to=x", "verify=yes"}, nil, "a.verify", "true"},
		{"a list is split at commas", []string{"to=x", "vms=name:A, name:B,,"}, nil, "#a.vms, a.vms[1], a.vms[2]", "2\tname:A\tname:B"},
		{"a list default given as a string is split too", []string{"to=x"}, nil, "#a.vms, a.vms[2]", "2\tname:WEB*"},
		{"positional arguments stay at 1..n", []string{"name:DB01", "to=x", "second"}, nil, "a[1], a[2], #a", "name:DB01\tsecond\t2"},
		{"the global arg keeps working", []string{"to=x", "keep=2"}, nil, "arg.keep, type(arg.keep)", "2\tstring"},
		{"keys the host adds are accepted undeclared", []string{"to=x", "vm=moref:vm-42", "vm_name=DB01"}, []string{"vm", "vm_name"}, "a.vm, a.vm_name", "moref:vm-42\tDB01"},
		{"the last of a repeated key wins", []string{"to=x", "keep=1", "keep=3"}, nil, "a.keep", "3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := run(t, decl+"print("+tc.src+")", tc.args, tc.host...)
			if o.err != nil {
				t.Fatal(o.err)
			}
			if got := strings.TrimSuffix(o.stdout, "\n"); got != tc.want {
				t.Errorf("printed %q, want %q", got, tc.want)
			}
		})
	}
}

func TestArgsRefusesWhatTheScriptDidNotDeclare(t *testing.T) {
	const decl = `require("script").args{ keep = { type = "number", default = 4, help = "sets to keep" }, to = { required = true, help = "target URL" }, verify = { type = "boolean" } }
print("not reached")`
	cases := []struct {
		name, src string
		args      []string
		want      string
		exit      int
	}{
		{"a misspelt key names the one it resembles and ends with usage", decl, []string{"to=x", "kepe=2"}, "t.lua:1: the script ended with status usage (2): unknown argument kepe (did you mean keep?); this script takes: keep, to, verify", runtime.ExitUsage},
		{"an unknown key unlike any lists what the script takes", decl, []string{"to=x", "colour=red"}, "unknown argument colour; this script takes: keep, to, verify", runtime.ExitUsage},
		{"vm is unknown unless the host added it", decl, []string{"to=x", "vm=DB01"}, "unknown argument vm", runtime.ExitUsage},
		{"a missing required argument says what it is", decl, []string{"keep=2"}, "usage (2): missing argument to=... (to: target URL)", runtime.ExitUsage},
		{"a number that is not one is refused", decl, []string{"to=x", "keep=four"}, "argument keep=four: want a number (keep: sets to keep)", runtime.ExitUsage},
		{"a boolean that is not one is refused", decl, []string{"to=x", "verify=maybe"}, "argument verify=maybe: want true or false", runtime.ExitUsage},
		{"pcall cannot catch a refused argument", `local ok = pcall(require("script").args, { keep = {} }) print("not reached")`, []string{"kepe=1"}, "unknown argument kepe (did you mean keep?)", runtime.ExitUsage},
		{"an unknown type in the declaration is a script error", `require("script").args{ keep = { type = "int" } }`, nil, `argument keep has type "int"`, runtime.ExitFailed},
		{"an unknown field in the declaration is a script error", `require("script").args{ keep = { defualt = 4 } }`, nil, `unknown field "defualt"`, runtime.ExitFailed},
		{"a declaration that is not a table is a script error", `require("script").args{ keep = 4 }`, nil, "the declaration of keep is a number", runtime.ExitFailed},
		{"each on another argument than vm is a script error", `require("script").args{ host = { each = true } }`, nil, "each = true belongs on the argument vm", runtime.ExitFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := run(t, tc.src, tc.args)
			if o.err == nil || !strings.Contains(o.err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", o.err, tc.want)
			}
			if got := runtime.ExitStatus(o.err); got != tc.exit {
				t.Errorf("exit status %d, want %d", got, tc.exit)
			}
			if o.stdout != "" {
				t.Errorf("the script went on: %q", o.stdout)
			}
		})
	}
}

func TestArgsAcceptsEachOnVM(t *testing.T) {
	o := run(t, `local a = require("script").args{ vm = { each = true, help = "one VM" } } print(a.vm)`, []string{"vm=moref:vm-42"})
	if o.err != nil || o.stdout != "moref:vm-42\n" {
		t.Errorf("printed %q, err %v", o.stdout, o.err)
	}
}

// TestNothingSelectedEndsWith6UnlessAllowEmpty: the one rule for a
// selection that matches nothing.
func TestNothingSelectedEndsWith6UnlessAllowEmpty(t *testing.T) {
	const src = `local script = require "script"
local a = script.args{ vms = { default = "any:" }, allow_empty = { type = "boolean", default = false } }
script.nothing_selected("no VM matches " .. a.vms .. ": nothing was backed up")
print("not reached")`
	cases := []struct {
		name    string
		args    []string
		host    []string
		exit    int
		wantErr string
		wantLog string
	}{
		{"without allow_empty it ends with 6 and says how to allow it", []string{"vms=name:DB1"}, nil, runtime.ExitNothingSelected,
			"t.lua:3: the script ended with status nothing_selected (6): no VM matches name:DB1: nothing was backed up; give allow_empty=true if that is expected", ""},
		{"allow_empty=true ends it with 0 and logs why", []string{"vms=name:DB1", "allow_empty=true"}, nil, runtime.ExitOK, "", "no VM matches name:DB1: nothing was backed up (allow_empty=true: not a failure)"},
		{"allow_empty=no is not allowing", []string{"allow_empty=no"}, nil, runtime.ExitNothingSelected, "nothing_selected (6)", ""},
		{"--allow-empty's host argument allows it too", []string{"allow_empty=true"}, []string{"allow_empty"}, runtime.ExitOK, "", "(allow_empty=true: not a failure)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := run(t, src, tc.args, tc.host...)
			if got := runtime.ExitStatus(o.err); got != tc.exit {
				t.Fatalf("exit status %d, want %d (%v)", got, tc.exit, o.err)
			}
			if tc.wantErr != "" && (o.err == nil || !strings.Contains(o.err.Error(), tc.wantErr)) {
				t.Errorf("err = %v, want %q", o.err, tc.wantErr)
			}
			if tc.wantLog != "" && !strings.Contains(o.log, tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, o.log)
			}
			if o.stdout != "" {
				t.Errorf("the script went on: %q", o.stdout)
			}
		})
	}
	o := run(t, `require("script").nothing_selected("none")`, []string{"allow_empty=perhaps"}, "allow_empty")
	if runtime.ExitStatus(o.err) != runtime.ExitUsage || !strings.Contains(o.err.Error(), "allow_empty=perhaps: want true or false") {
		t.Errorf("allow_empty=perhaps: %v", o.err)
	}
}

// TestForEachReadsTheDeclaration: --each runs only scripts whose
// script.args declares vm with each = true, seen in the source.
func TestForEachReadsTheDeclaration(t *testing.T) {
	cases := []struct {
		name, src string
		want      string // "" when the script is written for --each
	}{
		{"a local bound to require declares vm with each", "local script = require \"script\"\nlocal a = script.args{ to = {}, vm = { each = true, help = \"x\" } }", ""},
		{"require(\"script\").args works too", `local a = require("script").args({ ["vm"] = { each = true } })`, ""},
		{"any local name works", `local s = require("script") local a = s.args{ vm = { each = true } }`, ""},
		{"a script that does not declare is refused", `local v = require("vm").open(arg.vm)`, "s.lua is not written for --each: it does not declare its arguments"},
		{"a declaration without vm is refused", `local a = require("script").args{ vms = { default = "any:" } }`, "its script.args{...} does not declare vm with each = true"},
		{"vm declared without each (a VM name, as restore.lua's) is refused", `local a = require("script").args{ vm = { help = "the VM whose set to restore" } }`, "does not declare vm with each = true"},
		{"each = false is refused", `local a = require("script").args{ vm = { each = false } }`, "does not declare vm with each = true"},
		{"another module's args does not count", `local other = require("log") local a = other.args{ vm = { each = true } }`, "does not declare its arguments"},
		{"a syntax error is refused", `local a = `, "s.lua cannot be parsed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := script.ForEach("s.lua", tc.src)
			if tc.want == "" {
				if err != nil {
					t.Errorf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestStatusAndExitSetTheRunsExitStatus(t *testing.T) {
	cases := []struct {
		name, src   string
		want        int
		wantErr     string // in the returned error
		wantStdout  string
		wantLog     string
		wantCleaned bool
	}{
		{"a script that returns normally ends with 0", `print("x")`, 0, "", "x\n", "", false},
		{"status partial ends with 7", `require("script").status("partial")`, 7, "status partial (7)", "", "", false},
		{"status nothing_selected ends with 6", `require("script").status("nothing_selected")`, 6, "status nothing_selected (6)", "", "", false},
		{"a numeric status is kept", `require("script").status(42)`, 42, "status 42 (42)", "", "", false},
		{"the last status wins", `local s = require "script"; s.status("failed"); s.status("ok")`, 0, "", "", "", false},
		{"an error after status still fails with 1", `require("script").status("partial"); error("boom")`, 1, "boom", "", "", false},
		{"exit stops the script at once", `local s = require "script"; s.exit("partial", "2 disks skipped"); print("not reached")`, 7, "t.lua:1: the script ended with status partial (7): 2 disks skipped", "", "", false},
		{"exit cannot be caught by pcall", `local s = require "script"; pcall(s.exit, "failed"); print("not reached")`, 1, "status failed (1)", "", "", false},
		{"exit runs the cleanup stack", `require("hold").redo(); require("script").exit(7)`, 7, "status partial (7)", "", "", true},
		{"a failed cleanup outranks the status the script chose", `require("hold").broken(); require("script").status("partial")`, 1, "cleanup failed: ", "", "", false},
		{"exit with ok and a message logs the message and ends with 0", `require("script").exit("ok", "nothing to do today"); print("not reached")`, 0, "", "", "nothing to do today", false},
		{"an unknown status name is a script error", `require("script").status("parital")`, 1, `unknown status "parital"`, "", "", false},
		{"a status above 125 is refused", `require("script").status(200)`, 1, "want a whole number 0..125", "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := run(t, tc.src, nil)
			if got := runtime.ExitStatus(o.err); got != tc.want {
				t.Errorf("exit status %d, want %d (err %v)", got, tc.want, o.err)
			}
			if tc.wantErr == "" && o.err != nil {
				t.Errorf("err = %v, want none", o.err)
			}
			if tc.wantErr != "" && (o.err == nil || !strings.Contains(o.err.Error(), tc.wantErr)) {
				t.Errorf("err = %v, want it to contain %q", o.err, tc.wantErr)
			}
			if o.stdout != tc.wantStdout {
				t.Errorf("stdout %q, want %q", o.stdout, tc.wantStdout)
			}
			if tc.wantLog != "" && strings.Count(o.log, tc.wantLog) != 1 {
				t.Errorf("log %q should hold %q once", o.log, tc.wantLog)
			}
			if tc.wantCleaned != (len(o.cleaned) == 1) {
				t.Errorf("cleanup actions run: %v", o.cleaned)
			}
		})
	}
}

func TestResultRecordsFlatRows(t *testing.T) {
	o := run(t, `local s = require "script"
s.result{ vm = "DB01", status = "ok", bytes = 1048576, verified = true, rate = 1.5 }
s.result{ vm = "WEB01", status = "partial" }`, nil)
	if o.err != nil {
		t.Fatal(o.err)
	}
	if len(o.results) != 2 || o.results[0]["vm"] != "DB01" || o.results[0]["bytes"] != int64(1048576) || o.results[0]["verified"] != true || o.results[0]["rate"] != 1.5 || o.results[1]["status"] != "partial" {
		t.Errorf("results = %v", o.results)
	}
	o = run(t, `require("script").result{ target = "sftp://backup:Sup3r-S3cret-PW@nas/x" }`, nil)
	if o.err != nil || o.results[0]["target"] != "sftp://backup:xxxxx@nas/x" {
		t.Errorf("a configured password in a row: %v, %v; want it redacted", o.results, o.err)
	}
	o = run(t, `require("script").result{ vm = "DB01", disks = { "scsi0:0" } }`, nil)
	var se *runtime.ScriptError
	if !errors.As(o.err, &se) || !strings.Contains(se.Message, "result field disks is a table: rows are flat") {
		t.Errorf("a nested row: err = %v, want a refusal", o.err)
	}
}

func TestPrintWritesLinesToStdoutNotTheLog(t *testing.T) {
	o := run(t, `print("a", 1, true, nil) print("second")`, nil)
	if o.err != nil {
		t.Fatal(o.err)
	}
	if o.stdout != "a\t1\ttrue\tnil\nsecond\n" {
		t.Errorf("stdout %q", o.stdout)
	}
	if strings.Contains(o.log, "second") {
		t.Errorf("print reached the log: %s", o.log)
	}
}
