package runtime_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmlua/vmlua/runtime"
)

func TestGrants(t *testing.T) {
	var g runtime.Grants
	for _, p := range []string{"sftp://backup@nas.example/backups/", "file:///srv/backup", "smb://NAS2:4445/share/vm", "nfs://10.0.0.5/export", "vmfs://LocalDS_1/backups", "vmfs://[datastore 1] vm backups"} {
		if err := g.Allow(p); err != nil {
			t.Fatalf("Allow(%q): %v", p, err)
		}
	}
	cases := []struct {
		url  string
		want string // "" = granted, else the error code
	}{
		{"sftp://backup@nas.example/backups/db01", ""},
		{"scp://backup@nas.example:22/backups/db01", ""},
		{"SFTP://backup@NAS.example/backups/db01", ""},
		{"sftp://backup@nas.example/backups", ""},
		{"sftp://backup@nas.example/backupsX/db01", "not_granted"},
		{"sftp://root@nas.example/backups/db01", "not_granted"},
		{"sftp://nas.example/backups/db01", "not_granted"},
		{"sftp://backup@nas.example:2222/backups/db01", "not_granted"},
		{"sftp://backup@nas.example.evil.com/backups/db01", "not_granted"},
		{"sftp://backup@evil.com@nas.example/backups/db01", "not_granted"},
		{"sftp://backup@nas.example/backups/../etc", "invalid_argument"},
		{"sftp://backup@nas.example/backups/%2e%2e/etc", "invalid_argument"},
		{"sftp://backup@nas.example/backups/..%2fetc", "invalid_argument"},
		{"file:///srv/backup/2026/db01", ""},
		{"file:///srv/backup2", "not_granted"},
		{"file:///srv", "not_granted"},
		{"file:///srv/backup/a\\..\\..\\etc", "invalid_argument"},
		{"cifs://nas2:4445/share/vm/db01", ""},
		{"smb://nas2/share/vm/db01", "not_granted"},
		{"nfs://10.0.0.5:2049/export/x", ""},
		{"ftp://10.0.0.5/export/x", "not_granted"},
		{"relative/path", "invalid_argument"},
		{"file:///srv/backup/x\nINJECT", "invalid_argument"},
		{"vmfs://LocalDS_1/backups/DB01", ""},
		{"vmfs://[LocalDS_1] backups/DB01", ""},
		{"vmfs://[LocalDS_1] backups", ""},
		{"VMFS://[localds_1] backups/x", ""},
		{"vmfs://[LocalDS_1] backupsX/DB01", "not_granted"},
		{"vmfs://[LocalDS_0] backups/DB01", "not_granted"},
		{"vmfs://[LocalDS_1] backups/../etc", "invalid_argument"},
		{"vmfs://[LocalDS_1] backups\\..\\x", "invalid_argument"},
		{"vmfs://[] backups", "invalid_argument"},
		{"vmfs://[datastore 1] vm backups/DB01", ""},
		{"vmfs://[datastore 1] other", "not_granted"},
	}
	for _, tc := range cases {
		err := g.Check(tc.url)
		got := ""
		var e *runtime.Error
		if errors.As(err, &e) {
			got = e.Code
		} else if err != nil {
			got = "untyped: " + err.Error()
		}
		if got != tc.want {
			t.Errorf("Check(%q) = %q (%v), want %q", tc.url, got, err, tc.want)
		}
	}
}

func TestArgs(t *testing.T) {
	res := runScript(t, `print(arg[1], arg[2], arg.name, arg["vm.name"], #arg, arg[3])`, func(o *runtime.Options) {
		o.Args = []string{"first", "name=world", "second", "vm.name=DB01", "=odd"}
	})
	if res.err != nil {
		t.Fatal(res.err)
	}
	if want := "first\tsecond\tworld\tDB01\t3\t=odd"; !slices.Contains(res.printed(), want) {
		t.Errorf("printed %q, want %q", res.printed(), want)
	}
}

