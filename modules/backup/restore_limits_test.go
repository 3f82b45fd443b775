package backup_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/runtime"
)

// listDir lists the entries of a folder, recursively.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	if err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRestoreRefusesWhatTheDatastoreCannotHoldBeforeWritingAnything: a
// valid set whose disks claim more than the target datastore holds (its
// free space, its largest file) or more than vSphere supports is refused
// before anything is written: no staging folder, no file, no VM. The
// simulator's datastores hold 4 TiB here (DatastoreCapacity): they report
// 4 TiB free, less the few MiB their files take, and 4 TiB as their
// largest file once refreshed. Before the check, restore wrote zeros until the
// datastore (here, the test machine's disk) was full or the run timed out.
func TestRestoreRefusesWhatTheDatastoreCannotHoldBeforeWritingAnything(t *testing.T) {
	dsDir := t.TempDir()
	e := simtest.Start(t, vsim.Options{DatastoreDir: dsDir, DatastoreCapacity: 4 << 40, Inventory: []vsim.VMSpec{{Name: "BIG", PoweredOff: true, Disks: []vsim.DiskSpec{{Size: 1 << 20}, {Size: 1 << 20}}}}})
	for _, tc := range []struct {
		name     string
		capacity int64 // of each of the two disks
		dryRun   bool
		code     string
		msg      string
		verifies bool // backup.verify passes the set (the limit is the datastore's, not the set's)
	}{
		{"two disks that together exceed the free space", 5 << 39, false, runtime.CodeConflict, "which has 4 TiB free", true},
		{"the same in a dry run", 5 << 39, true, runtime.CodeConflict, "which has 4 TiB free", true},
		{"a disk larger than the datastore's largest file", 5 << 40, false, runtime.CodeConflict, "more than the largest file datastore LocalDS_1 takes (4 TiB)", true},
		{"a disk larger than vSphere's largest virtual disk", 63 << 40, false, runtime.CodeInvalidArg, "more than the largest virtual disk vSphere supports (62 TiB)", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := backupOnce(t, e, "BIG")
			simtest.ZeroDisks(t, e.Dir, id, tc.capacity)
			before := listDir(t, filepath.Join(dsDir, "LocalDS_1"))
			err, recs := e.Run(t, fmt.Sprintf(`
				local backup, vm = require "backup", require "vm"
				local res = backup.verify{ at = arg.dest, set = %q }
				print("verify ok=" .. tostring(res.ok))
				backup.restore{ from = arg.dest, set = %q, datastore = "LocalDS_1", name = "BIG-copy" }
			`, id, id), simtest.RunOptions{DryRun: tc.dryRun})
			if err == nil {
				t.Fatalf("the restore was not refused\n%s", recs)
			}
			if simtest.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "nothing was written") {
				t.Errorf("error %q (code %s), want code %s saying %q and that nothing was written", err, simtest.Code(err), tc.code, tc.msg)
			}
			if got := simtest.Contains(recs.Printed(), fmt.Sprintf("verify ok=%v", tc.verifies)); !got {
				t.Errorf("verify did not say ok=%v: %v", tc.verifies, recs.Printed())
			}
			if after := listDir(t, filepath.Join(dsDir, "LocalDS_1")); !slices.Equal(before, after) {
				t.Errorf("the refused restore wrote on the datastore:\nbefore %v\nafter  %v", before, after)
			}
			if err, recs := e.Run(t, `assert(#require("vm").find("name:BIG-copy") == 0, "a VM was registered")`, simtest.RunOptions{}); err != nil {
				t.Errorf("%v\n%s", err, recs)
			}
		})
	}
}

// TestRestoreOverwritesOnlyTheVMOfExactlyItsName: restore with
// on_conflict="overwrite" under a name that, read as a pattern, matches
// another VM (VM? and VM* match VM1; so does VM\1) used to take VM1 for
// the VM to overwrite and unregister it. Such names are refused with
// vmlua's own error (the datastore browser and the inventory would read
// them as patterns, vSphere escapes a backslash), VM1 untouched; a name
// like none of them is restored beside VM1.
func TestRestoreOverwritesOnlyTheVMOfExactlyItsName(t *testing.T) {
	e := simtest.Start(t, vsim.Options{Inventory: []vsim.VMSpec{{Name: "VM1", PoweredOff: true, Disks: []vsim.DiskSpec{{Size: 1 << 20}}}}})
	id := backupOnce(t, e, "VM1")
	for _, tc := range []struct{ name, refused string }{
		{"VM?", "holds * or ?"},
		{"VM*", "holds * or ?"},
		{`VM\1`, "holds / or \\"},
		{"VM1 copy", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err, recs := e.Run(t, fmt.Sprintf(`
				local backup, vm = require "backup", require "vm"
				local before = vm.open("name:VM1").moref
				local ok, err = pcall(backup.restore, { from = arg.dest, set = %q, datastore = "LocalDS_1", name = %q, on_conflict = "overwrite" })
				local still = vm.find("name:VM1")
				assert(#still == 1 and still[1].moref == before, "VM1 was replaced")
				if %q == "" then
					assert(ok and err.name == %q, "not restored as a new VM: " .. tostring(err))
				else
					assert(not ok and err.code == "invalid_argument" and err.message:find(%q, 1, true), "not refused: " .. tostring(err))
				end
			`, id, tc.name, tc.refused, tc.name, tc.refused), simtest.RunOptions{})
			if err != nil {
				t.Fatalf("%v\n%s", err, recs)
			}
		})
	}
}

// TestRestoredDescriptorNamesItsOwnFlatImage: the descriptor restore
// writes names the flat image written beside it, at the catalog's
// capacity, whatever extent the stored descriptor names (here another
// VM's disk, which the restored VM would otherwise have opened).
func TestRestoredDescriptorNamesItsOwnFlatImage(t *testing.T) {
	dsDir := t.TempDir()
	e := simtest.Start(t, vsim.Options{DatastoreDir: dsDir, DatastoreCapacity: 4 << 40, Inventory: []vsim.VMSpec{{Name: "VM1", PoweredOff: true, Disks: []vsim.DiskSpec{{Size: 1 << 20}}}}})
	id := backupOnce(t, e, "VM1")
	var desc string
	simtest.EditCatalog(t, e.Dir, id, func(c *catalog.Catalog) {
		desc = c.Disks[0].Descriptor
		p := filepath.Join(e.Dir, id, desc)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		evil := strings.Replace(string(b), `"`+strings.TrimSuffix(desc, ".vmdk")+`-flat.vmdk"`, `"../VM1/VM1-flat.vmdk"`, 1)
		if evil == string(b) {
			t.Fatalf("the stored descriptor names no flat image:\n%s", b)
		}
		simtest.WriteSetFile(t, c, e.Dir, desc, []byte(evil))
	})
	if err, recs := e.Run(t, fmt.Sprintf(`require("backup").restore{ from = arg.dest, set = %q, datastore = "LocalDS_1", name = "VM1-copy" }`, id), simtest.RunOptions{}); err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	b, err := os.ReadFile(filepath.Join(dsDir, "LocalDS_1", "VM1-copy", desc))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`RW %d VMFS "%s-flat.vmdk"`, (1<<20)/512, strings.TrimSuffix(desc, ".vmdk"))
	if !strings.Contains(string(b), want) || strings.Contains(string(b), "../") {
		t.Errorf("the restored descriptor does not name its own flat image (%s):\n%s", want, b)
	}
}
