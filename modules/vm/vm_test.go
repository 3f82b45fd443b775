package vm_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/vmlua/vmlua/internal/harness/simtest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/file"
)

func code(err error) string {
	var se *runtime.ScriptError
	if errors.As(err, &se) {
		return se.Code
	}
	return ""
}

// TestHotBackupScript runs the book's Code Listing 7.1, ported, on a
// multi-disk VM whose guest keeps writing: each exported disk holds exactly
// what the disk held at the instant of its first add_redo, the independent
// disk is skipped with a warning, no snapshot remains, and the disks hold
// every byte the guest wrote.
func TestHotBackupScript(t *testing.T) {
	e := simtest.Start(t, vsim.Options{WriteRate: 400})
	var mu sync.Mutex
	seqs := map[string]uint64{}
	hook := func(msg string, a map[string]any) {
		if msg != "add_redo: disk frozen" {
			return
		}
		disk, snap := a["disk"].(string), a["snapshot"].(string)
		ref, ok := e.SnapshotRef(t, "DB01", snap)
		if !ok {
			t.Errorf("snapshot %s not found right after add_redo", snap)
			return
		}
		seq, err := e.Sim.SnapshotSeq(ref)
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		if _, first := seqs[disk]; !first {
			seqs[disk] = seq
		}
		mu.Unlock()
	}
	err, recs := e.Run(t, "../../scripts/hot_backup.lua", simtest.RunOptions{Args: []string{"name:DB01", "to=file://" + e.Dir}, Hook: hook})
	if runtime.ExitStatus(err) != runtime.ExitPartial {
		t.Fatalf("hot_backup.lua of DB01 (an independent disk it cannot freeze) ended with %v, want status partial\n%s", err, recs)
	}
	if err := e.Sim.PauseGuest("DB01"); err != nil {
		t.Fatal(err)
	}
	final, _ := e.Sim.WriteSeq("DB01")
	for _, tc := range []struct{ disk, file, base string }{
		{"scsi0:0", "DB01-flat.vmdk", "[LocalDS_0] DB01/DB01.vmdk"},
		{"scsi0:1", "DB01_1-flat.vmdk", "[LocalDS_1] DB01/DB01_1.vmdk"},
	} {
		seq, ok := seqs[tc.disk]
		if !ok {
			t.Fatalf("%s was never frozen", tc.disk)
		}
		want, size, err := e.Sim.ExpectedContent("DB01", tc.disk, seq)
		if err != nil {
			t.Fatal(err)
		}
		if got := simtest.FileSHA(t, filepath.Join(e.Dir, tc.file)); got != simtest.ShaOf(t, want, size) {
			t.Errorf("%s: exported image differs from the disk's content at its first add_redo (write %d)", tc.disk, seq)
		}
		desc, err := os.ReadFile(filepath.Join(e.Dir, strings.TrimSuffix(tc.file, "-flat.vmdk")+".vmdk"))
		if err != nil || !strings.Contains(string(desc), fmt.Sprintf("RW %d VMFS %q", size/512, tc.file)) || strings.Contains(string(desc), "parentFileNameHint") {
			t.Errorf("%s: descriptor does not name the flat image alone: %s (%v)", tc.disk, desc, err)
		}
		now, size, _ := e.Sim.ExpectedContent("DB01", tc.disk, final)
		if got := e.DiskSHA(t, tc.base); got != simtest.ShaOf(t, now, size) {
			t.Errorf("%s: after consolidation the disk does not hold every byte the guest wrote (%d writes)", tc.disk, final)
		}
	}
	if final <= seqs["scsi0:1"] {
		t.Errorf("the guest wrote nothing after the last freeze (%d writes): the test proves nothing", final)
	}
	if s := e.Snapshots(t, "DB01"); len(s) != 0 {
		t.Errorf("snapshots left on DB01: %v", s)
	}
	if w := recs.Find("skipping a disk that cannot be frozen"); len(w) != 1 || w[0]["disk"] != "scsi0:2" {
		t.Errorf("the independent disk was not skipped with a warning: %v", w)
	}
	if _, err := os.Stat(filepath.Join(e.Dir, "DB01_2-flat.vmdk")); err == nil {
		t.Error("the independent disk was exported")
	}
}

