package scripts_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/script"
	"github.com/vmlua/vmlua/runtime"
)

// convention is how one shipped script or example takes its arguments.
// Every .lua file of scripts/ and examples/ must have one (a new file
// cannot be forgotten: TestEveryScriptAndExampleHasAConvention).
type convention struct {
	// misspelt is a run's arguments with one key misspelt, and suggest the
	// key "did you mean" must name.
	misspelt []string
	suggest  string
	// empty is a run's arguments whose selection matches nothing (exit 6,
	// and 0 with allow_empty=true); noSelection says why a script has none.
	empty       func(e *scriptEnv) []string
	noSelection string
	// dry is a run's arguments for a dry run that must end with 0.
	dry func(e *scriptEnv) []string
	// each: the script is written for vmlua run --each (vm = {each=true}).
	each bool
	// byPosition names the arguments the script takes by position too (its
	// script.args list part); it refuses any other positional argument,
	// unless rest: its last takes every one left (rest = true).
	byPosition []string
	rest       bool
	// notAScript says why a file is not run as a script at all.
	notAScript string
}

// scriptEnv is what the runs share: a simulator, a granted folder per run,
// and a folder holding a real backup set of VM1 and a host configuration
// set, for the scripts that restore.
type scriptEnv struct {
	*simtest.Env
	t     *testing.T
	src   string // file://... with VM1's set and Host's configuration set
	Host  string
	dsDir string // the datastores' folders
	n     int    // folders dest made
}

// dest returns a new empty granted folder as a URL.
func (e *scriptEnv) dest() string {
	e.n++
	d := filepath.Join(e.Dir, "d", strconv.Itoa(e.n))
	if err := os.MkdirAll(d, 0o755); err != nil {
		e.t.Fatal(err)
	}
	return "file://" + d
}

