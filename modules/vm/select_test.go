package vm_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
)

// organised is an inventory as admins organise one: folders, pools, the
// cluster's hosts and the standalone host, datastores and tags.
var organised = []vsim.VMSpec{
	{Name: "DB01", Folder: "prod/db", Pool: "prod", Host: "DC0_C0_H0", Tags: []string{"Backup:gold", "Env:prod"},
		Disks: []vsim.DiskSpec{{}, {Datastore: "LocalDS_1"}}},
	{Name: "WEB01", Folder: "prod/web", Pool: "prod", Host: "DC0_C0_H1", Tags: []string{"Backup:silver", "Env:prod"}},
	{Name: "WEB02", Folder: "prod/web", Host: "DC0_C0_H2", PoweredOff: true, Tags: []string{"Backup:silver"}},
	{Name: "LAB01", Folder: "lab", Pool: "lab", Host: "DC0_H0", Tags: []string{"Env:test"}, Disks: []vsim.DiskSpec{{Datastore: "LocalDS_1"}}},
	{Name: "PLAIN", Host: "DC0_C0_H0"},
}

// findNames runs vm.find(spec) in Lua and returns the names it found, or
// the error's code and message.
func findNames(t *testing.T, e *simtest.Env, spec string) (string, error) {
	t.Helper()
	err, recs := e.Run(t, `local out = {}
for _, v in ipairs(require("vm").find(arg.spec)) do out[#out + 1] = v.name end
print(table.concat(out, ","))`, simtest.RunOptions{Args: []string{"spec=" + spec}})
	if err != nil {
		return "", err
	}
	p := recs.Printed()
	if len(p) != 1 {
		t.Fatalf("printed %q", p)
	}
	return p[0], nil
}

// TestSpecifiersSelectAsAdminsOrganiseVMs: each specifier on where a VM
// sits, alone and combined with the others (AND with spaces, OR with
// commas), through vm.find on the simulator.
func TestSpecifiersSelectAsAdminsOrganiseVMs(t *testing.T) {
	e := simtest.Start(t, vsim.Options{DiskSize: 256 << 10, WriteRate: 0.001, Inventory: organised})
	cases := []struct{ name, spec, want string }{
		{"folder: takes an inventory path and is recursive", "folder:/DC0/vm/prod", "DB01,WEB01,WEB02"},
		{"folder: takes a path below the datacenter's VM folder", "folder:prod/web", "WEB01,WEB02"},
		{"folder: of the datacenter's VM folder is every VM", "folder:/DC0/vm", "DB01,LAB01,PLAIN,WEB01,WEB02"},
		{"folder: takes globs", "folder:/DC0/vm/*/web", "WEB01,WEB02"},
		{"cluster: is the VMs on the cluster's hosts", "cluster:DC0_C0", "DB01,PLAIN,WEB01,WEB02"},
		{"host: is the VMs registered on the host", "host:DC0_H0", "LAB01"},
		{"host: takes globs", "host:DC0_C0_H[01]", "DB01,PLAIN,WEB01"},
		{"pool: is recursive below the root pool", "pool:prod", "DB01,WEB01"},
		{"pool: takes an inventory path", "pool:/DC0/host/DC0_H0/Resources", "LAB01"},
		{"datastore: is the VMs with a file there", "datastore:LocalDS_1", "DB01,LAB01"},
		{"tag: takes a tag name of any category", "tag:gold", "DB01"},
		{"tag: takes CATEGORY:NAME", "tag:Backup:silver", "WEB01,WEB02"},
		{"tag: takes globs", "tag:Env:*", "DB01,LAB01,WEB01"},
		{"values separated by commas are alternatives", "name:DB01,LAB01", "DB01,LAB01"},
		{"tag values with categories are alternatives", "tag:Backup:gold,Env:test", "DB01,LAB01"},
		{"terms separated by spaces must all match", "folder:prod powerstate:on", "DB01,WEB01"},
		{"three terms", "cluster:DC0_C0 tag:Env:prod datastore:LocalDS_1", "DB01"},
		{"a comma before a term starts an alternative", "folder:prod/web powerstate:on, host:DC0_H0", "LAB01,WEB01"},
		{"a glob on names with a power state", "name:WEB* powerstate:off", "WEB02"},
		{"a term that matches nothing empties its alternative only", "tag:Env:prod name:nosuch, tag:gold", "DB01"},
		{"none: selects nothing", "none:", ""},
		{"an empty folder selects nothing", "folder:/DC0/vm/prod/db name:WEB*", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := findNames(t, e, tc.spec)
			if err != nil {
				t.Fatalf("vm.find(%q): %v", tc.spec, err)
			}
			if got != tc.want {
				t.Errorf("vm.find(%q) = %s, want %s", tc.spec, got, tc.want)
			}
		})
	}
}

