package hostile

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/runtime"
)

// TestCraftedSetsVerifyAsRestoreTakesThem is the battery's class of
// crafted sets: sets on the target whose catalog.json (not an alternate
// catalog) names what restore refuses, with every file matching its
// digest. backup.verify says ok=false and names the problem, restore of
// the set under its own name is refused with invalid_argument saying the
// same, before anything is written: no file on the datastores, no VM
// registered. Both apply one function (sets.RestoreProblems), so
// "verified" means "restorable". Among them, sets claiming huge disks (a
// valid all-zero stream of 1 EiB, which verified in a fraction of a
// second and then made restore write zeros until the datastore was full).
func TestCraftedSetsVerifyAsRestoreTakesThem(t *testing.T) {
	w := startWorld(t)
	vmName := func(name string) func(*testing.T, *catalog.Catalog) {
		return func(_ *testing.T, c *catalog.Catalog) { c.VM.Name = name }
	}
	cases := []struct {
		name string
		edit func(*testing.T, *catalog.Catalog)
		zero int64  // with ZeroDisks: every disk an all-zero image of this size
		want string // in verify's problem and in restore's error
	}{
		{"a VM name with a newline", vmName("H02\nvmlua: forged line"), 0, "holds a control character"},
		{"a VM name with an escape sequence", vmName("H02\x1b[2J"), 0, "holds a control character"},
		{"a VM name that climbs out of the datastore folder", vmName("../H01"), 0, `holds / or \`},
		{"a VM name with ..", vmName("H02..old"), 0, `holds ".."`},
		{"a VM name that is a datastore path", vmName("[LocalDS_0] H01"), 0, "holds [ or ]"},
		{"a VM name that is a pattern", vmName("H0*"), 0, "holds * or ?"},
		{"a VM name with vSphere's escape character", vmName("H02%2e%2e"), 0, "holds %"},
		{"a VM name longer than vSphere allows", vmName(strings.Repeat("H", 81)), 0, "longer than the 80 characters"},
		{"a VM name with trailing white space", vmName("H02 "), 0, "white space"},
		{"a disk id with a newline", func(_ *testing.T, c *catalog.Catalog) { c.Disks[0].ID = "scsi0:0\nscsi0:1.present = \"TRUE\"" }, 0, "is not a disk id like scsi0:1"},
		{"a disk id that climbs out", func(_ *testing.T, c *catalog.Catalog) { c.Disks[0].ID = "../scsi0:0" }, 0, "is not a disk id like scsi0:1"},
		{"a skipped disk id with a newline", func(_ *testing.T, c *catalog.Catalog) {
			c.Skipped = append(c.Skipped, catalog.Skipped{ID: "scsi0:1\nx", Reason: "crafted"})
		}, 0, "is not a disk id like scsi0:1"},
		{"a disk id given twice", func(_ *testing.T, c *catalog.Catalog) {
			c.Skipped = append(c.Skipped, catalog.Skipped{ID: c.Disks[0].ID, Reason: "crafted"})
		}, 0, "lists the disk id"},
		{"a descriptor named as the .vmx", func(t *testing.T, c *catalog.Catalog) {
			c.VM.Name = "H03"
			renameSetFile(t, w.target, c, c.Disks[0].Descriptor, "H03.vmx")
		}, 0, `as "H03.vmx", the name of the .vmx`},
		{"an nvram that would overwrite the .vmx", func(t *testing.T, c *catalog.Catalog) {
			renameSetFile(t, w.target, c, fileOfKindIn(c, catalog.KindNvram), "H02-nvram.vmx")
		}, 0, "the name of the .vmx"},
		{"a descriptor whose flat image name holds a control character", func(t *testing.T, c *catalog.Catalog) {
			renameSetFile(t, w.target, c, c.Disks[0].Descriptor, "H02\r.vmdk")
		}, 0, "holds a control character"},
		{"no .vmx file", func(_ *testing.T, c *catalog.Catalog) {
			c.Files = slices.DeleteFunc(c.Files, func(f catalog.File) bool { return f.Kind == catalog.KindConfig })
		}, 0, "lists 0 .vmx files"},
		{"a disk that claims 1 EiB", nil, 1 << 60, "more than the largest virtual disk vSphere supports (62 TiB)"},
		{"a disk that claims 62 TiB and a sector", nil, 62<<40 + 512, "more than the largest virtual disk vSphere supports (62 TiB)"},
		{"a disk that is not whole sectors", nil, 1<<20 + 1, "not a whole number of 512-byte sectors"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := w.run(t, `require("vm").open("name:H02"):backup{to = arg.dest, compress = "none"}`, nil); err != nil {
				t.Fatal(err)
			}
			id := newestSet(t, w.target, "H02")
			if tc.zero > 0 {
				simtest.ZeroDisks(t, w.target, id, tc.zero)
			}
			if tc.edit != nil {
				simtest.EditCatalog(t, w.target, id, func(c *catalog.Catalog) { tc.edit(t, c) })
			}
			before := listAll(t, w.dsDir)
			err := w.run(t, fmt.Sprintf(`
				local backup = require "backup"
				local res = backup.verify{ at = arg.dest, set = %q }
				local found = {}
				for _, p in ipairs(res.problems) do
					if p.problem:find(%q, 1, true) then found[#found + 1] = p.problem end
				end
				if res.ok or #found == 0 then
					local all = {}
					for _, p in ipairs(res.problems) do all[#all + 1] = p.file .. ": " .. p.problem end
					error("verify: ok=" .. tostring(res.ok) .. ", problems: " .. table.concat(all, " | "))
				end
				backup.restore{ from = arg.dest, set = %q, datastore = "LocalDS_1" }
			`, id, tc.want, id), nil)
			if err == nil {
				t.Fatal("the crafted set was restored")
			}
			if msg := err.Error(); errCode(err) != runtime.CodeInvalidArg || !strings.Contains(msg, tc.want) || !strings.Contains(msg, "nothing was written") {
				t.Errorf("error %q (code %s), want invalid_argument saying %q and that nothing was written", msg, errCode(err), tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("the error is not one line: %q", err)
			}
			if after := listAll(t, w.dsDir); !slices.Equal(before, after) {
				t.Errorf("the refused restore wrote on the datastores:\nbefore %v\nafter  %v", before, after)
			}
			if err := w.run(t, `assert(#require("vm").find("any:") == 2, "a VM was registered")`, nil); err != nil {
				t.Error(err)
			}
		})
	}
}

// newestSet is the id of the newest set of a VM on a file:// target.
func newestSet(t *testing.T, target, vm string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(target, vm, "*", catalog.FileName))
	if len(m) == 0 {
		t.Fatalf("no set of %s", vm)
	}
	slices.Sort(m)
	rel, _ := filepath.Rel(target, filepath.Dir(m[len(m)-1]))
	return filepath.ToSlash(rel)
}

// renameSetFile renames a file of the set c on the target and everywhere
// the catalog names it.
func renameSetFile(t *testing.T, target string, c *catalog.Catalog, from, to string) {
	t.Helper()
	dir := filepath.Join(target, filepath.FromSlash(c.ID))
	if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
		t.Fatal(err)
	}
	for i := range c.Files {
		if c.Files[i].Name == from {
			c.Files[i].Name = to
		}
	}
	for i := range c.Disks {
		if c.Disks[i].File == from {
			c.Disks[i].File = to
		}
		if c.Disks[i].Descriptor == from {
			c.Disks[i].Descriptor = to
		}
	}
}

// fileOfKindIn names the catalog's file of a kind.
func fileOfKindIn(c *catalog.Catalog, kind string) string {
	for _, f := range c.Files {
		if f.Kind == kind {
			return f.Name
		}
	}
	panic("no file of kind " + kind)
}

// listAll lists every path under dir.
func listAll(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
