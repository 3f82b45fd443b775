package backup_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"

	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
)

func TestVerifyNamesTheFileThatWasDamaged(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 4 << 20})
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, p string)
		want   string
	}{
		{"an altered byte", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			b := make([]byte, 1)
			f.ReadAt(b, 1000)
			b[0] ^= 0xff
			f.WriteAt(b, 1000)
		}, "altered: span 0 %(bytes 0 to "},
		{"a truncated file", func(t *testing.T, p string) {
			fi, _ := os.Stat(p)
			os.Truncate(p, fi.Size()/2)
		}, "size"},
		{"a removed file", func(t *testing.T, p string) { os.Remove(p) }, "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := backupOnce(t, e, "VM1")
			b, _ := os.ReadFile(filepath.Join(e.Dir, id, catalog.FileName))
			cat, _ := catalog.Parse(b)
			disk := cat.Disks[0].File
			tc.damage(t, filepath.Join(e.Dir, id, disk))
			err, recs := e.Run(t, fmt.Sprintf(`
				local backup = require "backup"
				local res = backup.verify{ at = arg.dest, set = %q }
				assert(not res.ok, "verify passed")
				assert(#res.problems == 1, #res.problems .. " problems")
				assert(res.problems[1].file == %q, "named " .. res.problems[1].file)
				assert(res.problems[1].problem:find(%q), res.problems[1].problem)
			`, id, disk, tc.want), simtest.RunOptions{})
			if err != nil {
				t.Fatalf("%v\n%s", err, recs)
			}
		})
	}
}

// readCatalogAt returns the catalog of set id under dir.
func readCatalogAt(t *testing.T, dir, id string) *catalog.Catalog {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, id, catalog.FileName))
	if err != nil {
		t.Fatal(err)
	}
	c, err := catalog.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestASetCutOffMidWriteIsIncompleteAndNotRestoredWithoutForce(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 4 << 20})
	id := backupOnce(t, e, "VM1")
	// a crash before the catalog: the progress catalog is all there is
	dir := filepath.Join(e.Dir, id)
	b, _ := os.ReadFile(filepath.Join(dir, catalog.FileName))
	os.WriteFile(filepath.Join(dir, catalog.ProgressName), []byte(strings.Replace(string(b), `"complete": true`, `"complete": false`, 1)), 0o644)
	os.Remove(filepath.Join(dir, catalog.FileName))
	err, recs := e.Run(t, fmt.Sprintf(`
		local backup = require "backup"
		local l = backup.list{ at = arg.dest, vm = "VM1" }
		assert(#l == 1 and l[1].complete == false, "not listed as incomplete")
		local ok, err = pcall(backup.restore, { from = arg.dest, set = %q, name = "VM1-r" })
		assert(not ok and err.code == "conflict", "restored without force: " .. tostring(err))
		assert(err.message:find("incomplete"), err.message)
		local res = backup.verify{ at = arg.dest, set = %q }
		assert(not res.ok and res.problems[1].file == "catalog.json", "verify passed an incomplete set")
		local v = backup.restore{ from = arg.dest, set = %q, name = "VM1-r", force = true }
		assert(v.name == "VM1-r")
	`, id, id, id), simtest.RunOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
}