// TestABadSpecifierSaysWhatIsValid: a kind, folder, cluster, host, pool,
// datastore or tag that does not exist is an invalid_argument error that
// names what exists and the nearest ("did you mean").
func TestABadSpecifierSaysWhatIsValid(t *testing.T) {
	e := simtest.Start(t, vsim.Options{DiskSize: 256 << 10, WriteRate: 0.001, Inventory: organised})
	cases := []struct {
		spec string
		want []string
	}{
		{"fodler:/DC0/vm/prod", []string{`unknown kind "fodler" — did you mean folder:?`, "want name:, uuid:"}},
		{"folder:prdo", []string{`no VM folder matches "prdo" — did you mean prod?`, "VM folders: "}},
		{"folder:/DC0/vm/prdo/web", []string{`no VM folder matches "/DC0/vm/prdo/web" — did you mean /DC0/vm/prod/web?`}},
		{"cluster:DC0_C9", []string{`no cluster matches "DC0_C9" — did you mean DC0_C0?`, "(clusters: DC0_C0)"}},
		{"host:DC0_H9", []string{`no host matches "DC0_H9" — did you mean DC0_H0?`}},
		{"pool:prdo", []string{`no resource pool matches "prdo" — did you mean prod?`, "lab"}},
		{"datastore:LocalDS_9", []string{`no datastore matches "LocalDS_9" — did you mean LocalDS_0?`}},
		{"tag:Backup:bronze", []string{`no tag matches "Backup:bronze"`, "tags: Backup:gold, Backup:silver, Env:prod, Env:test"}},
		{"powerstate:of", []string{"powerstate: takes on, off or suspended — did you mean off?"}},
		{"name:Backup Server: Primary", []string{`unknown kind "server"`, `if "Server: Primary" belongs to the value before it, put the value in double quotes: name:"Backup Server: Primary"`}},
		{`name:"x`, []string{"a double quote is not closed"}},
		{"folder:", []string{"folder: needs a value (folder:PATH)"}},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			_, err := findNames(t, e, tc.spec)
			if simtest.Code(err) != runtime.CodeInvalidArg {
				t.Fatalf("vm.find(%q): %v, want invalid_argument", tc.spec, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("vm.find(%q): %v\nwant it to say %q", tc.spec, err, w)
				}
			}
		})
	}
}

// TestQuotesKeepAValueTogether: a name with " word:" in it is selected
// once quoted.
func TestQuotesKeepAValueTogether(t *testing.T) {
	e := simtest.Start(t, vsim.Options{DiskSize: 256 << 10, WriteRate: 0.001, Inventory: []vsim.VMSpec{{Name: "Backup Server: Primary"}, {Name: "a,b"}, {Name: "My VM"}}})
	for spec, want := range map[string]string{
		`name:"Backup Server: Primary"`: "Backup Server: Primary",
		`name:"a,b"`:                    "a,b",
		`name:My VM`:                    "My VM",
		`name:My VM powerstate:on`:      "My VM",
	} {
		got, err := findNames(t, e, spec)
		if err != nil || got != want {
			t.Errorf("vm.find(%q) = %q, %v; want %q", spec, got, err, want)
		}
	}
}

