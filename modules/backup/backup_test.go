package backup_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"

	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/modules/backup"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/vm"
)

// readCatalog reads the catalog of the only set of vmName under dir.
func readCatalog(t *testing.T, dir, vmName string) (*catalog.Catalog, string) {
	t.Helper()
	sets, _ := filepath.Glob(filepath.Join(dir, vmName, "*", catalog.FileName))
	if len(sets) != 1 {
		t.Fatalf("want one set of %s, found %v", vmName, sets)
	}
	b, err := os.ReadFile(sets[0])
	if err != nil {
		t.Fatal(err)
	}
	c, err := catalog.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return c, filepath.Dir(sets[0])
}

func TestBackupWritesACompleteSetThatVerifies(t *testing.T) {
	e := simtest.Start(t, vsim.Options{WriteRate: 200})
	err, recs := e.Run(t, `
		local vm, backup = require "vm", require "backup"
		local v = vm.open("name:DB01")
		local set = v:backup{ to = arg.dest }
		assert(set.complete, "set not complete")
		assert(#set.disks == 2, "disks: " .. #set.disks)
		assert(#set.skipped == 1 and set.skipped[1].id == "scsi0:2", "the independent disk is not skipped")
		local res = backup.verify{ at = arg.dest, set = set.id }
		assert(res.ok, "verify failed")
		local l = backup.list{ at = arg.dest }
		assert(#l == 1 and l[1].complete and l[1].id == set.id, "list")
		assert(#v:snapshots() == 0, "a snapshot is left")
	`, simtest.RunOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	if len(recs.Find("backup: disk skipped")) != 1 {
		t.Errorf("no warning for the independent disk:\n%s", recs)
	} else if r := recs.Find("backup: disk skipped")[0]; !strings.Contains(r["reason"].(string), "independent") {
		t.Errorf("the warning does not say why: %v", r)
	}
	c, dir := readCatalog(t, e.Dir, "DB01")
	kinds := map[string]int{}
	for _, f := range c.Files {
		kinds[f.Kind]++
	}
	if kinds["config"] != 1 || kinds["disk"] != 2 || kinds["descriptor"] != 2 {
		t.Errorf("files by kind: %v", kinds)
	}
	if c.VM.UUID == "" || c.VM.Moref == "" || c.VM.Folder == "" || c.VM.ResourcePool == "" || len(c.VM.NICs) == 0 || c.VM.CPUs == 0 {
		t.Errorf("the catalog lacks VM facts: %+v", c.VM)
	}
	if _, err := os.Stat(filepath.Join(dir, catalog.ProgressName)); err == nil {
		t.Error("progress.json is left in a complete set")
	}
	if p := simtest.Partials(e.Dir); len(p) > 0 {
		t.Errorf("partial files left: %v", p)
	}
	if _, err := os.Stat(filepath.Join(e.Dir, "DB01", ".vmlua-lock")); err == nil {
		t.Error("the lock file is left")
	}
}

func TestEveryFunctionIsDocumented(t *testing.T) {
	if err := backup.Module.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, m := range all.Modules() {
		for _, ty := range m.Types {
			if _, ok := ty.Method("backup"); ok && ty.Name == vm.VMType.Name {
				return
			}
		}
	}
	t.Fatal("VM objects have no backup method")
}
