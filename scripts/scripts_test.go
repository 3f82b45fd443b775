package scripts_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	_ "github.com/vmlua/vmlua/transports/all"
)

const simPassword = "sim-Pa55word-for-scripts"

// startSim starts the embedded simulator and returns the endpoint a run
// connects to.
func startSim(t *testing.T, o vsim.Options) runtime.Endpoint {
	t.Helper()
	_, ep := startSimHandle(t, o)
	return ep
}

// startSimHandle is startSim that also returns the simulator, for the
// tests that raise questions or look at its disks.
func startSimHandle(t *testing.T, o vsim.Options) (*vsim.Sim, runtime.Endpoint) {
	t.Helper()
	o.Password = simPassword
	s, err := vsim.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("vsim.Start: %v", err)
	}
	t.Cleanup(s.Close)
	u := *s.URL
	u.User = nil
	return s, runtime.Endpoint{Name: "sim", URL: u.String(), Username: s.URL.User.Username(), Password: simPassword, Insecure: true}
}

// printed collects what a script prints (print writes log records with
// source=print).
type printed struct {
	mu    sync.Mutex
	lines []string
}

func (h *printed) Enabled(context.Context, slog.Level) bool { return true }
func (h *printed) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "source" && a.Value.String() == "print" {
			h.mu.Lock()
			h.lines = append(h.lines, r.Message)
			h.mu.Unlock()
		}
		return true
	})
	return nil
}
func (h *printed) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *printed) WithGroup(string) slog.Handler      { return h }

// run executes a shipped script with every module, as 'vmlua run' does.
func run(t *testing.T, ep runtime.Endpoint, script string, args ...string) ([]string, error) {
	t.Helper()
	return runWith(t, ep, runOpts{}, script, args...)
}

// runOpts is what the operator grants a run: URL prefixes and named
// credentials.
type runOpts struct {
	allow []string
	creds map[string]transports.Credentials
}

// runWith executes a script with grants and credentials and returns the
// lines it printed.
func runWith(t *testing.T, ep runtime.Endpoint, o runOpts, script string, args ...string) ([]string, error) {
	t.Helper()
	out := &printed{}
	opts := runtime.Options{
		Logger:    slog.New(out),
		Modules:   all.Modules(),
		Timeout:   60 * time.Second,
		Endpoints: map[string]runtime.Endpoint{"sim": ep}, DefaultEndpoint: "sim",
		Args:        args,
		Credentials: o.creds,
	}
	for _, a := range o.allow {
		if err := opts.Grants.Allow(a); err != nil {
			t.Fatal(err)
		}
	}
	r, err := runtime.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = r.ExecFile(script)
	out.mu.Lock()
	defer out.mu.Unlock()
	return append([]string(nil), out.lines...), err
}

// fields parses one vm_info.lua line: tab-separated key:value pairs.
func fields(t *testing.T, line string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, f := range strings.Split(line, "\t") {
		k, v, ok := strings.Cut(f, ":")
		if !ok {
			t.Fatalf("field %q of %q is not key:value", f, line)
		}
		m[k] = v
	}
	for _, k := range []string{"moref", "name", "uuid", "ipaddr", "power", "host", "vmx"} {
		if m[k] == "" {
			t.Errorf("line %q lacks %s", line, k)
		}
	}
	return m
}

