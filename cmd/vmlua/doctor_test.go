package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/vm"
)

// doctorJSON is vmlua doctor --json's document.
type doctorJSON struct {
	Exit    int           `json:"exit"`
	Error   string        `json:"error"`
	Blocked bool          `json:"blocked"`
	VMs     []*vm.Checkup `json:"vms"`
	Target  *doctorTarget `json:"target"`
	Summary map[string]int
	Role    struct {
		Name       string   `json:"name"`
		Privileges []string `json:"privileges"`
	} `json:"role"`
}

func runDoctor(t *testing.T, s *vsim.Sim, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = dispatch(append([]string{"doctor", "--url", s.URL.String(), "--insecure"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func (d doctorJSON) vm(t *testing.T, name string) *vm.Checkup {
	t.Helper()
	for _, c := range d.VMs {
		if c.VM == name {
			return c
		}
	}
	t.Fatalf("no checkup of %s in %+v", name, d.VMs)
	return nil
}

// finding returns the first finding of check at severity sev, or nil.
func finding(ck *vm.Checkup, check string, sev vm.Severity) *vm.Finding {
	for i, f := range ck.Findings {
		if f.Check == check && f.Severity == sev {
			return &ck.Findings[i]
		}
	}
	return nil
}

// doctorSim is a simulator with one VM for each thing doctor must find:
// CLEAN (nothing stands in the way), SNAP (a snapshot of its user), INDEP
// (an independent disk, running), FAR (on a host only vCenter reaches),
// SKEW (on a host whose clock is ten minutes ahead), PRIV (where the user
// holds a role without the snapshot privileges), IMPOSTOR (on a host
// answering with a certificate vCenter does not know), LOST (a disk whose
// descriptor is gone), ORPHAN (a REDO log a killed vmlua run left), NOCBT
// (changed block tracking off).
func doctorSim(t *testing.T) *vsim.Sim {
	t.Helper()
	ctx := context.Background()
	s, err := vsim.Start(ctx, vsim.Options{Password: "sim-Pa55word", DiskSize: 1 << 20, Inventory: []vsim.VMSpec{
		{Name: "CLEAN", ChangeTracking: true, Host: "DC0_C0_H0"},
		{Name: "SNAP", ChangeTracking: true, Host: "DC0_C0_H0"},
		{Name: "INDEP", ChangeTracking: true, Host: "DC0_C0_H0", Disks: []vsim.DiskSpec{{}, {Mode: "independent_persistent"}}},
		{Name: "FAR", ChangeTracking: true, Host: "DC0_C0_H1"},
		{Name: "SKEW", ChangeTracking: true, Host: "DC0_C0_H2"},
		{Name: "PRIV", ChangeTracking: true, Host: "DC0_C0_H0"},
		{Name: "IMPOSTOR", ChangeTracking: true, Host: "DC0_H0"},
		{Name: "LOST", ChangeTracking: true, Host: "DC0_C0_H0"},
		{Name: "ORPHAN", ChangeTracking: true, Host: "DC0_C0_H0"},
		{Name: "NOCBT", Host: "DC0_C0_H0"},
		{Name: "VSAN", ChangeTracking: true, Host: "DC0_C0_H0", Disks: []vsim.DiskSpec{{Datastore: "vsanDatastore"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Logout(ctx)
	task, err := simtest.VMOf(t, c, "SNAP").CreateSnapshot(ctx, "before-upgrade", "the admin's own", false, false)
	if err == nil {
		err = task.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	leaveOrphan(t, s, "ORPHAN", "vmlua-redo-deadbeef-1")
	if err := s.SetHostReachable("DC0_C0_H1", false); err != nil {
		t.Fatal(err)
	}
	if err := s.SwapHostCertificate("DC0_H0", false); err != nil {
		t.Fatal(err)
	}
	desc, err := s.DatastoreFile("[LocalDS_0] LOST/LOST.vmdk")
	if err == nil {
		err = os.Remove(desc)
	}
	if err != nil {
		t.Fatal(err)
	}
	// SKEW's host runs ten minutes ahead
	var h mo.HostSystem
	hosts, err := object.NewSearchIndex(c.Client).FindByInventoryPath(ctx, "/DC0/host/DC0_C0/DC0_C0_H2")
	if err != nil || hosts == nil {
		t.Fatalf("host DC0_C0_H2: %v", err)
	}
	if err := c.PropertyCollector().RetrieveOne(ctx, hosts.Reference(), []string{"configManager.dateTimeSystem"}, &h); err != nil {
		t.Fatal(err)
	}
	if _, err := methods.UpdateDateTime(ctx, c.Client, &types.UpdateDateTime{This: *h.ConfigManager.DateTimeSystem, DateTime: time.Now().Add(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	// PRIV: the simulator's user holds, on that VM, a role that answers
	// questions and powers it but can neither snapshot nor turn changed
	// block tracking on (which is on already)
	am := object.NewAuthorizationManager(c.Client)
	id, err := am.AddRole(ctx, "no-snapshots", []string{"VirtualMachine.Interact.AnswerQuestion", "VirtualMachine.Interact.PowerOn", "VirtualMachine.Interact.PowerOff"})
	if err != nil {
		t.Fatal(err)
	}
	priv := simtest.VMOf(t, c, "PRIV").Reference()
	if err := am.SetEntityPermissions(ctx, priv, []types.Permission{{Entity: &priv, Principal: s.URL.User.Username(), RoleId: id}}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDoctorReportsWhatStandsInTheWayOfEachBackup: vmlua doctor finds, VM
// by VM, a clean VM fine (exit 0 when only it is checked), and reports
// with its reason a snapshot of the user, an independent disk of a running
// VM, missing snapshot privileges (blocks), a host only vCenter reaches,
// a host's clock ten minutes off (warnings: exit 0); the table says the
// same as --json.
func TestDoctorReportsWhatStandsInTheWayOfEachBackup(t *testing.T) {
	s := doctorSim(t)
	for _, tc := range []struct {
		vm     string
		code   int
		status vm.CheckupStatus
		check  string
		sev    vm.Severity
		says   []string
		path   string
	}{
		{"CLEAN", exitOK, vm.StatusOK, "data_path", vm.SevInfo, []string{"reachable at its own address"}, "direct"},
		{"SNAP", exitBlocked, vm.StatusBlocked, "snapshots", vm.SevBlock, []string{`"before-upgrade"`, "did not make"}, "direct"},
		{"INDEP", exitBlocked, vm.StatusBlocked, "disk", vm.SevBlock, []string{"scsi0:1", "independent-persistent", "partial set", "power_off=true"}, "direct"},
		{"PRIV", exitBlocked, vm.StatusBlocked, "privileges", vm.SevBlock, []string{"VirtualMachine.State.CreateSnapshot", "VirtualMachine.State.RemoveSnapshot", vm.BackupRoleName}, "direct"},
		{"FAR", exitOK, vm.StatusWarn, "data_path", vm.SevWarn, []string{"DC0_C0_H1", "cannot be reached directly", "through vCenter"}, "vcenter"},
		{"SKEW", exitOK, vm.StatusWarn, "clock", vm.SevWarn, []string{"10m0s ahead of"}, "direct"},
		{"IMPOSTOR", exitBlocked, vm.StatusBlocked, "data_path", vm.SevBlock, []string{"DC0_H0", "certificate", "host.config.certificate"}, ""},
		{"LOST", exitBlocked, vm.StatusBlocked, "disk", vm.SevBlock, []string{"scsi0:0 cannot be read", "LOST/LOST.vmdk"}, "direct"},
		{"ORPHAN", exitOK, vm.StatusWarn, "snapshots", vm.SevWarn, []string{`"vmlua-redo-deadbeef-1"`, "vmlua cleanup"}, "direct"},
		{"NOCBT", exitOK, vm.StatusWarn, "cbt", vm.SevWarn, []string{"changed block tracking is off", "the first backup turns it on"}, "direct"},
		{"VSAN", exitOK, vm.StatusOK, "datastore", vm.SevInfo, []string{"vsanDatastore", "NFC export lease"}, "direct"},
	} {
		t.Run(tc.vm, func(t *testing.T) {
			code, out, errs := runDoctor(t, s, "--json", "name:"+tc.vm)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out, errs)
			}
			var d doctorJSON
			if err := json.Unmarshal([]byte(out), &d); err != nil {
				t.Fatalf("--json printed no JSON document: %v\n%s", err, out)
			}
			if d.Exit != tc.code || d.Blocked != (tc.code == exitBlocked) {
				t.Errorf("the document says exit %d blocked %v, want %d", d.Exit, d.Blocked, tc.code)
			}
			ck := d.vm(t, tc.vm)
			if ck.Status != tc.status || ck.DataPath != tc.path {
				t.Errorf("status %s, data path %q; want %s, %q\n%+v", ck.Status, ck.DataPath, tc.status, tc.path, ck.Findings)
			}
			f := finding(ck, tc.check, tc.sev)
			if f == nil {
				t.Fatalf("no %s finding of %s: %+v", tc.sev, tc.check, ck.Findings)
			}
			for _, w := range tc.says {
				if !strings.Contains(f.Message, w) {
					t.Errorf("%s finding %q does not say %q", tc.check, f.Message, w)
				}
			}
			if tc.status == vm.StatusOK {
				for _, f := range ck.Findings {
					if f.Severity != vm.SevInfo {
						t.Errorf("a clean VM has the finding %+v", f)
					}
				}
			}
			// the table says the same
			code, table, errs := runDoctor(t, s, "name:"+tc.vm)
			if code != tc.code {
				t.Fatalf("without --json: exit %d, want %d\n%s%s", code, tc.code, table, errs)
			}
			if tc.sev != vm.SevInfo && !strings.Contains(table, f.Message) {
				t.Errorf("the table does not carry %q:\n%s", f.Message, table)
			}
			if !strings.Contains(table, string(tc.status)) {
				t.Errorf("the table does not say %s:\n%s", tc.status, table)
			}
		})
	}
	t.Run("the privileges missing name the role of the docs", func(t *testing.T) {
		_, table, _ := runDoctor(t, s, "name:PRIV")
		if !strings.Contains(table, "the role a backup needs ("+vm.BackupRoleName) || !strings.Contains(table, "Datastore.Browse") {
			t.Errorf("the table does not print the role's privileges:\n%s", table)
		}
	})
	t.Run("a privilege whose feature is in place already is listed, not warned about", func(t *testing.T) {
		_, out, _ := runDoctor(t, s, "--json", "name:PRIV")
		var d doctorJSON
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatal(err)
		}
		ck := d.vm(t, "PRIV")
		if !slices.Contains(ck.Missing, "VirtualMachine.Config.ChangeTracking") {
			t.Errorf("missing_privileges %v lacks VirtualMachine.Config.ChangeTracking", ck.Missing)
		}
		for _, f := range ck.Findings {
			if f.Check == "privileges" && strings.Contains(f.Message, "ChangeTracking") {
				t.Errorf("a finding about a privilege for changed block tracking, which is on: %+v", f)
			}
		}
	})
	t.Run("every VM at once: blocked, counted", func(t *testing.T) {
		code, out, errs := runDoctor(t, s, "--json")
		var d doctorJSON
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("%v\n%s%s", err, out, errs)
		}
		if code != exitBlocked || len(d.VMs) != 11 || d.Summary["ok"] != 2 || d.Summary["warn"] != 4 || d.Summary["blocked"] != 5 {
			t.Errorf("exit %d, %d VMs, summary %v; want 8, 11, 2 ok 4 warn 5 blocked", code, len(d.VMs), d.Summary)
		}
	})
	t.Run("an independent disk of a VM that is off is read", func(t *testing.T) {
		ctx := context.Background()
		c, err := s.Client(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Logout(ctx)
		task, err := simtest.VMOf(t, c, "INDEP").PowerOff(ctx)
		if err == nil {
			err = task.Wait(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if task, err := simtest.VMOf(t, c, "INDEP").PowerOn(ctx); err == nil {
				_ = task.Wait(ctx)
			}
		}()
		code, out, errs := runDoctor(t, s, "--json", "name:INDEP")
		var d doctorJSON
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("%v\n%s%s", err, out, errs)
		}
		ck := d.vm(t, "INDEP")
		if code != exitOK || ck.Status != vm.StatusOK || len(ck.Disks) != 2 || !ck.Disks[1].BackedUp {
			t.Errorf("exit %d, %+v: want 0, both disks backed up", code, ck)
		}
	})
	t.Run("a selection of no VM is exit 6", func(t *testing.T) {
		code, out, errs := runDoctor(t, s, "name:CLAEN")
		if code != exitNothingSelected || !strings.Contains(errs, "did you mean name:CLEAN") {
			t.Errorf("exit %d, want 6 with a suggestion\n%s%s", code, out, errs)
		}
	})
}

// TestDoctorComparesTheTargetsFreeSpaceWithTheDisks: with --to, doctor
// blocks when the target holds less than the disks a full backup reads
// (the independent disk of a running VM is not counted), and is content
// when it holds more.
func TestDoctorComparesTheTargetsFreeSpaceWithTheDisks(t *testing.T) {
	ctx := context.Background()
	s, err := vsim.Start(ctx, vsim.Options{Password: "sim-Pa55word", DiskSize: 1 << 20, Inventory: []vsim.VMSpec{
		{Name: "A", ChangeTracking: true, Disks: []vsim.DiskSpec{{Size: 1 << 20}, {Size: 2 << 20}}},
		{Name: "B", ChangeTracking: true, Disks: []vsim.DiskSpec{{Size: 1 << 20}, {Size: 4 << 20, Mode: "independent_persistent"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const need = 4 << 20 // A's two disks and B's first
	for _, tc := range []struct {
		name string
		free int64
		code int
		sev  vm.Severity
		says string
	}{
		{"a target too small blocks", need - 1, exitBlocked, vm.SevBlock, "less than the 4 MiB (4194304 bytes)"},
		{"a target large enough is fine", need, exitBlocked /* B's independent disk */, vm.SevInfo, "for at most 4 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.SetDatastoreSpace("LocalDS_1", 1<<40, tc.free); err != nil {
				t.Fatal(err)
			}
			code, out, errs := runDoctor(t, s, "--json", "--to", "vmfs://LocalDS_1/backups")
			var d doctorJSON
			if err := json.Unmarshal([]byte(out), &d); err != nil {
				t.Fatalf("%v\n%s%s", err, out, errs)
			}
			if code != tc.code || d.Target == nil || d.Target.Need != need || d.Target.Free == nil || *d.Target.Free != tc.free {
				t.Fatalf("exit %d, target %+v; want exit %d, need %d, free %d\n%s", code, d.Target, tc.code, need, tc.free, errs)
			}
			if f := targetFinding(d.Target, tc.sev); f == nil || !strings.Contains(f.Message, tc.says) {
				t.Errorf("target findings %+v, want a %s saying %q", d.Target.Findings, tc.sev, tc.says)
			}
			_, table, _ := runDoctor(t, s, "--to", "vmfs://LocalDS_1/backups")
			if !strings.Contains(table, tc.says) {
				t.Errorf("the table does not say %q:\n%s", tc.says, table)
			}
		})
	}
	t.Run("only A: enough room, nothing blocks", func(t *testing.T) {
		if err := s.SetDatastoreSpace("LocalDS_1", 1<<40, 3<<20); err != nil {
			t.Fatal(err)
		}
		if code, out, errs := runDoctor(t, s, "--to", "vmfs://LocalDS_1/backups", "name:A"); code != exitOK {
			t.Errorf("exit %d, want 0\n%s%s", code, out, errs)
		}
	})
	t.Run("a file target's folder that does not exist yet is measured above, not created", func(t *testing.T) {
		dir := t.TempDir()
		code, out, errs := runDoctor(t, s, "--json", "--to", "file://"+dir+"/nightly/vms", "name:A")
		var d doctorJSON
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("%v\n%s%s", err, out, errs)
		}
		if d.Target == nil || d.Target.Free == nil || *d.Target.Free <= 0 || d.Target.Need != 3<<20 {
			t.Errorf("exit %d, target %+v: want the free space of the temporary folder's file system and 3 MiB needed", code, d.Target)
		}
		if f := targetFinding(d.Target, vm.SevInfo); f == nil || !strings.Contains(f.Message, "does not exist yet") || !strings.Contains(f.Message, dir) {
			t.Errorf("target findings %+v, want one saying the folder does not exist yet, measured at %s", d.Target.Findings, dir)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("doctor created %v in the target", entries)
		}
	})
	t.Run("a target that cannot be opened blocks", func(t *testing.T) {
		code, out, errs := runDoctor(t, s, "--json", "--to", "vmfs://NoSuchDS/backups", "name:A")
		var d doctorJSON
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("%v\n%s%s", err, out, errs)
		}
		if f := targetFinding(d.Target, vm.SevBlock); code != exitBlocked || f == nil || !strings.Contains(f.Message, "NoSuchDS") {
			t.Errorf("exit %d, target %+v: want 8 and a block naming the datastore", code, d.Target)
		}
	})
}

func targetFinding(t *doctorTarget, sev vm.Severity) *vm.Finding {
	if t == nil {
		return nil
	}
	for i, f := range t.Findings {
		if f.Severity == sev {
			return &t.Findings[i]
		}
	}
	return nil
}

// TestDoctorChangesNothing: a doctor of every VM, with a target, calls
// only methods that read (no task, no snapshot, no reconfiguration, no
// file operation), and leaves the VMs' snapshots, change tracking and
// the simulator's tasks as they were.
func TestDoctorChangesNothing(t *testing.T) {
	s := doctorSim(t)
	readOnly := map[string]bool{
		"RetrieveProperties": true, "RetrievePropertiesEx": true, "ContinueRetrievePropertiesEx": true,
		"CreateContainerView": true, "DestroyView": true, "CreateFilter": true, "DestroyPropertyFilter": true, "WaitForUpdatesEx": true,
		"HasPrivilegeOnEntities": true, "QueryDateTime": true, "CurrentTime": true, "FindByInventoryPath": true, "FindChild": true,
		"Logout": true, "SessionIsActive": true, "RetrieveServiceContent": true,
	}
	state := func() string {
		var b strings.Builder
		ctx := context.Background()
		c, err := s.Client(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Logout(ctx)
		for _, name := range []string{"CLEAN", "SNAP", "INDEP", "FAR", "SKEW", "PRIV", "IMPOSTOR", "LOST", "ORPHAN", "NOCBT"} {
			var m mo.VirtualMachine
			if err := simtest.VMOf(t, c, name).Properties(ctx, simtest.VMOf(t, c, name).Reference(), []string{"snapshot", "config.changeTrackingEnabled", "runtime.powerState", "layoutEx.file"}, &m); err != nil {
				t.Fatal(err)
			}
			j, _ := json.Marshal(m)
			b.Write(j)
		}
		var tm mo.TaskManager
		if err := c.PropertyCollector().RetrieveOne(ctx, *c.ServiceContent.TaskManager, []string{"recentTask"}, &tm); err != nil {
			t.Fatal(err)
		}
		j, _ := json.Marshal(tm.RecentTask)
		b.Write(j)
		return b.String()
	}
	before, calls := state(), s.Calls()
	code, out, errs := runDoctor(t, s, "--to", "vmfs://LocalDS_1/backups")
	if code != exitBlocked {
		t.Fatalf("exit %d, want 8 (SNAP, INDEP, PRIV, IMPOSTOR and LOST block)\n%s%s", code, out, errs)
	}
	made := 0
	for m, n := range s.Calls() {
		if n == calls[m] {
			continue
		}
		made += n - calls[m]
		if !readOnly[m] {
			t.Errorf("doctor called %s (%d times), which is not a read", m, n-calls[m])
		}
	}
	if made == 0 {
		t.Fatal("the simulator counted no call of doctor: the test would prove nothing")
	}
	if after := state(); after != before {
		t.Errorf("doctor changed the VMs or made tasks:\nbefore %s\nafter  %s", before, after)
	}
}

// TestRealVSphereDocListsTheRoleDoctorChecks: docs/real-vsphere.md's
// vmlua-backup role (its table and its govc role.create command) holds
// exactly the privileges vmlua doctor checks, so that the role a site
// creates from the docs is the one doctor finds complete.
func TestRealVSphereDocListsTheRoleDoctorChecks(t *testing.T) {
	b, err := os.ReadFile("../../docs/real-vsphere.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	_, rest, ok := strings.Cut(doc, "govc role.create "+vm.BackupRoleName)
	if !ok {
		t.Fatalf("the doc has no govc role.create %s", vm.BackupRoleName)
	}
	create, _, _ := strings.Cut(rest, "govc permissions.set")
	create = strings.ReplaceAll(create, "\\\n", " ")
	got := strings.Fields(create)
	var want []string
	for _, p := range vm.BackupPrivileges {
		want = append(want, p.ID)
		if !strings.Contains(doc, "| `"+p.ID+"` |") {
			t.Errorf("the role's table has no row for %s", p.ID)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("govc role.create %s gives\n%v\nwant (vm.BackupPrivileges)\n%v", vm.BackupRoleName, got, want)
	}
}

// TestDoctorOnAnESXiHost: with a session on an ESXi host itself, the
// disks are read from the endpoint ("esxi"), and the other checks hold.
func TestDoctorOnAnESXiHost(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{Model: "esx", Password: "sim-Pa55word", DiskSize: 1 << 20, Inventory: []vsim.VMSpec{{Name: "ONE", ChangeTracking: true}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	code, out, errs := runDoctor(t, s, "--json")
	var d doctorJSON
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("%v\n%s%s", err, out, errs)
	}
	ck := d.vm(t, "ONE")
	if code != exitOK || ck.Status != vm.StatusOK || ck.DataPath != "esxi" || ck.ClockSkew == nil {
		t.Errorf("exit %d, %+v: want 0, ok, data path esxi, the clock read", code, ck)
	}
}

// TestDoctorSaysWhenTheProfileChoseVCenter: a profile with
// through_vcenter = true reads every disk through vCenter by choice:
// doctor says so as information, not as a host it cannot reach.
func TestDoctorSaysWhenTheProfileChoseVCenter(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{Password: "sim-Pa55word", DiskSize: 1 << 20, Inventory: []vsim.VMSpec{{Name: "ONE", ChangeTracking: true}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u := *s.URL
	u.User = nil
	cfg := filepath.Join(t.TempDir(), "vmlua.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[vsphere.sim]\nurl = %q\nusername = %q\npassword = \"sim-Pa55word\"\ninsecure = true\nthrough_vcenter = true\n", u.String(), s.URL.User.Username())), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := dispatch([]string{"doctor", "--config", cfg, "--json"}, &out, &errb)
	var d doctorJSON
	if err := json.Unmarshal(out.Bytes(), &d); err != nil {
		t.Fatalf("%v\n%s%s", err, out.String(), errb.String())
	}
	ck := d.vm(t, "ONE")
	f := finding(ck, "data_path", vm.SevInfo)
	if code != exitOK || ck.Status != vm.StatusOK || ck.DataPath != "vcenter" || f == nil || !strings.Contains(f.Message, "through_vcenter = true") {
		t.Errorf("exit %d, %+v: want 0, ok, data path vcenter said to be the profile's choice", code, ck)
	}
}

// TestRealVSphereCommandsArePasteable checks the vmlua commands of
// docs/real-vsphere.md against vmlua's real commands and flags.
func TestRealVSphereCommandsArePasteable(t *testing.T) {
	if n := checkDocCommands(t, "docs/real-vsphere.md", "vmlua"); n < 4 {
		t.Errorf("found %d vmlua commands in docs/real-vsphere.md; the examples are not where this test looks", n)
	}
}
