package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
)

// verbSite is a simulator whose guests do not write (a restored disk must
// equal the original) and a file:// target holding four sets of VM1 (a
// full; a full that enables changed block tracking, and two incrementals
// on it) and three full sets of VM2.
type verbSite struct {
	*simtest.Env
	target string
	vm1    []string // set ids, oldest first
	vm2    []string
}

func newVerbSite(t *testing.T) *verbSite {
	t.Helper()
	e := simtest.Start(t, vsim.Options{VMs: 2, DiskSize: 4 << 20, WriteRate: -1})
	s := &verbSite{Env: e, target: "file://" + e.Dir}
	backup := func(vmName, mode string) string {
		err, recs := e.Run(t, `
			local set = require("vm").open("name:" .. arg.vm):backup{ to = arg.dest, mode = arg.mode }
			assert(set.complete)
			print(set.id)
		`, simtest.RunOptions{Args: []string{"vm=" + vmName, "mode=" + mode}})
		if err != nil {
			t.Fatalf("backup of %s: %v\n%s", vmName, err, recs)
		}
		return recs.Printed()[0]
	}
	for _, mode := range []string{"full", "incremental", "incremental", "incremental"} {
		s.vm1 = append(s.vm1, backup("VM1", mode))
	}
	for range 3 {
		s.vm2 = append(s.vm2, backup("VM2", "full"))
	}
	return s
}

// vmlua runs the binary against the site.
func (s *verbSite) vmlua(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runBin(t, append(args[:1:1], append([]string{"--url", s.Sim.URL.String(), "--insecure"}, args[1:]...)...)...)
}

// verbJSON parses a verb's --json output.
func verbJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("--json printed no JSON object: %v\n%s", err, out)
	}
	return m
}

func point(id string) string { return filepath.Base(id) }

// TestSetsListShowsPointsChainsSizesAndStatus: vmlua sets list prints
// every set with its chain and status, and --json the same as data; a VM
// without sets is exit 6.
func TestSetsListShowsPointsChainsSizesAndStatus(t *testing.T) {
	s := newVerbSite(t)
	if err := os.Remove(filepath.Join(s.Dir, filepath.FromSlash(s.vm2[0]), "catalog.json")); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runBin(t, "sets", "list", s.target)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"VM1  " + point(s.vm1[3]) + "  incremental  3 ", "VM1  " + point(s.vm1[1]) + "  full         1 ", "VM2  " + point(s.vm2[0]) + "  -            -", "incomplete\n", "7 set(s) of 2 VM(s)", " MiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("the listing lacks %q:\n%s", want, out)
		}
	}
	out, _, code = runBin(t, "sets", "list", "--json", s.target, "VM1")
	m := verbJSON(t, out)
	rows, _ := m["sets"].([]any)
	if code != exitOK || m["exit"] != 0.0 || len(rows) != 4 {
		t.Fatalf("exit %d, %d rows:\n%s", code, len(rows), out)
	}
	last := rows[3].(map[string]any)
	chain, _ := last["chain"].([]any)
	if last["id"] != s.vm1[3] || last["status"] != "ok" || last["mode"] != "incremental" || len(chain) != 3 || chain[0] != s.vm1[1] || last["size"].(float64) <= 0 {
		t.Errorf("the newest set of VM1 is listed as %v", last)
	}
	_, errOut, code = runBin(t, "sets", "list", s.target, "VM9")
	if code != exitNothingSelected || !strings.Contains(errOut, "no set of VM9") {
		t.Errorf("a VM without sets: exit %d, want 6:\n%s", code, errOut)
	}
	out, errOut, code = runBin(t, "sets", "list", "--json", "--credentials", "nas", s.target)
	if code != exitConfig || !strings.Contains(errOut, `credentials "nas" are not configured`) || verbJSON(t, out)["exit"] != 3.0 {
		t.Errorf("unknown credentials: exit %d, want 3:\n%s%s", code, out, errOut)
	}
	// Without its full, VM1's incrementals are broken.
	if err := os.RemoveAll(filepath.Join(s.Dir, filepath.FromSlash(s.vm1[1]))); err != nil {
		t.Fatal(err)
	}
	out, _, _ = runBin(t, "sets", "list", s.target, "VM1")
	if !strings.Contains(out, "broken: its parent "+s.vm1[1]+" is not on the target") {
		t.Errorf("a chain without its full is not shown broken:\n%s", out)
	}
}