func TestRequireFromLib(t *testing.T) {
	lib := t.TempDir()
	outside := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(lib, "site"), 0o755))
	must(os.WriteFile(filepath.Join(lib, "site", "policy.lua"), []byte(`return { keep = 4, name = ... }`), 0o644))
	must(os.WriteFile(filepath.Join(outside, "evil.lua"), []byte(`return "escaped"`), 0o644))
	must(os.Symlink(filepath.Join(outside, "evil.lua"), filepath.Join(lib, "evil.lua")))
	must(os.WriteFile(filepath.Join(lib, "loop.lua"), []byte(`return require "loop"`), 0o644))
	withLib := func(o *runtime.Options) { o.LibDir = lib }
	cases := []struct {
		name, script, wantLog, wantErr string
	}{
		{"a library module loads once and gets its name", `local p = require "site.policy"; local q = require "site.policy"; print(p.keep, p.name, p == q)`, "4\tsite.policy\ttrue", ""},
		{"a symlink out of the library is refused", `require "evil"`, "", "leads outside the --lib directory"},
		{"a missing module names where it looked", `require "site.nothing"`, "", "not found in --lib"},
		{"a require loop is reported", `require "loop"`, "", "loop in the modules' requires"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runScript(t, tc.script, withLib)
			if tc.wantErr == "" {
				if res.err != nil {
					t.Fatal(res.err)
				}
				if !slices.Contains(res.printed(), tc.wantLog) {
					t.Errorf("printed %q, want %q", res.printed(), tc.wantLog)
				}
				return
			}
			if res.err == nil || !strings.Contains(res.err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want it to contain %q", res.err, tc.wantErr)
			}
		})
	}
}

// TestCleanupRunsHowEverTheScriptEnds: actions a module registered and the
// script did not release run when the script ends, whatever the reason,
// newest first; released ones do not.
func TestCleanupRunsHowEverTheScriptEnds(t *testing.T) {
	cases := []struct {
		name     string
		script   string
		opts     func(*runtime.Options)
		cancel   bool
		wantCode string
	}{
		{"normal end", `local t = require "testmod"; t.push("a"); t.push("b"); t.push("released"):release()`, nil, false, ""},
		{"error", `local t = require "testmod"; t.push("a"); t.push("b"); t.push("released"):release(); error("boom")`, nil, false, "error"},
		{"timeout during a blocking call", `local t = require "testmod"; t.push("a"); t.push("b"); t.push("released"):release(); t.block()`, func(o *runtime.Options) { o.Timeout = 200 * time.Millisecond }, false, "timeout"},
		{"timeout in a Lua loop", `local t = require "testmod"; t.push("a"); t.push("b"); t.push("released"):release(); while true do end`, func(o *runtime.Options) { o.Timeout = 200 * time.Millisecond }, false, "timeout"},
		{"cancellation (SIGTERM)", `local t = require "testmod"; t.push("a"); t.push("b"); t.push("released"):release(); t.block()`, nil, true, "canceled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				time.AfterFunc(200*time.Millisecond, cancel)
			}
			res := runScript(t, tc.script, func(o *runtime.Options) {
				o.Context = ctx
				if tc.opts != nil {
					tc.opts(o)
				}
			})
			if got := res.code(); got != tc.wantCode {
				t.Errorf("code = %q (%v), want %q", got, res.err, tc.wantCode)
			}
			if want := []string{"b", "a"}; !slices.Equal(res.cleaned, want) {
				t.Errorf("cleanup ran %q, want %q (newest first, released ones not)", res.cleaned, want)
			}
			if !strings.Contains(res.log, "cleanup: the script left this undone") {
				t.Errorf("cleanup was not logged: %s", res.log)
			}
		})
	}
}

func TestStructuredErrorsReachPcall(t *testing.T) {
	res := runScript(t, `
		local t = require "testmod"
		local ok, e = pcall(t.fail, "pw")
		print(ok, e.code, e.vm, e.disk, tostring(e))
		local ok2, e2 = pcall(t.granted, "ftp://x/y")
		print(ok2, e2.code, e2.path)
		e.code = "changed"  -- error tables are plain tables a script may annotate
	`, nil)
	if res.err != nil {
		t.Fatal(res.err)
	}
	want := []string{
		"false\tvsphere\tDB01\tscsi0:1\tvsphere: login to https://admin:xxxxx@vc/sdk failed (password=xxxxx) (vm=DB01, disk=scsi0:1)",
		"false\tnot_granted\tftp://x/y",
	}
	for _, w := range want {
		if !slices.Contains(res.printed(), w) {
			t.Errorf("printed %q, want a line %q", res.printed(), w)
		}
	}
}