func TestDiskModeScript(t *testing.T) {
	e := simtest.Start(t, vsim.Options{})
	cases := []struct{ disk, want, wantErr string }{
		{"scsi0:0", "persistent", ""},
		{"scsi0:2", "Warning: independent-persistent", ""},
		{"scsi0:9", "", "not_found: VM DB01 has no disk scsi0:9"},
	}
	for _, tc := range cases {
		t.Run(tc.disk, func(t *testing.T) {
			err, recs := e.Run(t, "../../scripts/disk_mode.lua", simtest.RunOptions{Args: []string{"[LocalDS_0] DB01/DB01.vmx", tc.disk}})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(recs.Find(tc.want)) != 1 {
				t.Errorf("did not print %q:\n%s", tc.want, recs)
			}
		})
	}
}

// TestLookups covers every specifier of vm.open and vm.find.
func TestLookups(t *testing.T) {
	e := simtest.Start(t, vsim.Options{Inventory: []vsim.VMSpec{
		{Name: "DB01", Disks: []vsim.DiskSpec{{}, {Datastore: "LocalDS_1"}}},
		{Name: "web-1"}, {Name: "web-2"}, {Name: "OLD", PoweredOff: true},
	}})
	uuid := e.VMObj(t, "web-1").UUID(context.Background())
	moref := e.VMObj(t, "OLD").Reference().Value
	vmxUUID := strings.ReplaceAll(uuid, "-", "")
	vmxUUID = vmxUUID[:16] + "-" + vmxUUID[16:]
	cases := []struct{ name, script, wantErr string }{
		{"open by .vmx path", `assert(vm.open("[LocalDS_0] DB01/DB01.vmx").name == "DB01")`, ""},
		{"open by name", `local v = vm.open("name:web-2"); assert(v.name == "web-2" and v.power == "on" and v.moref:match("^vm%-"))`, ""},
		{"open by BIOS uuid", `assert(vm.open("uuid:` + uuid + `").name == "web-1")`, ""},
		{"open by uuid in VMX spelling", `assert(vm.open("uuid:` + vmxUUID + `").name == "web-1")`, ""},
		{"open by moref", `local v = vm.open("moref:` + moref + `"); assert(v.name == "OLD" and v.power == "off")`, ""},
		{"open of an unknown VM is nil", `assert(vm.open("name:nope") == nil); assert(vm.open("[LocalDS_0] x/x.vmx") == nil)`, ""},
		{"open of an unknown moref is nil", `assert(vm.open("moref:vm-999999") == nil)`, ""},
		{"open refuses a pattern", `vm.open("name:web-*")`, "invalid_argument: vm.open(\"name:web-*\") takes a specifier naming one VM"},
		{"open refuses a bad specifier", `vm.open("colour:red")`, "unknown kind \"colour\""},
		{"find by glob", `local l = vm.find("name:web-*"); assert(#l == 2 and l[1].name == "web-1" and l[2].name == "web-2")`, ""},
		{"find powerstate:on", `local l = vm.find("powerstate:on"); assert(#l == 3, #l)`, ""},
		{"find powerstate:off", `local l = vm.find("powerstate:off"); assert(#l == 1 and l[1].name == "OLD")`, ""},
		{"find powerstate:suspended", `assert(#vm.find("powerstate:suspended") == 0)`, ""},
		{"find any:", `assert(#vm.find("any:") == 4)`, ""},
		{"find none:", `assert(#vm.find("none:") == 0)`, ""},
		{"registered lists .vmx paths", `local r = vm.registered(); assert(#r == 4 and r[1] == "[LocalDS_0] DB01/DB01.vmx", r[1])`, ""},
		{"VM fields", `local v = vm.open("name:DB01"); assert(v.vmx == "[LocalDS_0] DB01/DB01.vmx" and v.host ~= "" and #v.datastores == 2 and tostring(v):find("^VM%(DB01"))`, ""},
		{"VM objects are read-only", `vm.open("name:DB01").name = "x"`, "read-only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err, recs := e.Run(t, `local vm = require "vm"; `+tc.script, simtest.RunOptions{})
			if tc.wantErr == "" && err != nil {
				t.Fatalf("%v\n%s", err, recs)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestGetConfig(t *testing.T) {
	e := simtest.Start(t, vsim.Options{})
	cases := []struct{ key, want string }{
		{"displayName", "DB01"},
		{"memsize", "*"},
		{"numvcpus", "*"},
		{"guestOS", "*"},
		{"uuid.bios", "*-*"},
		{"scsi0.present", "TRUE"},
		{"scsi0.virtualDev", "lsilogic"},
		{"scsi0:0.present", "TRUE"},
		{"scsi0:0.fileName", "DB01.vmdk"},
		{"scsi0:0.name", "DB01.vmdk"},
		{"scsi0:1.fileName", "/vmfs/volumes/LocalDS_1/DB01/DB01_1.vmdk"},
		{"scsi0:0.mode", "persistent"},
		{"scsi0:2.mode", "independent-persistent"},
		{"scsi0:0.deviceType", "scsi-hardDisk"},
		{"ethernet0.present", "TRUE"},
		{"ethernet0.networkName", "VM Network"},
		{"ethernet0.addressType", "generated"},
		{"ethernet0.address", "*:*"},
		{"ctkEnabled", "TRUE"},
		{"scsi1.present", "nil"},
		{"scsi0:9.present", "nil"},
		{"ethernet7.present", "nil"},
		{"no.such.key", "nil"},
	}
	var script strings.Builder
	script.WriteString(`local v = require("vm").open("name:DB01")` + "\n")
	for _, tc := range cases {
		fmt.Fprintf(&script, "print(%q, tostring(v:get_config(%q)))\n", tc.key, tc.key)
	}
	err, recs := e.Run(t, script.String(), simtest.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		var got string
		for _, r := range recs.All() {
			if k, v, ok := strings.Cut(r["msg"].(string), "\t"); ok && k == tc.key {
				got = v
			}
		}
		switch {
		case tc.want == "*":
			if got == "" || got == "nil" {
				t.Errorf("%s = %q, want a value", tc.key, got)
			}
		case strings.Contains(tc.want, "*"):
			parts := strings.Split(tc.want, "*")
			if !strings.Contains(got, parts[1]) || got == "nil" {
				t.Errorf("%s = %q, want it to look like %q", tc.key, got, tc.want)
			}
		case got != tc.want:
			t.Errorf("%s = %q, want %q", tc.key, got, tc.want)
		}
	}
}

// TestGetConfigAgreesWithTheSimulatorsVMX: get_config answers every key
// of the .vmx the simulator writes as the file spells it (guestOS was
// "otherlinux64" from get_config and "other3xlinux-64" in the file, and
// ESXi writes "otherlinux-64"): one source of the spellings, internal/vmxfmt.
func TestGetConfigAgreesWithTheSimulatorsVMX(t *testing.T) {
	dir := t.TempDir()
	e := simtest.Start(t, vsim.Options{DatastoreDir: dir})
	f, err := os.Open(filepath.Join(dir, "LocalDS_0", "DB01", "DB01.vmx"))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := vsim.ParseVMX(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// keys get_config must know; others it may leave nil (.encoding, sharedBus)
	required := []string{"guestOS", "uuid.bios", "vc.uuid", "scsi0.virtualDev", "scsi0:0.mode", "scsi0:2.mode",
		"scsi0:0.deviceType", "scsi0:1.fileName", "ethernet0.virtualDev", "ethernet0.networkName", "ethernet0.addressType"}
	var keys []string
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var script strings.Builder
	script.WriteString(`local v = require("vm").open("name:DB01")` + "\n")
	for _, k := range keys {
		fmt.Fprintf(&script, "print(%q, tostring(v:get_config(%q)))\n", k, k)
	}
	err, recs := e.Run(t, script.String(), simtest.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range recs.All() {
		if k, v, ok := strings.Cut(r["msg"].(string), "\t"); ok {
			got[k] = v
		}
	}
	for _, k := range required {
		if _, ok := kv[k]; !ok {
			t.Errorf("the simulator's .vmx has no %s", k)
		}
	}
	for _, k := range keys {
		switch {
		case got[k] == "nil" && slices.Contains(required, k):
			t.Errorf("get_config(%q) = nil, the .vmx says %q", k, kv[k])
		case got[k] != "nil" && got[k] != kv[k]:
			t.Errorf("get_config(%q) = %q, the .vmx says %q", k, got[k], kv[k])
		}
	}
}

func TestCycleErrors(t *testing.T) {
	cases := []struct{ name, script, wantCode, wantMsg string }{
		{"an independent disk cannot be frozen", `v:add_redo("scsi0:2")`, "invalid_state", "independent-persistent: snapshots do not affect independent disks"},
		{"export of a running disk without a REDO is refused", `v:export("scsi0:0", arg.dest)`, "invalid_state", "Call add_redo(\"scsi0:0\") first"},
		{"commit without a REDO is refused", `v:commit("scsi0:0", 0, 0, 1)`, "invalid_state", "no REDO log added by this run"},
		{"commit level 1 needs two REDOs", `v:add_redo("scsi0:0"); v:commit("scsi0:0", 1, 0, 1)`, "invalid_state", "call add_redo again first"},
		{"an unknown disk is not_found", `v:add_redo("scsi3:3")`, "not_found", "no disk \"scsi3:3\" on this VM (it has scsi0:0, scsi0:1, scsi0:2)"},
		{"a bad commit level is an argument error", `v:add_redo("scsi0:0"); v:commit("scsi0:0", 2)`, "error", "level must be 0"},
		{"a third REDO stops on the VM's question", `v:add_redo("scsi0:0"); v:add_redo("scsi0:0"); v:add_redo("scsi0:0")`, "question", "the VM stopped on a question"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := simtest.Start(t, vsim.Options{})
			err, recs := e.Run(t, `local v = require("vm").open("name:DB01"); `+tc.script, simtest.RunOptions{})
			if err == nil || code(err) != tc.wantCode || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("error = %v (code %q), want %s containing %q\n%s", err, code(err), tc.wantCode, tc.wantMsg, recs)
			}
			if !strings.Contains(err.Error(), "vm=DB01") && tc.wantCode != "error" {
				t.Errorf("error does not name the VM: %v", err)
			}
			// Without a policy the question is left for a person, as on ESX;
			// nothing else may leave one.
			if q := e.Sim.PendingQuestion("DB01"); (q != nil) != (tc.wantCode == "question") {
				t.Errorf("pending question = %+v, want one only for the third REDO", q)
			}
			if s := e.Snapshots(t, "DB01"); len(s) != 0 {
				t.Errorf("snapshots left: %v", s)
			}
		})
	}
}

// slowFile is a file transport whose writes take time, so that a test can
// stop a run in the middle of an export.
type slowFile struct{ transports.Transport }

type slowWriter struct{ transports.Writer }

func (w slowWriter) Write(p []byte) (int, error) {
	time.Sleep(100 * time.Millisecond)
	return w.Writer.Write(p)
}

func (s slowFile) Create(ctx context.Context, p string) (transports.Writer, error) {
	w, err := s.Transport.Create(ctx, p)
	if err != nil {
		return nil, err
	}
	return slowWriter{w}, nil
}

func init() {
	transports.Register(transports.Scheme{Name: "slowfile", URLForm: "slowfile:///path", Help: "test only",
		Open: func(ctx context.Context, u *url.URL, o transports.Options) (transports.Transport, error) {
			t, err := file.New(u.Path)
			if err != nil {
				return nil, err
			}
			return slowFile{t}, nil
		}})
}

// TestCleanupLeavesNoSnapshot: however the script ends after add_redo, no
// snapshot created by the run remains, and no export looks complete unless
// it is.
func TestCleanupLeavesNoSnapshot(t *testing.T) {
	cases := []struct {
		name     string
		script   string
		timeout  time.Duration
		cancelIn time.Duration
		wantCode string
	}{
		{"normal end with REDOs open", `v:add_redo("scsi0:0"); v:add_redo("scsi0:1"); v:add_redo("scsi0:0")`, 0, 0, ""},
		{"script error after add_redo", `v:add_redo("scsi0:0"); error("the policy broke")`, 0, 0, "error"},
		{"timeout during export", `v:add_redo("scsi0:0"); v:export("scsi0:0", arg.slow)`, 1500 * time.Millisecond, 0, "timeout"},
		{"cancellation (SIGTERM) during export", `v:add_redo("scsi0:0"); v:export("scsi0:0", arg.slow)`, 0, 800 * time.Millisecond, "canceled"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := simtest.Start(t, vsim.Options{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancelIn > 0 {
				time.AfterFunc(tc.cancelIn, cancel)
			}
			slow := t.TempDir()
			err, recs := e.Run(t, `local v = require("vm").open("name:DB01"); `+tc.script, simtest.RunOptions{
				Ctx: ctx, Timeout: tc.timeout, Args: []string{"slow=slowfile://" + slow},
				Mod: func(o *runtime.Options) { _ = o.Grants.Allow("slowfile://" + slow) },
			})
			if code(err) != tc.wantCode {
				t.Fatalf("error = %v (code %q), want code %q\n%s", err, code(err), tc.wantCode, recs)
			}
			if s := e.Snapshots(t, "DB01"); len(s) != 0 {
				t.Errorf("snapshots left on DB01: %v", s)
			}
			if len(recs.Find("the script ended with a REDO log still open; committing it")) == 0 {
				t.Errorf("the cleanup did not say what it committed:\n%s", recs)
			}
			if _, err := os.Stat(filepath.Join(slow, "DB01-flat.vmdk")); err == nil {
				t.Error("an interrupted export left a file under its final name")
			}
			if p := simtest.Partials(slow); len(p) != 0 {
				t.Errorf("partial files left: %v", p)
			}
		})
	}
}

func TestKeepAndOrphans(t *testing.T) {
	e := simtest.Start(t, vsim.Options{})
	// A run that keeps its REDO leaves it, marked as kept: not an orphan.
	if err, recs := e.Run(t, `local v = require("vm").open("name:DB01"); v:add_redo("scsi0:0", {keep = true})`, simtest.RunOptions{}); err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	kept := e.Snapshots(t, "DB01")
	if len(kept) != 1 {
		t.Fatalf("keep=true: snapshots %v, want one", kept)
	}
	err, recs := e.Run(t, `local l = require("vm").cleanup_orphans(); assert(#l == 0, "a kept REDO is not an orphan")`, simtest.RunOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	// A snapshot named like vmlua's by a run that is gone is an orphan:
	// reported on open, committed by cleanup_orphans.
	task, err := e.VMObj(t, "VM1").CreateSnapshot(context.Background(), "vmlua-redo-deadbeef-1", "vmlua REDO log: run=deadbeef pid=999999 host=elsewhere created=2026-01-01T00:00:00Z keep=false. x", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	err, recs = e.Run(t, `
		local vm = require "vm"
		vm.open("name:VM1")
		local l = vm.cleanup_orphans()
		assert(#l == 1 and l[1].vm == "VM1" and l[1].snapshot == "vmlua-redo-deadbeef-1", #l)
	`, simtest.RunOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	if len(recs.Find("found a REDO log (snapshot) left by an earlier vmlua run that did not finish; vm.cleanup_orphans() commits it")) != 1 {
		t.Errorf("the orphan was not reported once:\n%s", recs)
	}
	if s := e.Snapshots(t, "VM1"); len(s) != 0 {
		t.Errorf("orphan not removed: %v", s)
	}
	if s := e.Snapshots(t, "DB01"); !slices.Equal(s, kept) {
		t.Errorf("the kept REDO was touched: %v", s)
	}
}

// TestMultiDiskReusesTheSnapshot: REDOs on several disks of one VM share
// the VM-level snapshot, and it is removed only when the last disk commits.
func TestMultiDiskReusesTheSnapshot(t *testing.T) {
	e := simtest.Start(t, vsim.Options{})
	err, recs := e.Run(t, `
		local v = require("vm").open("name:DB01")
		local a = v:add_redo("scsi0:0")
		local b = v:add_redo("scsi0:1")
		assert(a == b, "the second disk reuses the snapshot")
		assert(#v:snapshots() == 1)
		v:commit("scsi0:0", 0, 0, 1)
		v:refresh()
		assert(#v:snapshots() == 1, "still held by scsi0:1")
		local task = v:commit("scsi0:1", 0, 0, 0)
		task:wait()
		v:refresh()
		assert(#v:snapshots() == 0)
	`, simtest.RunOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	if len(recs.Find("add_redo: reusing the VM-level snapshot this run already took")) != 1 {
		t.Errorf("the reuse was not logged:\n%s", recs)
	}
}

// TestATaskWaitedForIsNotLeftUndone: commit(..., wait=0) returns a Task;
// once the script waited for it the cleanup has nothing to do and says
// nothing, and only a task the script did not wait for is finished (and
// reported) by the cleanup.
func TestATaskWaitedForIsNotLeftUndone(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1})
	const undone = "cleanup: the script left this undone; vmlua does it now"
	cases := []struct {
		name, script string
		warned       int
	}{
		{"a waited task", `local t = v:commit(d, 0, 0, 0); t:wait()`, 0},
		{"a task waited twice", `local t = v:commit(d, 0, 0, 0); t:wait(); t:wait()`, 0},
		{"a task not waited for", `v:commit(d, 0, 0, 0)`, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err, recs := e.Run(t, `
				local v = require("vm").open("name:VM1")
				local d = v:disks()[1].id
				v:add_redo(d)
				`+tc.script, simtest.RunOptions{})
			if err != nil {
				t.Fatalf("%v\n%s", err, recs)
			}
			if got := len(recs.Find(undone)); got != tc.warned {
				t.Errorf("%d %q warnings, want %d:\n%s", got, undone, tc.warned, recs)
			}
			if s := e.Snapshots(t, "VM1"); len(s) != 0 {
				t.Errorf("snapshots left: %v", s)
			}
		})
	}
}

func TestUnregisterAndDestroy(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 3})
	cases := []struct{ name, script, wantErr string }{
		{"a running VM is not destroyed", `vm.open("name:VM1"):destroy()`, "cannot destroy a VM that is running: power it off first"},
		{"a running VM is not unregistered", `vm.open("name:VM1"):unregister()`, "cannot unregister a VM that is running"},
		{"a powered-off VM is unregistered", `local v = vm.open("name:VM2"); v:power_off(); v:unregister(); assert(vm.open("name:VM2") == nil)`, ""},
		{"a powered-off VM is destroyed", `local v = vm.open("name:VM3"); v:power_off(); v:destroy(); assert(vm.open("name:VM3") == nil)`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err, recs := e.Run(t, `local vm = require "vm"; `+tc.script, simtest.RunOptions{})
			if tc.wantErr == "" && err != nil {
				t.Fatalf("%v\n%s", err, recs)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error = %v, want %q", err, tc.wantErr)
			}
		})
	}
	if len(e.Snapshots(t, "VM1")) != 0 {
		t.Error("VM1 was touched")
	}
}

func TestRegisterFromVMX(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1})
	err, recs := e.Run(t, `
		local vm = require "vm"
		local v = vm.open("name:VM1")
		v:power_off()
		local vmx = v.vmx
		v:unregister()
		assert(vm.open("name:VM1") == nil)
		local back = vm.register(vmx, {name = "VM1-again"})
		assert(back.name == "VM1-again" and back.vmx == vmx, back.vmx)
		assert(#back:disks() == 1)
	`, simtest.RunOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	err, _ = e.Run(t, `require("vm").register("not a path")`, simtest.RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "invalid_argument") {
		t.Errorf("a bad path: %v", err)
	}
}

// orphanOn leaves a snapshot on the VM as a killed vmlua run would.
func orphanOn(t *testing.T, e *simtest.Env, vmName string) {
	t.Helper()
	task, err := e.VMObj(t, vmName).CreateSnapshot(context.Background(), "vmlua-redo-deadbeef-1", "vmlua REDO log: run=deadbeef pid=999999 host=elsewhere created=2026-01-01T00:00:00Z keep=false. x", false, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestDryRunWalksTheWholeHotBackupCycle: in a dry run add_redo, export,
// add_redo, commit 1 and commit 0 all run through with the shapes of a
// real run, and nothing is made, written or merged.
func TestDryRunWalksTheWholeHotBackupCycle(t *testing.T) {
	cycle := `
		local vm = require "vm"
		local v = vm.open("name:VM1")
		local cleaned = vm.cleanup_orphans("name:VM1")
		local name = v:add_redo("scsi0:0")
		local res = v:export("scsi0:0", arg.dest)
		v:add_redo("scsi0:0")
		v:commit("scsi0:0", 1, 0, 1)
		v:commit("scsi0:0", 0, 0, 1)
		assert(name:find("^vmlua%-redo%-"), name)
		assert(res.dry_run == true, "export's result says dry_run")
		assert(res.path == "VM1-flat.vmdk" and res.descriptor == "VM1.vmdk", res.path)
		assert(res.bytes == tonumber(arg.size), "bytes " .. res.bytes .. " want " .. arg.size)
		assert(res.spans_root == "" and res.sha256 == nil, "no digest in a dry run")
		print("cleaned " .. #cleaned)
	`
	cases := []struct {
		name    string
		orphan  bool
		src     string
		code    string
		cleaned string
	}{
		{"on a VM without snapshots the cycle runs through", false, cycle, "", "cleaned 0"},
		{"on a VM with an orphan the cycle runs through after a cleanup that would commit it", true, cycle, "", "cleaned 1"},
		{"on a VM with an orphan and no cleanup the export fails as a real one would", true,
			`local v = require("vm").open("name:VM1"); v:add_redo("scsi0:0"); v:export("scsi0:0", arg.dest)`, runtime.CodeInvalidState, ""},
		{"a commit without add_redo fails as in a real run", false,
			`local v = require("vm").open("name:VM1"); v:commit("scsi0:0", 0, 0, 1)`, runtime.CodeInvalidState, ""},
		{"an export without add_redo of a running VM fails as in a real run", false,
			`local v = require("vm").open("name:VM1"); v:export("scsi0:0", arg.dest)`, runtime.CodeInvalidState, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := simtest.Start(t, vsim.Options{DiskSize: 4 << 20})
			if tc.orphan {
				orphanOn(t, e, "VM1")
			}
			before := e.Snapshots(t, "VM1")
			var printed []string
			err, recs := e.Run(t, tc.src, simtest.RunOptions{DryRun: true, Args: []string{fmt.Sprintf("size=%d", 4<<20)},
				Hook: func(msg string, a map[string]any) {
					if a["source"] == "print" {
						printed = append(printed, msg)
					}
				}})
			if code(err) != tc.code {
				t.Fatalf("err = %v, want code %q\n%s", err, tc.code, recs)
			}
			if tc.cleaned != "" && !slices.Contains(printed, tc.cleaned) {
				t.Errorf("printed %q, want %q", printed, tc.cleaned)
			}
			if got := e.Snapshots(t, "VM1"); !slices.Equal(got, before) {
				t.Errorf("snapshots after the dry run %v, before %v", got, before)
			}
			if entries, _ := os.ReadDir(e.Dir); len(entries) != 0 {
				t.Errorf("the dry run wrote %d file(s) to the target", len(entries))
			}
			if tc.code == "" && len(recs.Find("dry run: would export the frozen disk")) != 1 {
				t.Errorf("the export was not logged as a dry run:\n%s", recs)
			}
		})
	}
}

// TestCleanupOrphansTakesAVMOrAListOfVMs: given VMs (as vm.find returns
// them) cleanup_orphans commits the orphans of those VMs and no other's.
func TestCleanupOrphansTakesAVMOrAListOfVMs(t *testing.T) {
	e := simtest.Start(t, vsim.Options{})
	orphanOn(t, e, "VM1")
	orphanOn(t, e, "VM2")
	err, recs := e.Run(t, `
		local vm = require "vm"
		local l = vm.cleanup_orphans(vm.find("name:VM1"))
		assert(#l == 1 and l[1].vm == "VM1", "a list: " .. #l)
		assert(#vm.open("name:VM2"):snapshots() == 1, "VM2 was not in the list")
		l = vm.cleanup_orphans(vm.open("name:VM2"))
		assert(#l == 1 and l[1].vm == "VM2", "a VM: " .. #l)
		assert(#vm.cleanup_orphans({}) == 0, "an empty list")
		local ok, err = pcall(vm.cleanup_orphans, { "name:VM1" })
		assert(not ok and tostring(err):find("not a VM"), tostring(err))
	`, simtest.RunOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	for _, v := range []string{"VM1", "VM2"} {
		if s := e.Snapshots(t, v); len(s) != 0 {
			t.Errorf("%s keeps %v", v, s)
		}
	}
}