func TestRestoreConflicts(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 2, DiskSize: 4 << 20, Inventory: []vsim.VMSpec{{Name: "VM1", PoweredOff: true}, {Name: "VM2"}}})
	id1 := backupOnce(t, e, "VM1")
	id2 := backupOnce(t, e, "VM2")
	for _, tc := range []struct {
		name   string
		script string
	}{
		{"abort refuses to touch an existing VM, with a hint in Lua's syntax", `
			local ok, err = pcall(backup.restore, { from = arg.dest, set = arg.set1 })
			assert(not ok and err.code == "conflict", tostring(err))
			assert(err.message:find('name= another name, or on_conflict="overwrite"', 1, true), err.message)`},
		{"keep returns the existing VM untouched", `
			local before = vm.open("name:VM1").moref
			local v = backup.restore{ from = arg.dest, set = arg.set1, on_conflict = "keep" }
			assert(v.moref == before, "not the existing VM")`},
		{"overwrite replaces a powered-off VM", `
			local before = vm.open("name:VM1").moref
			local v = backup.restore{ from = arg.dest, set = arg.set1, on_conflict = "overwrite" }
			assert(v.moref ~= before, "the old VM is still there")
			assert(v.name == "VM1" and v.vmx == "[LocalDS_0] VM1/VM1.vmx", v.vmx)
			assert(#vm.find("name:VM1") == 1)`},
		{"overwrite refuses a running VM", `
			local ok, err = pcall(backup.restore, { from = arg.dest, set = arg.set2, on_conflict = "overwrite" })
			assert(not ok and err.code == "conflict" and err.message:find("running"), tostring(err))
			assert(vm.open("name:VM2").power == "on")`},
		{"an alternate catalog restores where it says", `
			local l = backup.list{ at = arg.dest, vm = "VM1" }
			local cat = backup.verify{ at = arg.dest, set = arg.set1 }
			assert(cat.ok)
			local t = require("transport").open(arg.dest)
			-- an edited copy of the catalog, as vcbRestore -a takes
			local alt = t:read(arg.set1 .. "/catalog.json"):gsub('"name": "VM1"', '"name": "VM1-alt"')
			t:write("alt.json", alt)
			local v = backup.restore{ from = arg.dest, set = arg.set1, catalog = "alt.json", datastore = "LocalDS_1" }
			assert(v.name == "VM1-alt" and v.vmx == "[LocalDS_1] VM1-alt/VM1-alt.vmx", v.vmx)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err, recs := e.Run(t, `local vm, backup = require "vm", require "backup"`+"\n"+tc.script, simtest.RunOptions{Args: []string{"set1=" + id1, "set2=" + id2}})
			if err != nil {
				t.Fatalf("%v\n%s", err, recs)
			}
		})
	}
}

func TestPruneKeepsWhatThePolicySays(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 1 << 20})
	var ids []string
	for range 3 {
		ids = append(ids, backupOnce(t, e, "VM1"))
	}
	err, recs := e.Run(t, `
		local backup = require "backup"
		local dry = backup.prune{ at = arg.dest, vm = "VM1", keep = 1, dry_run = true }
		assert(#dry.removed == 2, "dry run would remove " .. #dry.removed)
		assert(#backup.list{ at = arg.dest, vm = "VM1" } == 3, "dry run removed sets")
		local res = backup.prune{ at = arg.dest, vm = "VM1", keep = 2 }
		assert(#res.removed == 1 and #res.kept == 2)
		local l = backup.list{ at = arg.dest, vm = "VM1" }
		assert(#l == 2 and l[2].id == arg.newest, "the newest set is gone")
	`, simtest.RunOptions{Args: []string{"newest=" + ids[2]}})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	if _, err := os.Stat(filepath.Join(e.Dir, ids[0])); err == nil {
		t.Error("the oldest set is still on the target")
	}
}

func TestPruneDoesNothingForAVMWhoseBackupFailedInThisRun(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 1 << 20})
	backupOnce(t, e, "VM1")
	backupOnce(t, e, "VM1")
	err, recs := e.Run(t, `
		local vm, backup = require "vm", require "backup"
		local v = vm.open("name:VM1")
		local ok = pcall(v.backup, v, { to = arg.dest, compress = "lz4" })
		assert(not ok, "a bad backup succeeded")
		local res = backup.prune{ at = arg.dest, vm = "VM1", keep = 1 }
		assert(res.skipped and #res.removed == 0, "pruned after a failed backup")
		assert(#backup.list{ at = arg.dest, vm = "VM1" } == 2)
	`, simtest.RunOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
}

func TestVMXArchivesNeverOverwrite(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 1 << 20})
	err, recs := e.Run(t, `
		local vm, backup = require "vm", require "backup"
		local v = vm.open("name:VM1")
		local a = backup.vmx{ vm = v, to = arg.dest }
		local b = backup.vmx{ vm = v, to = arg.dest }
		assert(a.path ~= b.path, "the second archive replaced the first")
		local has = false
		for _, f in ipairs(a.files) do if f == "VM1.vmx" then has = true end end
		assert(has, "no .vmx in the archive")
	`, simtest.RunOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	got, _ := filepath.Glob(filepath.Join(e.Dir, "VM1", "vmx", "*.tar.gz"))
	if len(got) != 2 {
		t.Errorf("archives: %v", got)
	}
}