func TestScriptErrorsSayWhere(t *testing.T) {
	res := runScript(t, "local x = 1\nlocal t = require 'testmod'\nt.fail('x')\n", nil)
	var se *runtime.ScriptError
	if !errors.As(res.err, &se) {
		t.Fatalf("error %v is not a ScriptError", res.err)
	}
	if se.Where != "test.lua:3" {
		t.Errorf("Where = %q, want test.lua:3", se.Where)
	}
	res = runScript(t, "\n\nerror('plain')", nil)
	if !errors.As(res.err, &se) || se.Where != "test.lua:3" || se.Message != "plain" {
		t.Errorf("plain error = %+v, want where test.lua:3 and message plain", res.err)
	}
	res = runScript(t, "local x = = 1", nil)
	if res.code() != "invalid_argument" || !strings.Contains(res.err.Error(), "test.lua") {
		t.Errorf("syntax error = %v (code %s), want invalid_argument naming the file", res.err, res.code())
	}
}

func TestLogRedactsSecretsInAttributes(t *testing.T) {
	res := runScript(t, `local log = require "log"; log.warn("x", {pw = "Sup3r-S3cret-PW", n = 3, ok = true})`, func(o *runtime.Options) {
		o.Endpoints = map[string]runtime.Endpoint{"vc": {Password: "Sup3r-S3cret-PW"}}
	})
	if res.err != nil {
		t.Fatal(res.err)
	}
	if strings.Contains(res.log, "Sup3r") || !strings.Contains(res.log, `"pw":"xxxxx"`) || !strings.Contains(res.log, `"n":3`) {
		t.Errorf("log = %s", res.log)
	}
}

func TestCheck(t *testing.T) {
	mods := []*runtime.Module{testModule(nil, nil)}
	src := `local t = require "testmod"
t.pushh("x")
t.push()
t.push("a", "b")
local h = t.push("x")
h:relese()
h:release()
t.push(unpack({"x"}))
local other = {}
other.anything()
`
	got := runtime.Check("s.lua", src, mods)
	var lines []string
	for _, f := range got {
		lines = append(lines, f.String())
	}
	want := []string{
		`s.lua:2: t.pushh: module "testmod" has no function or field "pushh" (did you mean "push"?)`,
		`s.lua:3: t.push: takes at least 1 argument(s), got 0: push(name)`,
		`s.lua:4: t.push: takes at most 1 argument(s), got 2: push(name)`,
		`s.lua:6: h:relese: Handle objects have no method "relese" (did you mean "release"?)`,
	}
	if !slices.Equal(lines, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if f := runtime.Check("bad.lua", "local = 3", mods); len(f) != 1 || !strings.Contains(f[0].Message, "syntax error") {
		t.Errorf("syntax error findings = %v", f)
	}
}

func TestModuleValidateDemandsDocs(t *testing.T) {
	m := &runtime.Module{Name: "x", Summary: "s", Funcs: []runtime.Func{{Name: "f", Fn: nil}}}
	err := m.Validate()
	if err == nil || !strings.Contains(err.Error(), "x.f") {
		t.Errorf("Validate = %v, want it to name x.f", err)
	}
}

// TestFileGrantsResolveSymlinks: a symlink inside a granted folder does not
// carry the grant outside it, and a granted folder that is a symlink still
// covers what lies below it (existing or not yet).
func TestFileGrantsResolveSymlinks(t *testing.T) {
	root := t.TempDir()
	granted, outside, real := filepath.Join(root, "granted"), filepath.Join(root, "outside"), filepath.Join(root, "real")
	for _, d := range []string{granted, outside, real} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(outside, filepath.Join(granted, "escape")))
	must(os.Symlink(real, filepath.Join(root, "alias")))
	var g runtime.Grants
	must(g.Allow("file://" + granted))
	must(g.Allow("file://" + filepath.Join(root, "alias")))
	cases := []struct {
		url     string
		granted bool
	}{
		{"file://" + granted + "/db01/new", true},
		{"file://" + granted + "/escape", false},
		{"file://" + granted + "/escape/deeper/new", false},
		{"file://" + filepath.Join(root, "alias") + "/x/y", true},
		{"file://" + real + "/x", true}, // the same folder as the granted alias
	}
	for _, tc := range cases {
		if err := g.Check(tc.url); (err == nil) != tc.granted {
			t.Errorf("Check(%s) = %v, want granted=%v", tc.url, err, tc.granted)
		}
	}
}