// files lists the regular files below dir.
func files(t *testing.T, dir string) []string {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return err
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

func to(e *scriptEnv) string { return "to=" + e.dest() }

var conventions = map[string]convention{
	"scripts/answer_question.lua": {misspelt: []string{"wacth=5"}, suggest: "watch", each: true, byPosition: []string{"vm"},
		empty: func(e *scriptEnv) []string { return []string{"name:nosuch"} },
		dry:   func(e *scriptEnv) []string { return []string{"name:VM*"} }},
	"scripts/backup_all.lua": {misspelt: []string{"vmss=name:VM1"}, suggest: "vms", each: true,
		empty: func(e *scriptEnv) []string { return []string{to(e), "vms=name:nosuch"} },
		dry:   func(e *scriptEnv) []string { return []string{to(e), "vms=name:VM*"} }},
	"scripts/disk_mode.lua": {misspelt: []string{"dsik=scsi0:0"}, suggest: "disk", each: true, byPosition: []string{"vm", "disk"},
		empty: func(e *scriptEnv) []string { return []string{"name:nosuch", "scsi0:0"} },
		dry:   func(e *scriptEnv) []string { return []string{"name:DB01", "scsi0:0"} }},
	"scripts/host_config_backup.lua": {misspelt: []string{"host=x", "kep=2"}, suggest: "keep",
		empty: func(e *scriptEnv) []string { return []string{to(e), "hosts=name:nosuch*"} },
		dry:   func(e *scriptEnv) []string { return []string{to(e)} }},
	"scripts/host_config_restore.lua": {misspelt: []string{"hots=x"}, suggest: "host",
		empty: func(e *scriptEnv) []string { return []string{"from=" + e.src, "host=nosuch"} },
		dry:   func(e *scriptEnv) []string { return []string{"from=" + e.src, "host=" + e.Host, "maintenance=true"} }},
	"scripts/hot_backup.lua": {misspelt: []string{"name:VM1", "tto=file:///x"}, suggest: "to", each: true, byPosition: []string{"vm"},
		empty: func(e *scriptEnv) []string { return []string{"name:nosuch", to(e)} },
		dry:   func(e *scriptEnv) []string { return []string{"name:VM1", to(e)} }},
	"scripts/instant_recovery.lua": {misspelt: []string{"vm=VM1", "too=LocalDS_1"}, suggest: "to",
		noSelection: "it runs the one VM vmlua serve nfs exports, named by url= and vmx=, or vm= (a missing one: not_found)",
		dry:         func(e *scriptEnv) []string { return []string{"url=nfs://127.0.0.1:2049/vmlua-VM1", "vmx=VM1/VM1.vmx"} }},
	"scripts/inventory.lua": {misspelt: []string{"vmfolders", "mtach=*"}, suggest: "match", byPosition: []string{"what"},
		empty: func(e *scriptEnv) []string { return []string{"vmfolders", "match=*nosuch*"} },
		dry:   func(e *scriptEnv) []string { return []string{"resourcepools"} }},
	"scripts/nightly.lua": {misspelt: []string{"to=file:///x", "exlcude=VM1"}, suggest: "exclude", each: true,
		empty: func(e *scriptEnv) []string { return []string{to(e), "vms=name:nosuch"} },
		dry:   func(e *scriptEnv) []string { return []string{to(e), "vms=name:VM*"} }},
	"scripts/restore.lua": {misspelt: []string{"from=file:///x", "nmae=VM1-copy"}, suggest: "name",
		empty: func(e *scriptEnv) []string { return []string{"from=" + e.src, "vm=nosuch"} },
		dry:   func(e *scriptEnv) []string { return []string{"from=" + e.src, "vm=VM1", "name=VM1-copy"} }},
	"scripts/vm_info.lua": {misspelt: []string{"sepc=any:"}, suggest: "spec", byPosition: []string{"spec"}, rest: true,
		empty: func(e *scriptEnv) []string { return []string{"name:nosuch"} },
		dry:   func(e *scriptEnv) []string { return []string{"any:"} }},
	"scripts/vmx_backup.lua": {misspelt: []string{"to=file:///x", "kepe=2"}, suggest: "keep", each: true, byPosition: []string{"vms"},
		empty: func(e *scriptEnv) []string { return []string{to(e), "vms=name:nosuch"} },
		dry:   func(e *scriptEnv) []string { return []string{to(e), "vms=name:VM*"} }},

	"examples/cifs_windows_share.lua": {misspelt: []string{"vm=name:VM1"}, suggest: "vms",
		empty: func(e *scriptEnv) []string { return []string{to(e), "vms=name:nosuch"} },
		dry:   func(e *scriptEnv) []string { return []string{to(e), "vms=name:VM1"} }},
	"examples/ftps.lua": {misspelt: []string{"cafile=x.pem"}, suggest: "ca_file",
		empty: func(e *scriptEnv) []string { return []string{to(e), "vms=name:nosuch"} },
		dry:   func(e *scriptEnv) []string { return []string{to(e), "vms=name:VM1"} }},
	"examples/hello.lua": {misspelt: []string{"nmae=world"}, suggest: "name", noSelection: "it greets; it selects no VM",
		dry: func(e *scriptEnv) []string { return []string{"name=world"} }},
	"examples/hybrid.lua": {misspelt: []string{"vm=name:VM1"}, suggest: "vms",
		empty: func(e *scriptEnv) []string { return []string{to(e), "vms=name:nosuch"} },
		dry:   func(e *scriptEnv) []string { return []string{to(e), "vms=name:VM1", "image_day=3", "weekday=3"} }},
	"examples/nightly_s3.lua": {misspelt: []string{"to=file:///x", "vm=name:VM1"}, suggest: "vms",
		empty: func(e *scriptEnv) []string { return []string{to(e), "vms=name:nosuch"} },
		dry:   func(e *scriptEnv) []string { return []string{to(e), "vms=name:VM1", "recipient=" + ageRecipient(e.t)} }},
	"examples/nfs.lua": {misspelt: []string{"vm=name:VM1"}, suggest: "vms",
		empty: func(e *scriptEnv) []string { return []string{to(e), "vms=name:nosuch"} },
		dry:   func(e *scriptEnv) []string { return []string{to(e), "vms=name:VM2"} }},
	"examples/power_off_backup.lua": {misspelt: []string{"vm=name:VM1"}, suggest: "vms",
		empty: func(e *scriptEnv) []string { return []string{to(e), "vms=name:nosuch,name:none*"} },
		dry:   func(e *scriptEnv) []string { return []string{to(e), "vms=name:VM1"} }},
	"scripts/answer_rules.lua":    {notAScript: "a rules file for vmlua answer --rules and vmlua run --answer: it runs inside other runs, whose arguments are theirs"},
	"examples/question_rules.lua": {notAScript: "a rules file for vmlua answer --rules, vmlua run --answer and question.policy: it runs inside other runs, whose arguments are theirs"},
	"examples/s3_object_lock.lua": {misspelt: []string{"vm=name:VM1"}, suggest: "vms",
		empty: func(e *scriptEnv) []string { return []string{to(e), "vms=name:nosuch"} },
		dry:   func(e *scriptEnv) []string { return []string{to(e), "vms=name:VM1"} }},
	"examples/sftp_pinned_key.lua": {misspelt: []string{"keeep=2"}, suggest: "keep",
		empty: func(e *scriptEnv) []string { return []string{to(e), "vms=name:nosuch"} },
		dry:   func(e *scriptEnv) []string { return []string{to(e), "vms=name:VM1"} }},
	"examples/test_restore_drill.lua": {misspelt: []string{"from=file:///x", "vm=VM1", "wiat=1"}, suggest: "wait",
		empty: func(e *scriptEnv) []string { return []string{"from=" + e.src, "vm=nosuch"} },
		dry:   func(e *scriptEnv) []string { return []string{"from=" + e.src, "vm=VM1", "wait=1"} }},
	"examples/tiers.lua": {misspelt: []string{"weekdays=0"}, suggest: "weekday",
		empty: func(e *scriptEnv) []string { return []string{to(e), "vms=name:nosuch"} },
		dry:   func(e *scriptEnv) []string { return []string{to(e), "weekday=0"} }},
	"examples/two_targets.lua": {misspelt: []string{"ofsite=file:///x"}, suggest: "offsite",
		empty: func(e *scriptEnv) []string {
			return []string{"local=" + e.dest() + "/l", "offsite=" + e.dest() + "/o", "vms=name:nosuch"}
		},
		dry: func(e *scriptEnv) []string {
			return []string{"local=" + e.dest() + "/l", "offsite=" + e.dest() + "/o", "vms=name:VM2"}
		}},
	"examples/vmfs_datastore.lua": {misspelt: []string{"vm=name:VM1"}, suggest: "vms",
		empty: func(e *scriptEnv) []string { return []string{"to=vmfs://LocalDS_1/vmlua", "vms=name:nosuch"} },
		dry:   func(e *scriptEnv) []string { return []string{"to=vmfs://LocalDS_1/vmlua", "vms=name:DB01"} }},
}

// everyScript lists every .lua file of scripts/ and examples/, as
// "scripts/NAME.lua" and "examples/NAME.lua".
func everyScript(t *testing.T) []string {
	var out []string
	for _, dir := range []string{".", "../examples"} {
		for _, f := range simtest.Glob(t, filepath.Join(dir, "*.lua")) {
			out = append(out, filepath.Join(filepath.Base(mustAbs(t, dir)), filepath.Base(f)))
		}
	}
	slices.Sort(out)
	if len(out) < 20 {
		t.Fatalf("found %d scripts and examples: %v", len(out), out)
	}
	return out
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// path is where a script of everyScript is, from this package.
func path(name string) string {
	if strings.HasPrefix(name, "scripts/") {
		return strings.TrimPrefix(name, "scripts/")
	}
	return "../" + name
}

func TestEveryScriptAndExampleHasAConvention(t *testing.T) {
	for _, name := range everyScript(t) {
		c, ok := conventions[name]
		switch {
		case !ok:
			t.Errorf("%s has no entry in conventions (every_script_test.go): say how it takes its arguments", name)
		case c.notAScript != "":
		case c.misspelt == nil || c.dry == nil || (c.empty == nil) == (c.noSelection == ""):
			t.Errorf("%s: its convention lacks misspelt, dry, or exactly one of empty and noSelection", name)
		}
	}
	for name := range conventions {
		if _, err := os.Stat(path(name)); err != nil {
			t.Errorf("conventions has %s, which does not exist", name)
		}
	}
}

func startScriptEnv(t *testing.T) *scriptEnv {
	dsDir := t.TempDir()
	env := simtest.Start(t, vsim.Options{DiskSize: 2 << 20, DatastoreDir: dsDir})
	e := &scriptEnv{Env: env, t: t, Host: env.Sim.Hosts()[0], dsDir: dsDir}
	src := t.TempDir()
	e.src = "file://" + src
	site := simtest.Site{Endpoint: env.Endpoint, Allow: []string{e.src}}
	if _, err := site.Run(t, "backup_all.lua", "to="+e.src, "vms=name:VM1"); err != nil {
		t.Fatal(err)
	}
	if _, err := site.Run(t, "host_config_backup.lua", "to="+e.src, "host="+e.Host); err != nil {
		t.Fatal(err)
	}
	return e
}

// run runs a script as 'vmlua run' does, with the env's grants.
func (e *scriptEnv) run(t *testing.T, name string, dry bool, args ...string) (error, *simtest.Records) {
	t.Helper()
	return e.Run(t, path(name), simtest.RunOptions{DryRun: dry, Args: args, Mod: func(o *runtime.Options) {
		for _, g := range []string{e.src, "file://" + e.Dir + "/", "vmfs://LocalDS_1/"} {
			if err := o.Grants.Allow(g); err != nil {
				t.Fatal(err)
			}
		}
	}})
}

// TestEveryScriptAndExampleTakesArgumentsTheSameWay: a misspelt argument
// ends every script with 2 and "did you mean"; a selection that matches
// nothing with 6, or 0 with allow_empty=true; and what --each may run is
// what each script's declaration says.
func TestEveryScriptAndExampleTakesArgumentsTheSameWay(t *testing.T) {
	e := startScriptEnv(t)
	for _, name := range everyScript(t) {
		c := conventions[name]
		if c.notAScript != "" || c.misspelt == nil {
			continue // TestEveryScriptAndExampleHasAConvention says why
		}
		t.Run(name, func(t *testing.T) {
			err, recs := e.run(t, name, false, c.misspelt...)
			if got := runtime.ExitStatus(err); got != runtime.ExitUsage || !strings.Contains(err.Error(), "(did you mean "+c.suggest+"?)") {
				t.Errorf("%v: exit %d (%v), want 2 and \"did you mean %s?\"", c.misspelt, got, err, c.suggest)
			}
			if p := recs.Printed(); len(p) != 0 {
				t.Errorf("%v: the script went on after a misspelt argument and printed %q", c.misspelt, p)
			}

			src, rerr := os.ReadFile(path(name))
			if rerr != nil {
				t.Fatal(rerr)
			}
			if ferr := script.ForEach(name, string(src)); (ferr == nil) != c.each {
				t.Errorf("written for --each: %v, want %v", ferr, c.each)
			}

			// A positional argument the script has no place for is
			// refused before anything happens (backup_all.lua name:DB01
			// used to back up every VM); given as the positional form of
			// vms=, it names vms=.
			args := append(c.dry(e), "name:VM2")
			if c.rest {
				args = append([]string{"spec=any:"}, c.dry(e)...) // its positional place is taken: SPEC given as spec=
			}
			err, recs = e.run(t, name, false, args...)
			if got := runtime.ExitStatus(err); got != runtime.ExitUsage || !strings.Contains(err.Error(), filepath.Base(name)+" takes ") {
				t.Errorf("%v: exit %d (%v), want 2 and what %s takes by position", args, got, err, filepath.Base(name))
			}
			if p := recs.Printed(); len(p) != 0 {
				t.Errorf("%v: the script went on after a stray positional argument and printed %q", args, p)
			}
			if stray, rest, ok := positionalVMs(c.dry(e)); ok && !slices.Contains(c.byPosition, "vms") {
				err, _ := e.run(t, name, false, append(rest, stray)...)
				if want := "did you mean vms=" + stray + "?"; runtime.ExitStatus(err) != runtime.ExitUsage || !strings.Contains(err.Error(), want) {
					t.Errorf("%v %s: %v, want exit 2 and %q", rest, stray, err, want)
				}
			}

			if c.empty == nil {
				return
			}
			args = c.empty(e)
			err, recs = e.run(t, name, false, args...)
			if got := runtime.ExitStatus(err); got != runtime.ExitNothingSelected {
				t.Errorf("%v: exit %d (%v), want 6 (nothing_selected)\n%s", args, got, err, recs)
			}
			err, recs = e.run(t, name, false, append(args, "allow_empty=true")...)
			if got := runtime.ExitStatus(err); got != runtime.ExitOK {
				t.Errorf("%v allow_empty=true: exit %d (%v), want 0\n%s", args, got, err, recs)
			}
		})
	}
}

// positionalVMs takes vms=V out of args: V, the other arguments, and
// whether there was one.
func positionalVMs(args []string) (string, []string, bool) {
	var rest []string
	v, found := "", false
	for _, a := range args {
		if s, ok := strings.CutPrefix(a, "vms="); ok && !found {
			v, found = s, true
			continue
		}
		rest = append(rest, a)
	}
	return v, rest, found
}

// TestEveryScriptAndExamplePassesADryRun: with --dry-run every shipped
// script and example runs to its end with 0 against the simulator and
// changes nothing: no file on its target, no snapshot, no host in
// maintenance mode.
func TestEveryScriptAndExamplePassesADryRun(t *testing.T) {
	e := startScriptEnv(t)
	for _, name := range everyScript(t) {
		c := conventions[name]
		if c.dry == nil {
			continue // TestEveryScriptAndExampleHasAConvention says why
		}
		t.Run(name, func(t *testing.T) {
			args := c.dry(e)
			err, recs := e.run(t, name, true, args...)
			if got := runtime.ExitStatus(err); got != runtime.ExitOK {
				t.Fatalf("--dry-run %v: exit %d (%v), want 0\n%s", args, got, err, recs)
			}
			if len(recs.Find("dry run: would back up the VM")) == 0 && len(recs.Printed()) == 0 {
				t.Errorf("--dry-run %v: the script printed nothing and planned no backup\n%s", args, recs)
			}
			if got := files(t, filepath.Join(e.Dir, "d")); len(got) != 0 {
				t.Errorf("the dry run wrote %v", got)
			}
			for _, v := range []string{"DB01", "VM1", "VM2"} {
				if s := e.Snapshots(t, v); len(s) != 0 {
					t.Errorf("%s has snapshots after a dry run: %v", v, s)
				}
			}
			if got := files(t, filepath.Join(e.dsDir, "LocalDS_1", "vmlua")); len(got) != 0 {
				t.Errorf("the dry run wrote to the backup datastore: %v", got)
			}
		})
	}
	err, recs := e.Run(t, `for _, h in ipairs(require("host").list()) do if h.maintenance then print(h.name) end end`, simtest.RunOptions{})
	if err != nil || len(recs.Printed()) != 0 {
		t.Errorf("hosts in maintenance mode after the dry runs: %q (%v)", recs.Printed(), err)
	}
}

// ageRecipient is a fresh age public key, for a script that encrypts.
func ageRecipient(t *testing.T) string {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id.Recipient().String()
}