// TestVerifyChecksSetsAndSaysWhatIsWrong: vmlua verify checks the newest
// set of every VM, one VM's, or a point; a damaged file is exit 1 with
// the problem named.
func TestVerifyChecksSetsAndSaysWhatIsWrong(t *testing.T) {
	s := newVerbSite(t)
	out, errOut, code := runBin(t, "verify", s.target)
	if code != exitOK || !strings.Contains(out, s.vm1[3]+": ok") || !strings.Contains(out, s.vm2[2]+": ok") || !strings.Contains(out, "a chain of 3 set(s)") {
		t.Fatalf("verify of the target: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = runBin(t, "verify", "--json", s.target, "VM2@"+point(s.vm2[0]))
	m := verbJSON(t, out)
	rows, _ := m["sets"].([]any)
	if code != exitOK || len(rows) != 1 || rows[0].(map[string]any)["id"] != s.vm2[0] || rows[0].(map[string]any)["ok"] != true {
		t.Fatalf("verify of a point: exit %d\n%s", code, out)
	}
	vmx := filepath.Join(s.Dir, filepath.FromSlash(s.vm2[2]), "VM2.vmx")
	if err := os.WriteFile(vmx, []byte("damaged\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runBin(t, "verify", s.target, "VM2")
	if code != exitFailure || !strings.Contains(out, "FAILED") || !strings.Contains(out, "VM2.vmx") || !strings.Contains(errOut, "1 of 1 set(s)") {
		t.Errorf("a damaged set: exit %d, want 1, and the file named:\n%s%s", code, out, errOut)
	}
	_, errOut, code = runBin(t, "verify", s.target, "VM2@20200101T000000Z")
	if code != exitNothingSelected {
		t.Errorf("a point that is not there: exit %d, want 6:\n%s", code, errOut)
	}
}

// TestPruneKeepsWhatThePolicySaysAndDryRunDeletesNothing: --dry-run
// removes nothing and says what it would; without it the sets go; a
// kept incremental keeps its chain; mistakes in the rules are exit 2.
func TestPruneKeepsWhatThePolicySaysAndDryRunDeletesNothing(t *testing.T) {
	s := newVerbSite(t)
	count := func(vmName string) int {
		ents, _ := os.ReadDir(filepath.Join(s.Dir, vmName))
		return len(ents)
	}
	out, errOut, code := runBin(t, "prune", "--dry-run", s.target, "--keep", "1")
	if code != exitOK || count("VM1") != 4 || count("VM2") != 3 || !strings.Contains(out, "would remove (dry run)") || !strings.Contains(out, "dry run: nothing was removed") || !strings.Contains(out, s.vm2[0]) {
		t.Fatalf("--dry-run: exit %d, VM1 %d sets, VM2 %d sets (want 4 and 3)\n%s%s", code, count("VM1"), count("VM2"), out, errOut)
	}
	out, _, code = runBin(t, "prune", "--json", "--keep", "1", s.target)
	m := verbJSON(t, out)
	if code != exitOK || count("VM1") != 3 || count("VM2") != 1 || m["dry_run"] != false {
		t.Fatalf("prune: exit %d, VM1 %d sets (want 3: the newest's chain stays), VM2 %d (want 1)\n%s", code, count("VM1"), count("VM2"), out)
	}
	vms, _ := m["vms"].([]any)
	removedVM2 := 0
	for _, v := range vms {
		if vm := v.(map[string]any); vm["vm"] == "VM2" {
			removedVM2 = len(vm["removed"].([]any))
		}
	}
	if removedVM2 != 2 {
		t.Errorf("the JSON lists %d removed sets of VM2, want 2:\n%s", removedVM2, out)
	}
	for _, tc := range []struct {
		args []string
		exit int
		want string
	}{
		{[]string{"prune", s.target}, exitUsage, "give --keep N or --gfs"},
		{[]string{"prune", "--gfs", "daily=7,weakly=4", s.target}, exitUsage, `unknown rule "weakly" (did you mean weekly?)`},
		{[]string{"prune", "--keep", "2", s.target, "VM9"}, exitNothingSelected, "no set of VM9"},
	} {
		_, errOut, code := runBin(t, tc.args...)
		if code != tc.exit || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d (want %d), stderr lacks %q:\n%s", tc.args, code, tc.exit, tc.want, errOut)
		}
	}
}

// TestRestoreVerbIsByteExactAndSpeaksFlags: vmlua restore puts a VM back
// from its newest set or a point of an incremental chain, disk for disk
// as it was; a name in use is a conflict whose hint is in flag syntax.
func TestRestoreVerbIsByteExactAndSpeaksFlags(t *testing.T) {
	s := newVerbSite(t)
	orig := s.DiskSHA(t, "[LocalDS_0] VM1/VM1.vmdk")
	for _, tc := range []struct{ arg, name string }{{"VM1", "VM1-latest"}, {"VM1@" + point(s.vm1[2]), "VM1-middle"}} {
		out, errOut, code := s.vmlua(t, "restore", "--json", s.target, tc.arg, "--name", tc.name, "--datastore", "LocalDS_1")
		if code != exitOK {
			t.Fatalf("restore %s: exit %d\n%s%s", tc.arg, code, out, errOut)
		}
		m := verbJSON(t, out)
		if m["vm"] != tc.name || m["vmx"] != "[LocalDS_1] "+tc.name+"/"+tc.name+".vmx" || m["status"] != "ok" {
			t.Errorf("restore %s reported %v", tc.arg, m)
		}
		if got := s.DiskSHA(t, "[LocalDS_1] "+tc.name+"/VM1.vmdk"); got != orig {
			t.Errorf("the disk of %s differs from VM1's", tc.name)
		}
	}
	_, errOut, code := s.vmlua(t, "restore", s.target, "VM1", "--name", "VM1-latest", "--datastore", "LocalDS_1")
	if code != exitFailure || !strings.Contains(errOut, "--on-conflict overwrite") || !strings.Contains(errOut, "--name another name") || strings.Contains(errOut, "on_conflict=") {
		t.Errorf("a name in use: exit %d, want 1 and a hint in flag syntax:\n%s", code, errOut)
	}
	_, errOut, code = s.vmlua(t, "restore", s.target, "VM9")
	if code != exitNothingSelected {
		t.Errorf("a VM without sets: exit %d, want 6:\n%s", code, errOut)
	}
}

// TestHostMaintenanceEntersAndExits: vmlua host maintenance enter and
// exit change the host's state and wait; --dry-run and a host of no such
// name change nothing.
func TestHostMaintenanceEntersAndExits(t *testing.T) {
	s := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 1 << 20, WriteRate: -1})
	hosts := s.Sim.Hosts()
	if len(hosts) == 0 {
		t.Fatal("the simulator has no host")
	}
	name := hosts[0]
	inMaint := func() bool {
		ctx := context.Background()
		v, err := view.NewManager(s.Client.Client).CreateContainerView(ctx, s.Client.ServiceContent.RootFolder, []string{"HostSystem"}, true)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Destroy(ctx)
		var hs []mo.HostSystem
		if err := v.Retrieve(ctx, []string{"HostSystem"}, []string{"name", "runtime.inMaintenanceMode"}, &hs); err != nil {
			t.Fatal(err)
		}
		for _, h := range hs {
			if h.Name == name {
				return h.Runtime.InMaintenanceMode
			}
		}
		t.Fatalf("no host %s", name)
		return false
	}
	run := func(args ...string) (string, string, int) {
		return runBin(t, append([]string{"host", "maintenance", args[0], "--url", s.Sim.URL.String(), "--insecure"}, args[1:]...)...)
	}
	if _, errOut, code := run("enter", "--dry-run", name); code != exitOK || inMaint() {
		t.Fatalf("--dry-run: exit %d, in maintenance %v\n%s", code, inMaint(), errOut)
	}
	out, errOut, code := run("enter", "--json", name)
	if code != exitOK || !inMaint() || verbJSON(t, out)["maintenance"] != true {
		t.Fatalf("enter: exit %d, in maintenance %v\n%s%s", code, inMaint(), out, errOut)
	}
	out, errOut, code = run("exit", name)
	if code != exitOK || inMaint() || !strings.Contains(out, "out of maintenance mode") {
		t.Fatalf("exit: exit %d, in maintenance %v\n%s%s", code, inMaint(), out, errOut)
	}
	if _, errOut, code := run("enter", "no-such-host"); code != exitNothingSelected {
		t.Errorf("an unknown host: exit %d, want 6\n%s", code, errOut)
	}
}
