package sets_test

import (
	"strings"
	"testing"

	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
)

// restorableCatalog is a catalog as a backup of DB01 writes it.
func restorableCatalog() *catalog.Catalog {
	c := catalog.New()
	c.ID, c.VM.Name = "DB01/20260102T030405Z", "DB01"
	c.Files = []catalog.File{
		{Name: "DB01.vmx", Size: 900, Kind: catalog.KindConfig},
		{Name: "DB01.nvram", Size: 8684, Kind: catalog.KindNvram},
		{Name: "DB01.vmdk", Size: 500, Kind: catalog.KindDescriptor, Disk: "scsi0:0"},
		{Name: "DB01-flat.vmdk.vls.zst", Size: 1 << 20, Kind: catalog.KindDisk, Disk: "scsi0:0"},
	}
	c.Disks = []catalog.Disk{{ID: "scsi0:0", Capacity: 8 << 30, File: "DB01-flat.vmdk.vls.zst", Descriptor: "DB01.vmdk"}}
	return c
}

// TestRestoreProblemsAtTheLimits: what restore (and verify) accept and
// refuse at the edges of each limit.
func TestRestoreProblemsAtTheLimits(t *testing.T) {
	for _, tc := range []struct {
		name string
		as   string // the name= given to restore
		edit func(*catalog.Catalog)
		want string // "" for none
	}{
		{"a set as a backup writes it", "", nil, ""},
		{"a disk of exactly 62 TiB", "", func(c *catalog.Catalog) { c.Disks[0].Capacity = sets.MaxDiskBytes }, ""},
		{"a disk of 62 TiB and a sector", "", func(c *catalog.Catalog) { c.Disks[0].Capacity = sets.MaxDiskBytes + 512 }, "more than the largest virtual disk"},
		{"a disk of no bytes", "", func(c *catalog.Catalog) { c.Disks[0].Capacity = 0 }, "has no capacity"},
		{"a name of 80 characters", strings.Repeat("é", 80), nil, ""},
		{"a name of 81 characters", strings.Repeat("é", 81), nil, "longer than the 80 characters"},
		{"a name with spaces inside", "DB01 restored on Monday", nil, ""},
		{"the name .", ".", nil, "is . or .."},
		{"a name with a tab", "DB01\tcopy", nil, "control character"},
		{"a catalog's name with a newline, restored under another name", "DB01-copy", func(c *catalog.Catalog) { c.VM.Name = "DB01\n" }, ""},
		{"a .vmx larger than restore reads whole", "", func(c *catalog.Catalog) { c.Files[0].Size = 64<<20 + 1 }, "restore reads such a file whole"},
		{"two .vmx files", "", func(c *catalog.Catalog) {
			c.Files = append(c.Files, catalog.File{Name: "other.vmx", Size: 1, Kind: catalog.KindConfig})
		}, "lists 2 .vmx files"},
		{"a host configuration set", "", func(c *catalog.Catalog) { c.HostConfig = &catalog.HostConfig{Name: "esx1"} }, "not a VM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := restorableCatalog()
			if tc.edit != nil {
				tc.edit(c)
			}
			ps := sets.RestoreProblems(c, tc.as)
			var texts []string
			for _, p := range ps {
				texts = append(texts, p.File+": "+p.Problem)
			}
			got := strings.Join(texts, "; ")
			switch {
			case tc.want == "" && got != "":
				t.Errorf("refused: %s", got)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Errorf("problems %q, want one saying %q", got, tc.want)
			}
			if err := sets.Restorable(c, tc.as); (err == nil) != (len(ps) == 0) {
				t.Errorf("Restorable says %v for %d problems", err, len(ps))
			}
		})
	}
}