func TestVMInfoFindsVMsBySpecifierAndPrintsOneLineEach(t *testing.T) {
	ep := startSim(t, vsim.Options{Inventory: []vsim.VMSpec{{Name: "DB01"}, {Name: "web-1"}, {Name: "web-2"}, {Name: "OLD", PoweredOff: true}}})
	cases := []struct {
		name  string
		args  []string
		names []string // the VMs printed, in order
		code  string   // error code, "" for success
	}{
		{"without a specifier it lists every VM", nil, []string{"DB01", "OLD", "web-1", "web-2"}, ""},
		{"any: lists every VM", []string{"any:"}, []string{"DB01", "OLD", "web-1", "web-2"}, ""},
		{"a name glob lists the matching VMs", []string{"name:web-*"}, []string{"web-1", "web-2"}, ""},
		{"spec= works like the positional argument", []string{"spec=name:DB01"}, []string{"DB01"}, ""},
		{"powerstate:off lists the VMs that are off", []string{"powerstate:off"}, []string{"OLD"}, ""},
		{"a .vmx path names one VM", []string{"[LocalDS_0] DB01/DB01.vmx"}, []string{"DB01"}, ""},
		{"none: prints nothing and succeeds", []string{"none:"}, nil, ""},
		{"a specifier matching nothing fails with not_found", []string{"name:nosuch"}, nil, runtime.CodeNotFound},
		{"a .vmx path of no VM fails with not_found", []string{"[LocalDS_0] nosuch/nosuch.vmx"}, nil, runtime.CodeNotFound},
		{"a malformed specifier fails with invalid_argument", []string{"bogus:x"}, nil, runtime.CodeInvalidArg},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines, err := run(t, ep, "vm_info.lua", tc.args...)
			if tc.code != "" {
				var se *runtime.ScriptError
				if !errors.As(err, &se) || se.Code != tc.code {
					t.Fatalf("err = %v, want code %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("vm_info.lua %v: %v", tc.args, err)
			}
			var names []string
			for _, l := range lines {
				names = append(names, fields(t, l)["name"])
			}
			if strings.Join(names, ",") != strings.Join(tc.names, ",") {
				t.Errorf("printed VMs %v, want %v\n%s", names, tc.names, strings.Join(lines, "\n"))
			}
		})
	}
}

// TestVMInfoPrintsSpecifiersThatFindTheSameVM: each key:value it prints for
// moref and uuid is itself a specifier naming the VM, as with vcbVmName.
func TestVMInfoPrintsSpecifiersThatFindTheSameVM(t *testing.T) {
	ep := startSim(t, vsim.Options{})
	lines, err := run(t, ep, "vm_info.lua", "name:DB01")
	if err != nil || len(lines) != 1 {
		t.Fatalf("vm_info.lua name:DB01 = %v, %v", lines, err)
	}
	db := fields(t, lines[0])
	if db["power"] != "on" || db["vmx"] != "[LocalDS_0] DB01/DB01.vmx" || !strings.HasPrefix(db["moref"], "vm-") {
		t.Errorf("DB01's line = %q", lines[0])
	}
	for _, key := range []string{"moref", "uuid"} {
		again, err := run(t, ep, "vm_info.lua", key+":"+db[key])
		if err != nil || len(again) != 1 || again[0] != lines[0] {
			t.Errorf("vm_info.lua %s:%s = %v, %v; want the same line %q", key, db[key], again, err, lines[0])
		}
	}
}

// verifyLua lists the sets on a target and verifies each one.
const verifyLua = `
local backup = require "backup"
for _, s in ipairs(backup.list{ at = arg.at, credentials = arg.credentials }) do
  local r = backup.verify{ at = arg.at, set = s.id, credentials = arg.credentials }
  print(s.id .. " " .. tostring(s.complete and r.ok))
end
`