// TestFleetRunsSelectByTheNewSpecifiers: --each plans with the same look-up
// (FleetItems), so folder:, tag: and the others select its VMs too.
func TestFleetRunsSelectByTheNewSpecifiers(t *testing.T) {
	e := simtest.Start(t, vsim.Options{DiskSize: 256 << 10, WriteRate: 0.001, Inventory: organised})
	r, err := runtime.New(runtime.Options{Logger: slog.New(slog.DiscardHandler), Modules: all.Modules(),
		Endpoints: map[string]runtime.Endpoint{"sim": e.Endpoint}, DefaultEndpoint: "sim"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, err := vm.Connect(r, "")
	if err != nil {
		t.Fatal(err)
	}
	for spec, want := range map[string]string{
		"tag:Backup:silver":                               "WEB01,WEB02",
		"folder:prod powerstate:on":                       "DB01,WEB01",
		"cluster:DC0_C0 datastore:LocalDS_1, host:DC0_H0": "DB01,LAB01",
	} {
		sp, err := vm.ParseSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		items, err := c.FleetItems(context.Background(), sp)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		var names []string
		for _, it := range items {
			names = append(names, it.Name)
		}
		if strings.Join(names, ",") != want {
			t.Errorf("--each %s plans %v, want %s", spec, names, want)
		}
	}
}

// TestTagsNeedVCenter: on ESXi (no vAPI) tag: says that tags need vCenter.
func TestTagsNeedVCenter(t *testing.T) {
	e := simtest.Start(t, vsim.Options{Model: "esx", DiskSize: 256 << 10, WriteRate: 0.001})
	_, err := findNames(t, e, "tag:gold")
	if err == nil || !strings.Contains(err.Error(), "ESXi has no tags") || strings.Contains(err.Error(), simtest.Password) {
		t.Fatalf("tag: on ESXi: %v", err)
	}
	got, err := findNames(t, e, "host:* powerstate:on")
	if err != nil || got == "" {
		t.Errorf("host:* on ESXi = %q, %v", got, err)
	}
}

// TestQuestionsSelectByTheNewSpecifiers: question.pending resolves the
// terms on where VMs sit like vm.find (a question on WEB01 is found by
// folder:prod/web, not by folder:lab; a folder that does not exist is an
// error, not silence).
func TestQuestionsSelectByTheNewSpecifiers(t *testing.T) {
	e := simtest.Start(t, vsim.Options{DiskSize: 256 << 10, WriteRate: 0.001, Inventory: organised})
	if _, err := e.Sim.Ask("WEB01", "Continue?", "OK"); err != nil {
		t.Fatal(err)
	}
	pending := func(spec string) (string, error) {
		err, recs := e.Run(t, `local out = {}
for _, p in ipairs(require("question").pending{vms = arg.spec}) do out[#out + 1] = p.vm.name end
print(table.concat(out, ","))`, simtest.RunOptions{Args: []string{"spec=" + spec}})
		if err != nil {
			return "", err
		}
		return strings.Join(recs.Printed(), "|"), nil
	}
	for spec, want := range map[string]string{"folder:prod/web": "WEB01", "folder:lab": "", "tag:Backup:silver powerstate:on": "WEB01"} {
		if got, err := pending(spec); err != nil || got != want {
			t.Errorf("question.pending{vms=%q} = %q, %v; want %q", spec, got, err, want)
		}
	}
	if _, err := pending("folder:prdo"); simtest.Code(err) != runtime.CodeInvalidArg {
		t.Errorf("question.pending{vms=\"folder:prdo\"}: %v, want invalid_argument", err)
	}
}

// TestFoldersAndPoolsListWhatSpecifiersSelect: vm.folders and vm.pools
// (vcbUtil -c vmfolders / resourcepools) list every VM folder and pool by
// the path folder: and pool: take, with the VMs each selects.
func TestFoldersAndPoolsListWhatSpecifiersSelect(t *testing.T) {
	e := simtest.Start(t, vsim.Options{DiskSize: 256 << 10, WriteRate: 0.001, Inventory: organised})
	err, recs := e.Run(t, `local vm = require "vm"
for _, f in ipairs(vm.folders()) do print("folder", f.path, f.name, f.datacenter, f.vms, #vm.find("folder:" .. f.path)) end
for _, p in ipairs(vm.pools()) do print("pool", p.path, p.name, p.owner, p.vms, #vm.find("pool:" .. p.path)) end`, simtest.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"folder\t/DC0/vm\tvm\tDC0\t5\t5",
		"folder\t/DC0/vm/lab\tlab\tDC0\t1\t1",
		"folder\t/DC0/vm/prod\tprod\tDC0\t3\t3",
		"folder\t/DC0/vm/prod/db\tdb\tDC0\t1\t1",
		"folder\t/DC0/vm/prod/web\tweb\tDC0\t2\t2",
		"pool\t/DC0/host/DC0_C0/Resources\tResources\tDC0_C0\t4\t4",
		"pool\t/DC0/host/DC0_C0/Resources/prod\tprod\tDC0_C0\t2\t2",
		"pool\t/DC0/host/DC0_H0/Resources\tResources\tDC0_H0\t1\t1",
		"pool\t/DC0/host/DC0_H0/Resources/lab\tlab\tDC0_H0\t1\t1",
	}
	if got := recs.Printed(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
