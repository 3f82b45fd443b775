package scripts_test

import (
	"errors"
	"fmt"
	"github.com/vmlua/vmlua/modules/vm"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/runtime"
	_ "github.com/vmlua/vmlua/transports/all"
)

// run executes a shipped script with every module, as 'vmlua run' does.
func run(t *testing.T, ep runtime.Endpoint, script string, args ...string) ([]string, error) {
	t.Helper()
	return simtest.Site{Endpoint: ep}.Run(t, script, args...)
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
	ep := simtest.Start(t, vsim.Options{Inventory: []vsim.VMSpec{{Name: "DB01"}, {Name: "web-1"}, {Name: "web-2"}, {Name: "OLD", PoweredOff: true}}}).Endpoint
	cases := []struct {
		name  string
		args  []string
		names []string // the VMs printed, in order
		code  string   // error code, "" for success
		exit  int      // the exit status
	}{
		{"without a specifier it lists every VM", nil, []string{"DB01", "OLD", "web-1", "web-2"}, "", runtime.ExitOK},
		{"any: lists every VM", []string{"any:"}, []string{"DB01", "OLD", "web-1", "web-2"}, "", runtime.ExitOK},
		{"a name glob lists the matching VMs", []string{"name:web-*"}, []string{"web-1", "web-2"}, "", runtime.ExitOK},
		{"spec= works like the positional argument", []string{"spec=name:DB01"}, []string{"DB01"}, "", runtime.ExitOK},
		{"powerstate:off lists the VMs that are off", []string{"powerstate:off"}, []string{"OLD"}, "", runtime.ExitOK},
		{"a .vmx path names one VM", []string{"[LocalDS_0] DB01/DB01.vmx"}, []string{"DB01"}, "", runtime.ExitOK},
		{"none: prints nothing and succeeds", []string{"none:"}, nil, "", runtime.ExitOK},
		{"a specifier matching nothing ends with nothing_selected", []string{"name:nosuch"}, nil, "", runtime.ExitNothingSelected},
		{"a .vmx path of no VM ends with nothing_selected", []string{"[LocalDS_0] nosuch/nosuch.vmx"}, nil, "", runtime.ExitNothingSelected},
		{"a specifier matching nothing is fine with allow_empty=true", []string{"name:nosuch", "allow_empty=true"}, nil, "", runtime.ExitOK},
		{"a malformed specifier fails with invalid_argument", []string{"bogus:x"}, nil, runtime.CodeInvalidArg, runtime.ExitFailed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines, err := run(t, ep, "vm_info.lua", tc.args...)
			if got := runtime.ExitStatus(err); got != tc.exit {
				t.Fatalf("exit status %d, want %d: %v", got, tc.exit, err)
			}
			if tc.code != "" {
				var se *runtime.ScriptError
				if !errors.As(err, &se) || se.Code != tc.code {
					t.Fatalf("err = %v, want code %s", err, tc.code)
				}
				return
			}
			if err != nil && tc.exit == runtime.ExitOK {
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
	ep := simtest.Start(t, vsim.Options{}).Endpoint
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

// TestEveryShippedScriptDoesWhatItsUsageSays runs each script of scripts/
// as a user would, one after the other against one simulator, and checks
// its effect: files and sets on the target, answers given, the summary and
// the exit status.
func TestEveryShippedScriptDoesWhatItsUsageSays(t *testing.T) {
	dsDir := t.TempDir()
	env := simtest.Start(t, vsim.Options{DiskSize: 8 << 20, DatastoreDir: dsDir})
	sim, ep := env.Sim, env.Endpoint
	dir := t.TempDir()
	file := func(sub string) string { return "file://" + filepath.Join(dir, sub) }
	o := simtest.Site{Endpoint: ep, Allow: []string{"file://" + dir + "/", "vmfs://LocalDS_0/", "vmfs://LocalDS_1/standby"}}

	cases := []struct {
		name   string
		script string
		args   []string
		before func(t *testing.T)
		exit   int    // the exit status the run ends with (runtime.ExitStatus)
		code   string // the error code the run ends with, for a failure
		check  func(t *testing.T, lines []string)
	}{
		{name: "hot_backup exports every disk of DB01 that can be frozen, commits its REDO logs, and is partial for the independent disk",
			script: "hot_backup.lua", args: []string{"[LocalDS_0] DB01/DB01.vmx", "to=" + file("hot")}, exit: runtime.ExitPartial,
			check: func(t *testing.T, lines []string) {
				if !simtest.Contains(lines, "DB01: 2 disk(s) exported") || !simtest.Contains(lines, "1 skipped (scsi0:2") {
					t.Errorf("printed %q", lines)
				}
				if got := simtest.Glob(t, filepath.Join(dir, "hot", "*-flat.vmdk")); len(got) != 2 {
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
		{name: "hot_backup of a VM whose disks can all be frozen succeeds",
			script: "hot_backup.lua", args: []string{"name:VM2", "to=" + file("hot2")},
			check: func(t *testing.T, lines []string) {
				if !simtest.Contains(lines, "VM2: 1 disk(s) exported") || simtest.Contains(lines, "skipped") {
					t.Errorf("printed %q", lines)
				}
			}},
		{name: "hot_backup of a VM that does not exist exits nothing_selected, as every other selection matching nothing",
			script: "hot_backup.lua", args: []string{"name:DB1", "to=" + file("hot3")}, exit: runtime.ExitNothingSelected,
			check: func(t *testing.T, lines []string) {
				if got := simtest.Glob(t, filepath.Join(dir, "hot3", "*")); len(got) != 0 {
					t.Errorf("files for no VM: %v", got)
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
		{name: "vm_info selects by tag and power state, terms given as separate arguments",
			script: "vm_info.lua", args: []string{"tag:Backup:silver", "powerstate:on"},
			check: func(t *testing.T, lines []string) {
				var names []string
				for _, l := range lines {
					names = append(names, fields(t, l)["name"])
				}
				if strings.Join(names, ",") != "VM1,VM2" {
					t.Errorf("printed %q, want VM1 and VM2", lines)
				}
			}},
		{name: "inventory lists the VM folders with the specifier that selects their VMs (vcbUtil -c vmfolders)",
			script: "inventory.lua", args: []string{"vmfolders"},
			check: func(t *testing.T, lines []string) {
				if len(lines) != 1 || lines[0] != "path:/DC0/vm\tname:vm\tdatacenter:DC0\tvms:3\tselect:folder:/DC0/vm" {
					t.Errorf("printed %q", lines)
				}
			}},
		{name: "inventory lists the resource pools (vcbUtil -c resourcepools)",
			script: "inventory.lua", args: []string{"resourcepools", "match=*DC0_C0*"},
			check: func(t *testing.T, lines []string) {
				if len(lines) != 1 || lines[0] != "path:/DC0/host/DC0_C0/Resources\tname:Resources\towner:DC0_C0\tvms:3\tselect:pool:/DC0/host/DC0_C0/Resources" {
					t.Errorf("printed %q", lines)
				}
			}},
		{name: "inventory with a match= that selects nothing exits nothing_selected",
			script: "inventory.lua", args: []string{"resourcepools", "match=*nosuch*"}, exit: runtime.ExitNothingSelected,
			check: func(t *testing.T, lines []string) {
				if len(lines) != 0 {
					t.Errorf("printed %q", lines)
				}
			}},
		{name: "backup_all writes a set of every VM named that verifies",
			script: "backup_all.lua", args: []string{"to=" + file("all"), "vms=name:VM*", "keep=1"},
			check: func(t *testing.T, lines []string) {
				if n := o.Verified(t, file("all"), ""); n["VM1"] != 1 || n["VM2"] != 1 || len(n) != 2 {
					t.Errorf("verified sets per VM = %v, want one of VM1 and VM2", n)
				}
			}},
		{name: "backup_all of a VM with an independent disk writes a partial set and exits partial",
			script: "backup_all.lua", args: []string{"to=" + file("allp"), "vms=name:DB01"}, exit: runtime.ExitPartial,
			check: func(t *testing.T, lines []string) {
				if !simtest.Contains(lines, "1 of 1 VM(s) backed up") || !simtest.Contains(lines, "DB01 (scsi0:2)") {
					t.Errorf("printed %q", lines)
				}
			}},
		// the whole flow (serve nfs, mount, register, power on, migrate,
		// unmount) runs in cmd/vmlua's TestInstantRecoveryRunsTheVMFromTheSetThenMigratesIt:
		// it needs vmlua serve nfs running
		{name: "instant_recovery to migrate a VM that is not there exits nothing_selected",
			script: "instant_recovery.lua", args: []string{"vm=nosuch", "to=LocalDS_1"}, exit: runtime.ExitNothingSelected,
			check: func(t *testing.T, lines []string) {}},
		{name: "instant_recovery without url= or to= is a usage error",
			script: "instant_recovery.lua", args: []string{"name=x"}, exit: 1, code: runtime.CodeInvalidArg,
			check: func(t *testing.T, lines []string) {}},
		{name: "backup_all whose selection matches no VM exits nothing_selected",
			script: "backup_all.lua", args: []string{"to=" + file("none"), "vms=name:DB1"}, exit: runtime.ExitNothingSelected,
			check: func(t *testing.T, lines []string) {
				if !simtest.Contains(lines, "0 VM(s) match vms=name:DB1") {
					t.Errorf("printed %q", lines)
				}
			}},
		{name: "backup_all whose selection matches no VM succeeds with allow_empty=true",
			script: "backup_all.lua", args: []string{"to=" + file("none"), "vms=name:DB1", "allow_empty=true"},
			check: func(t *testing.T, lines []string) {}},
		{name: "restore of a partial set names the disks the restored VM lacks and exits partial",
			script: "restore.lua", args: []string{"from=" + file("allp"), "vm=DB01", "name=DB01-p", "datastore=LocalDS_1"}, exit: runtime.ExitPartial,
			check: func(t *testing.T, lines []string) {
				if !simtest.Contains(lines, "not in the set: disk scsi0:2") || !simtest.Contains(lines, "without disk(s) scsi0:2") {
					t.Errorf("printed %q", lines)
				}
			}},
		{name: "restore registers the latest set under another name",
			script: "restore.lua", args: []string{"from=" + file("all"), "vm=VM1", "name=VM1-restored", "datastore=LocalDS_1"},
			check: func(t *testing.T, lines []string) {
				if !simtest.Contains(lines, "restored VM1-restored") {
					t.Errorf("printed %q", lines)
				}
				if l, err := run(t, ep, "vm_info.lua", "name:VM1-restored"); err != nil || len(l) != 1 || !strings.Contains(l[0], "vmx:[LocalDS_1] VM1-restored/VM1-restored.vmx") {
					t.Errorf("vm_info.lua name:VM1-restored = %q, %v", l, err)
				}
			}},
		{name: "vmx_backup archives each configuration, keeps the newest and syncs the .vmx to another datastore",
			script: "vmx_backup.lua", args: []string{"to=" + file("vmx"), "vms=name:DB01", "keep=1", "sync=vmfs://LocalDS_1/standby"},
			before: func(t *testing.T) {
				if _, err := o.Run(t, "vmx_backup.lua", "to="+file("vmx"), "vms=name:DB01"); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, lines []string) {
				if got := simtest.Glob(t, filepath.Join(dir, "vmx", "DB01", "vmx", "DB01-*.tar.gz")); len(got) != 1 {
					t.Errorf("archives after keep=1: %v, want 1", got)
				}
				if got := simtest.Glob(t, filepath.Join(dsDir, "LocalDS_1", "standby", "DB01", "DB01.vmx")); len(got) != 1 {
					t.Errorf("synced .vmx: %v", got)
				}
				if !simtest.Contains(lines, "register [LocalDS_1] standby/DB01/DB01.vmx") {
					t.Errorf("printed %q", lines)
				}
			}},
		{name: "vmx_backup whose selection matches no VM exits nothing_selected",
			script: "vmx_backup.lua", args: []string{"to=" + file("vmx"), "vms=name:DB1"}, exit: runtime.ExitNothingSelected,
			check: func(t *testing.T, lines []string) {}},
		{name: "nightly backs the selected VMs up to two targets, verifies, prints a summary, and is partial for DB01's independent disk",
			script: "nightly.lua", args: []string{"to=" + file("n1") + "," + file("n2"), "exclude=VM2,*-restored,DB01-p", "keep=2"}, exit: runtime.ExitPartial,
			check: func(t *testing.T, lines []string) {
				if !simtest.Contains(lines, "2 VM(s), 2 target(s): 4 set(s) written, 0 failed, 2 partial") || !simtest.Contains(lines, "DB01: the set lacks disk(s) scsi0:2") {
					t.Errorf("summary missing:\n%s", strings.Join(lines, "\n"))
				}
				for _, at := range []string{file("n1"), file("n2")} {
					if n := o.Verified(t, at, ""); n["DB01"] != 1 || n["VM1"] != 1 || len(n) != 2 {
						t.Errorf("verified sets at %s = %v, want DB01 and VM1", at, n)
					}
				}
			}},
		{name: "nightly whose selection matches no VM exits nothing_selected and says so",
			script: "nightly.lua", args: []string{"to=" + file("n4"), "vms=name:DB1"}, exit: runtime.ExitNothingSelected,
			check: func(t *testing.T, lines []string) {
				if !simtest.Contains(lines, "0 VM(s) selected by vms=name:DB1") {
					t.Errorf("printed %q", lines)
				}
			}},
		{name: "nightly whose filters leave no VM exits nothing_selected",
			script: "nightly.lua", args: []string{"to=" + file("n4"), "name=nosuch*"}, exit: runtime.ExitNothingSelected,
			check: func(t *testing.T, lines []string) {}},
		{name: "nightly whose selection matches no VM succeeds with allow_empty=true",
			script: "nightly.lua", args: []string{"to=" + file("n4"), "vms=name:DB1", "allow_empty=true"},
			check: func(t *testing.T, lines []string) {
				if len(simtest.Glob(t, filepath.Join(dir, "n4", "*"))) != 0 {
					t.Error("an empty selection wrote something")
				}
			}},
		{name: "nightly rejects a misspelt argument with a suggestion",
			script: "nightly.lua", args: []string{"to=" + file("n4"), "kepe=2"}, exit: runtime.ExitUsage,
			check: func(t *testing.T, lines []string) {}},
		{name: "nightly dry_run=true previews the retention and writes and removes nothing",
			script: "nightly.lua", args: []string{"to=" + file("n1"), "name=VM1", "keep=1", "dry_run=true"},
			before: func(t *testing.T) {
				// a full set: an incremental would keep its parent (its chain) from the retention
				if _, err := o.Run(t, "nightly.lua", "to="+file("n1"), "name=VM1", "keep=5", "mode=full"); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, lines []string) {
				if !simtest.Contains(lines, "preview only: 1 set(s) would be pruned") {
					t.Errorf("summary missing:\n%s", strings.Join(lines, "\n"))
				}
				if got := simtest.Glob(t, filepath.Join(dir, "n1", "VM1", "*", "catalog.json")); len(got) != 2 {
					t.Errorf("VM1's sets after the preview: %v, want the 2 there were", got)
				}
			}},
		{name: "nightly fails after the summary when a target refuses",
			script: "nightly.lua", args: []string{"to=" + file("n3") + ",file:///not/granted", "name=VM1"},
			exit: runtime.ExitFailed, code: runtime.CodeError,
			check: func(t *testing.T, lines []string) {
				if !simtest.Contains(lines, "1 VM(s), 2 target(s): 1 set(s) written, 1 failed") || !simtest.Contains(lines, "FAILED") {
					t.Errorf("summary missing:\n%s", strings.Join(lines, "\n"))
				}
			}},
		{name: "host_config_backup backs every host's configuration up and keeps the newest keep= per host",
			script: "host_config_backup.lua", args: []string{"to=" + file("hosts"), "keep=1"},
			before: func(t *testing.T) {
				if _, err := o.Run(t, "host_config_backup.lua", "to="+file("hosts"), "hosts=name:DC0_C0_H*"); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, lines []string) {
				if !simtest.Contains(lines, "4 host(s): 4 backed up, 0 failed") {
					t.Errorf("printed %q", lines)
				}
				for _, h := range sim.Hosts() {
					for _, f := range []string{"configBundle-" + h + ".tgz", "configBundle-" + h + ".json", "catalog.json"} {
						if got := simtest.Glob(t, filepath.Join(dir, "hosts", "host", h, "*", f)); len(got) != 1 {
							t.Errorf("%s: %s files after keep=1: %v, want 1", h, f, got)
						}
					}
				}
			}},
		{name: "host_config_backup of a selection matching no host exits 6 and writes nothing",
			script: "host_config_backup.lua", args: []string{"to=" + file("nohosts"), "hosts=name:nosuch*"}, exit: runtime.ExitNothingSelected,
			check: func(t *testing.T, lines []string) {
				if got := simtest.Glob(t, filepath.Join(dir, "nohosts", "host", "*")); len(got) != 0 {
					t.Errorf("sets written for no host: %v", got)
				}
			}},
		{name: "host_config_restore refuses a host not in maintenance mode and says how to enter it",
			script: "host_config_restore.lua", args: []string{"from=" + file("hosts"), "host=DC0_C0_H2"},
			exit: runtime.ExitFailed, code: runtime.CodeInvalidState,
			check: func(t *testing.T, lines []string) {
				if len(lines) != 0 {
					t.Errorf("printed %q for a refused restore", lines)
				}
			}},
		{name: "host_config_restore enters maintenance mode and restores the latest backup",
			script: "host_config_restore.lua", args: []string{"from=" + file("hosts"), "host=DC0_C0_H2", "maintenance=true"},
			check: func(t *testing.T, lines []string) {
				if len(lines) != 1 || !strings.Contains(lines[0], "DC0_C0_H2: configuration taken 2") || !strings.Contains(lines[0], "restored") {
					t.Errorf("printed %q", lines)
				}
				if got := o.RunLua(t, `local b = require "backup"; print(tostring(b.verify{ at = arg.at, host = "DC0_C0_H2", set = "latest" }.ok))`, "at="+file("hosts")); len(got) != 1 || got[0] != "true" {
					t.Errorf("the host's set does not verify: %q", got)
				}
				if _, err := o.Run(t, "host_config_restore.lua", "from="+file("hosts"), "host=DC0_C0_H2", "set=19990101T000000Z"); err == nil {
					t.Errorf("a set that does not exist was restored")
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before(t)
			}
			lines, err := o.Run(t, tc.script, tc.args...)
			if got := runtime.ExitStatus(err); got != tc.exit {
				t.Fatalf("%s %v: exit status %d, want %d: %v\n%s", tc.script, tc.args, got, tc.exit, err, strings.Join(lines, "\n"))
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

// TestHotBackupChecksItsTargetBeforeFreezing: a target the run may not
// reach fails hot_backup before it adds a REDO log.
func TestHotBackupChecksItsTargetBeforeFreezing(t *testing.T) {
	e := simtest.Start(t, vsim.Options{DiskSize: 1 << 20})
	err, recs := e.Run(t, "hot_backup.lua", simtest.RunOptions{Args: []string{"name:VM1", "to=file:///not/granted"}})
	if simtest.Code(err) != runtime.CodeNotGranted {
		t.Fatalf("err = %v, want not_granted\n%s", err, recs)
	}
	if n := len(recs.Find("add_redo: disk frozen")); n != 0 {
		t.Errorf("hot_backup froze %d disk(s) before finding out it may not write to its target:\n%s", n, recs)
	}
}

// TestShippedBackupScriptsRunThroughADryRun: with --dry-run every backup
// script walks its whole run, prints what it would do, ends with the
// status the real run would, and changes nothing: no snapshot, no file.
func TestShippedBackupScriptsRunThroughADryRun(t *testing.T) {
	e := simtest.Start(t, vsim.Options{DiskSize: 2 << 20})
	src := t.TempDir()
	real := simtest.Site{Endpoint: e.Endpoint, Allow: []string{"file://" + src}}
	if _, err := real.Run(t, "backup_all.lua", "to=file://"+src, "vms=name:VM1"); err != nil {
		t.Fatal(err)
	}
	dest := "to=file://" + e.Dir
	cases := []struct {
		script string
		args   []string
		exit   int
		want   []string // printed lines, in part
		logs   []string // log messages
	}{
		{"nightly.lua", []string{dest, "vms=name:*"}, runtime.ExitPartial,
			[]string{"nightly summary (dry run: nothing written, nothing removed)", "DB01                 partial (dry run)", "VM1                  ok (dry run)", "3 VM(s), 1 target(s): dry run: nothing written; 0 failed, 1 partial"},
			[]string{"dry run: would store the frozen disk", "dry run: would write the catalog"}},
		{"backup_all.lua", []string{dest, "vms=name:VM*"}, runtime.ExitOK,
			[]string{"2 of 2 VM(s) would be backed up (dry run, nothing written) to file://"}, []string{"dry run: backup set planned"}},
		{"hot_backup.lua", []string{"name:DB01", dest}, runtime.ExitPartial,
			[]string{"DB01: 2 disk(s) would be exported (dry run)"}, []string{"dry run: would export the frozen disk", "dry run: would commit a REDO log (remove snapshot)"}},
		{"vmx_backup.lua", []string{dest, "vms=name:DB01"}, runtime.ExitOK,
			[]string{"1 VM(s): 1 archived, 0 synced, 0 failed (dry run: nothing written)"}, []string{"dry run: would write the configuration archive"}},
		{"restore.lua", []string{"from=file://" + src, "vm=VM1", "name=VM1-copy"}, runtime.ExitOK,
			[]string{"dry run: nothing restored"}, []string{"dry run: would restore a VM"}},
	}
	for _, tc := range cases {
		t.Run(tc.script, func(t *testing.T) {
			err, recs := e.Run(t, tc.script, simtest.RunOptions{DryRun: true, Args: tc.args, Mod: func(o *runtime.Options) {
				_ = o.Grants.Allow("file://" + src)
			}})
			if got := runtime.ExitStatus(err); got != tc.exit {
				t.Fatalf("exit status %d (%v), want %d\n%s", got, err, tc.exit, recs)
			}
			printed := recs.Printed()
			for _, w := range tc.want {
				if !simtest.Contains(printed, w) {
					t.Errorf("printed lines lack %q:\n%s", w, strings.Join(printed, "\n"))
				}
			}
			for _, m := range tc.logs {
				if len(recs.Find(m)) == 0 {
					t.Errorf("no %q in the log:\n%s", m, recs)
				}
			}
			if entries, _ := os.ReadDir(e.Dir); len(entries) != 0 {
				t.Errorf("the dry run wrote to the target: %v", entries)
			}
			for _, v := range []string{"DB01", "VM1", "VM2"} {
				if s := e.Snapshots(t, v); len(s) != 0 {
					t.Errorf("%s has snapshots after a dry run: %v", v, s)
				}
			}
		})
	}
}

// TestEveryShippedScriptIsTested: a new script needs a case above.
func TestEveryShippedScriptIsTested(t *testing.T) {
	src, err := os.ReadFile("scripts_test.go")
	if err != nil {
		t.Fatal(err)
	}
	// a rules file is not run as a script: vmlua answer loads it, and its
	// test runs that (and must name the file)
	rules := map[string]string{"answer_rules.lua": "../cmd/vmlua/answer_rules_test.go"}
	files := simtest.Glob(t, "*.lua")
	for _, f := range files {
		if test, ok := rules[f]; ok {
			if b, err := os.ReadFile(test); err != nil || !strings.Contains(string(b), "scripts/"+f) {
				t.Errorf("the rules file %s has no test in %s (%v)", f, test, err)
			}
			continue
		}
		if !strings.Contains(string(src), `script: "`+f+`"`) {
			t.Errorf("%s has no case in TestEveryShippedScriptDoesWhatItsUsageSays", f)
		}
	}
}

// TestNightlyAndBackupAllMakeIncrementals: without writing Lua, a site
// gets changed-block-tracking incrementals: mode=auto (the default) makes
// a full, then incrementals on it, and a full again once the chain holds
// chain_max sets, logged at INFO (a planned full is no warning: cron would
// mail it every chain_max nights). mode=full makes fulls only.
func TestNightlyAndBackupAllMakeIncrementals(t *testing.T) {
	e := simtest.Start(t, vsim.Options{DiskSize: 2 << 20})
	for _, script := range []string{"nightly.lua", "backup_all.lua"} {
		t.Run(script, func(t *testing.T) {
			dest := "to=file://" + filepath.Join(e.Dir, script)
			night := func(args ...string) *simtest.Records {
				t.Helper()
				err, recs := e.Run(t, script, simtest.RunOptions{Args: append([]string{dest, "vms=name:VM1"}, args...)})
				if err != nil {
					t.Fatalf("%s %v: %v\n%s", script, args, err, recs)
				}
				return recs
			}
			var recs []*simtest.Records
			for i := 0; i < 3; i++ {
				recs = append(recs, night("chain_max=3"))
			}
			if got := modes(t, e, script); got != "full,incremental,incremental" {
				t.Errorf("three nights made %s, want full,incremental,incremental", got)
			}
			if script == "nightly.lua" && !simtest.Contains(recs[1].Printed(), "incremental") {
				t.Errorf("the summary does not show the mode:\n%s", strings.Join(recs[1].Printed(), "\n"))
			}
			last := night("chain_max=3")
			if got := modes(t, e, script); got != "full,incremental,incremental,full" {
				t.Errorf("at chain_max=3 the fourth night made %s, want a full", got)
			}
			full := last.Find("backup: this set is a full")
			if len(full) != 1 || full[0]["level"] != "INFO" || !strings.Contains(fmt.Sprint(full[0]["why"]), "reached chain_max=3") {
				t.Errorf("the planned full was logged as %v, want one INFO line saying chain_max", full)
			}
			for _, r := range last.All() {
				if r["level"] == "WARN" || r["level"] == "ERROR" {
					t.Errorf("the night of a planned full logged %v", r)
				}
			}
			night("mode=full")
			if got := modes(t, e, script); !strings.HasSuffix(got, ",full,full") {
				t.Errorf("mode=full made %s", got)
			}
		})
	}
}

// modes lists the modes of VM1's sets under the script's folder, oldest first.
// TestNightlyAndBackupAllTakeFullEveryAndVerifyCBT: the shipped backup
// scripts pass full_every= (every Nth set a full, in mode incremental
// too) and verify_cbt= (a verifying full) to v:backup.
func TestNightlyAndBackupAllTakeFullEveryAndVerifyCBT(t *testing.T) {
	e := simtest.Start(t, vsim.Options{DiskSize: 2 << 20})
	for _, script := range []string{"nightly.lua", "backup_all.lua"} {
		t.Run(script, func(t *testing.T) {
			dest := "to=file://" + filepath.Join(e.Dir, script)
			night := func(args ...string) {
				t.Helper()
				if err, recs := e.Run(t, script, simtest.RunOptions{Args: append([]string{dest, "vms=name:VM1"}, args...)}); err != nil {
					t.Fatalf("%s %v: %v\n%s", script, args, err, recs)
				}
			}
			for i := 0; i < 3; i++ {
				night("mode=incremental", "full_every=2")
			}
			if got := modes(t, e, script); got != "full,incremental,full" {
				t.Errorf("full_every=2 made %s, want full,incremental,full", got)
			}
			night("verify_cbt=true")
			err, recs := e.Run(t, `local l = require("backup").list{ at = arg.at, vm = "VM1" }
local c = require("transport").open(arg.at):read(l[#l].id .. "/catalog.json")
print(c:find('"verify_cbt": *true') and "VERIFY" or "NO")`, simtest.RunOptions{Args: []string{"at=file://" + filepath.Join(e.Dir, script)}})
			if err != nil || !simtest.Contains(recs.Printed(), "VERIFY") {
				t.Errorf("verify_cbt=true did not reach the set: %v\n%s", err, recs)
			}
			if got := modes(t, e, script); !strings.HasSuffix(got, ",full") {
				t.Errorf("verify_cbt=true made %s, want a full last", got)
			}
		})
	}
}

func modes(t *testing.T, e *simtest.Env, script string) string {
	t.Helper()
	err, recs := e.Run(t, `local out = {}
for _, s in ipairs(require("backup").list{ at = arg.at, vm = "VM1" }) do out[#out + 1] = s.mode end
print(table.concat(out, ","))`, simtest.RunOptions{Args: []string{"at=file://" + filepath.Join(e.Dir, script)}})
	if err != nil || len(recs.Printed()) != 1 {
		t.Fatalf("backup.list: %v\n%s", err, recs)
	}
	return recs.Printed()[0]
}

// TestAnswerQuestionEndsPartialWithAQuestionLeft: answer_question.lua
// answers the single-choice questions and ends with 7 (partial) when it
// leaves one for a person, as 'vmlua answer --once' does; 0 when none is
// left.
func TestAnswerQuestionEndsPartialWithAQuestionLeft(t *testing.T) {
	e := simtest.Start(t, vsim.Options{})
	site := simtest.Site{Endpoint: e.Endpoint}
	cases := []struct {
		name string
		ask  map[string][]string // VM -> choices of the question asked
		args []string
		exit int
		left []string // VMs whose question is still pending afterwards
		want string   // printed
	}{
		{"a question with several choices is left and the run is partial", map[string][]string{"VM1": {"Keep", "Discard"}, "VM2": {"OK"}}, []string{"any:"}, runtime.ExitPartial, []string{"VM1"}, "1 question(s) left for a person"},
		{"the watch ends partial when it left a question", map[string][]string{"VM1": {"Keep", "Discard"}}, []string{"name:VM1", "watch=1"}, runtime.ExitPartial, []string{"VM1"}, ""},
		{"no question left is 0", map[string][]string{"VM2": {"OK"}}, []string{"name:VM2"}, runtime.ExitOK, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var asked []*vsim.Question
			for v, choices := range tc.ask {
				q, err := e.Sim.Ask(v, "Which one?", choices...)
				if err != nil {
					t.Fatal(err)
				}
				asked = append(asked, q)
			}
			lines, err := site.Run(t, "answer_question.lua", tc.args...)
			if got := runtime.ExitStatus(err); got != tc.exit {
				t.Fatalf("exit %d (%v), want %d\n%s", got, err, tc.exit, strings.Join(lines, "\n"))
			}
			if tc.want != "" && !simtest.Contains(lines, tc.want) {
				t.Errorf("printed %q, want %q", lines, tc.want)
			}
			for _, v := range []string{"VM1", "VM2"} {
				if pending := e.Sim.PendingQuestion(v) != nil; pending != slices.Contains(tc.left, v) {
					t.Errorf("%s has a pending question: %v, want %v", v, pending, slices.Contains(tc.left, v))
				}
			}
			// answer what was left, for the next case
			for _, q := range asked {
				if e.Sim.PendingQuestion(q.VM) != nil {
					lines := site.RunLua(t, `local v = require("vm").open("name:`+q.VM+`")
local q = v:pending_question()
v:answer_question(q, 0)
print("answered")`)
					if !simtest.Contains(lines, "answered") {
						t.Fatal(lines)
					}
				}
			}
		})
	}
}

// TestABackupWhoseCommitFailsLogsOneErrorOnly: when a backup's commit
// fails (a pending question stops it, or vSphere refuses it), the backup
// fails and its REDO log is committed by the run's cleanup. It used to log
// a second ERROR about committing a REDO log it never added: the failed
// commit had already taken the REDO off the disk's stack, and the
// rollback tried to commit it again.
func TestABackupWhoseCommitFailsLogsOneErrorOnly(t *testing.T) {
	retry := vm.RemoveRetry
	vm.RemoveRetry.Initial = time.Millisecond
	t.Cleanup(func() { vm.RemoveRetry = retry })
	e := simtest.Start(t, vsim.Options{DiskSize: 1 << 20})
	// the commit and every retry of it fail; the run's cleanup then succeeds
	e.Sim.InjectTaskFault(vsim.TaskFault{Method: "RemoveSnapshot_Task", VM: "VM1", Count: 1 + vm.RemoveRetry.Attempts})
	err, recs := e.Run(t, "backup_all.lua", simtest.RunOptions{Args: []string{"to=file://" + e.Dir, "vms=name:VM1"}})
	if runtime.ExitStatus(err) != runtime.ExitFailed {
		t.Fatalf("exit %d (%v), want 1\n%s", runtime.ExitStatus(err), err, recs)
	}
	var errs []string
	for _, r := range recs.All() {
		if r["level"] == "ERROR" {
			errs = append(errs, fmt.Sprint(r))
		}
	}
	if len(errs) != 1 || !strings.Contains(errs[0], "backup failed; older sets are kept") {
		t.Errorf("ERROR lines: want only the script's \"backup failed\", got\n%s", strings.Join(errs, "\n"))
	}
	if strings.Contains(recs.String(), "no REDO log added by this run") {
		t.Errorf("the log speaks of a REDO log the backup never added:\n%s", recs)
	}
	if len(recs.Find("the script ended with a REDO log still open; committing it")) != 1 {
		t.Errorf("the REDO log the failed commit left was not committed by the run's cleanup:\n%s", recs)
	}
	if s := e.Snapshots(t, "VM1"); len(s) != 0 {
		t.Errorf("VM1 has snapshots after the run: %v", s)
	}
}