// verifiedSets returns, per VM, how many complete sets on the target verify,
// and fails the test for a set that does not.
func verifiedSets(t *testing.T, ep runtime.Endpoint, o runOpts, at string, args ...string) map[string]int {
	t.Helper()
	f := filepath.Join(t.TempDir(), "verify.lua")
	if err := os.WriteFile(f, []byte(verifyLua), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, err := runWith(t, ep, o, f, append([]string{"at=" + at}, args...)...)
	if err != nil {
		t.Fatalf("listing and verifying the sets at %s: %v", at, err)
	}
	n := map[string]int{}
	for _, l := range lines {
		id, ok, _ := strings.Cut(l, " ")
		if ok != "true" {
			t.Errorf("set %s at %s does not verify", id, at)
			continue
		}
		vmName, _, _ := strings.Cut(id, "/")
		n[vmName]++
	}
	return n
}

func contains(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEveryShippedScriptDoesWhatItsUsageSays runs each script of scripts/
// as a user would, one after the other against one simulator, and checks
// its effect: files and sets on the target, answers given, the summary and
// the exit status.
func TestEveryShippedScriptDoesWhatItsUsageSays(t *testing.T) {
	dsDir := t.TempDir()
	sim, ep := startSimHandle(t, vsim.Options{DiskSize: 8 << 20, DatastoreDir: dsDir})
	dir := t.TempDir()
	file := func(sub string) string { return "file://" + filepath.Join(dir, sub) }
	o := runOpts{allow: []string{"file://" + dir + "/", "vmfs://LocalDS_0/", "vmfs://LocalDS_1/standby"}}

	cases := []struct {
		name   string
		script string
		args   []string
		before func(t *testing.T)
		code   string // the error code the run ends with; "" for success
		check  func(t *testing.T, lines []string)
	}{
		{name: "hot_backup exports every disk of DB01 that can be frozen and commits its REDO logs",
			script: "hot_backup.lua", args: []string{"[LocalDS_0] DB01/DB01.vmx", "to=" + file("hot")},
			check: func(t *testing.T, lines []string) {
				if !contains(lines, "DB01: 2 disk(s) exported") {
					t.Errorf("printed %q", lines)
				}
				if got := glob(t, filepath.Join(dir, "hot", "*-flat.vmdk")); len(got) != 2 {
					t.Errorf("flat images on the target: %v, want 2", got)
				}
				disks, err := sim.Disks("DB01")
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range disks {
					if len(d.Chain) != 1 {
						t.Errorf("disk %s still has REDO logs: %v", d.ID, d.Chain)
					}
				}
			}},
		{name: "disk_mode prints the mode of a persistent disk",
			script: "disk_mode.lua", args: []string{"name:DB01", "scsi0:0"},
			check: func(t *testing.T, lines []string) {
				if len(lines) != 1 || lines[0] != "persistent" {
					t.Errorf("printed %q, want persistent", lines)
				}
			}},
		{name: "disk_mode warns about an independent disk",
			script: "disk_mode.lua", args: []string{"name:DB01", "scsi0:2"},
			check: func(t *testing.T, lines []string) {
				if len(lines) != 1 || lines[0] != "Warning: independent-persistent" {
					t.Errorf("printed %q, want the warning", lines)
				}
			}},
		{name: "answer_question answers a single-choice question",
			script: "answer_question.lua", args: []string{"name:VM2"},
			before: func(t *testing.T) {
				if _, err := sim.Ask("VM2", "The REDO log is deep. Continue?", "OK"); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, lines []string) {
				if q := sim.PendingQuestion("VM2"); q != nil {
					t.Errorf("VM2 still waits on %+v", q)
				}
			}},
		{name: "vm_info prints one line per VM",
			script: "vm_info.lua", args: []string{"any:"},
			check: func(t *testing.T, lines []string) {
				if len(lines) != 3 {
					t.Errorf("printed %d lines, want 3: %q", len(lines), lines)
				}
			}},
		{name: "backup_all writes a set of every VM named that verifies",
			script: "backup_all.lua", args: []string{"to=" + file("all"), "vms=name:VM*", "keep=1"},
			check: func(t *testing.T, lines []string) {
				if n := verifiedSets(t, ep, o, file("all")); n["VM1"] != 1 || n["VM2"] != 1 || len(n) != 2 {
					t.Errorf("verified sets per VM = %v, want one of VM1 and VM2", n)
				}
			}},
		{name: "restore registers the latest set under another name",
			script: "restore.lua", args: []string{"from=" + file("all"), "vm=VM1", "name=VM1-restored", "datastore=LocalDS_1"},
			check: func(t *testing.T, lines []string) {
				if !contains(lines, "restored VM1-restored") {
					t.Errorf("printed %q", lines)
				}
				if l, err := run(t, ep, "vm_info.lua", "name:VM1-restored"); err != nil || len(l) != 1 || !strings.Contains(l[0], "vmx:[LocalDS_1] VM1-restored/VM1-restored.vmx") {
					t.Errorf("vm_info.lua name:VM1-restored = %q, %v", l, err)
				}
			}},
		{name: "vmx_backup archives each configuration, keeps the newest and syncs the .vmx to another datastore",
			script: "vmx_backup.lua", args: []string{"to=" + file("vmx"), "vms=name:DB01", "keep=1", "sync=vmfs://LocalDS_1/standby"},
			before: func(t *testing.T) {
				if _, err := runWith(t, ep, o, "vmx_backup.lua", "to="+file("vmx"), "vms=name:DB01"); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, lines []string) {
				if got := glob(t, filepath.Join(dir, "vmx", "DB01", "vmx", "DB01-*.tar.gz")); len(got) != 1 {
					t.Errorf("archives after keep=1: %v, want 1", got)
				}
				if got := glob(t, filepath.Join(dsDir, "LocalDS_1", "standby", "DB01", "DB01.vmx")); len(got) != 1 {
					t.Errorf("synced .vmx: %v", got)
				}
				if !contains(lines, "register [LocalDS_1] standby/DB01/DB01.vmx") {
					t.Errorf("printed %q", lines)
				}
			}},
		{name: "nightly backs the selected VMs up to two targets, verifies, and prints a summary",
			script: "nightly.lua", args: []string{"to=" + file("n1") + "," + file("n2"), "exclude=VM2,*-restored", "keep=2"},
			check: func(t *testing.T, lines []string) {
				if !contains(lines, "2 VM(s), 2 target(s): 4 set(s) written, 0 failed") {
					t.Errorf("summary missing:\n%s", strings.Join(lines, "\n"))
				}
				for _, at := range []string{file("n1"), file("n2")} {
					if n := verifiedSets(t, ep, o, at); n["DB01"] != 1 || n["VM1"] != 1 || len(n) != 2 {
						t.Errorf("verified sets at %s = %v, want DB01 and VM1", at, n)
					}
				}
			}},
		{name: "nightly fails after the summary when a target refuses",
			script: "nightly.lua", args: []string{"to=" + file("n3") + ",file:///not/granted", "name=VM1"},
			code: runtime.CodeError,
			check: func(t *testing.T, lines []string) {
				if !contains(lines, "1 VM(s), 2 target(s): 1 set(s) written, 1 failed") || !contains(lines, "FAILED") {
					t.Errorf("summary missing:\n%s", strings.Join(lines, "\n"))
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before(t)
			}
			lines, err := runWith(t, ep, o, tc.script, tc.args...)
			if tc.code == "" && err != nil {
				t.Fatalf("%s %v: %v\n%s", tc.script, tc.args, err, strings.Join(lines, "\n"))
			}
			if tc.code != "" {
				var se *runtime.ScriptError
				if !errors.As(err, &se) || se.Code != tc.code {
					t.Fatalf("err = %v, want code %s", err, tc.code)
				}
			}
			tc.check(t, lines)
		})
	}
}

// TestEveryShippedScriptIsTested: a new script needs a case above.
func TestEveryShippedScriptIsTested(t *testing.T) {
	src, err := os.ReadFile("scripts_test.go")
	if err != nil {
		t.Fatal(err)
	}
	files := glob(t, "*.lua")
	for _, f := range files {
		if !strings.Contains(string(src), `script: "`+f+`"`) {
			t.Errorf("%s has no case in TestEveryShippedScriptDoesWhatItsUsageSays", f)
		}
	}
}
