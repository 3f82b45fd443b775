package catalog

import (
	"encoding/json"
	"path"
	"strings"
	"testing"
)

// FuzzParse checks that Parse and Validate never panic on any input, and
// that a catalog Parse accepts names only safe files: plain relative names
// that cannot leave the set's folder (restore writes them to a datastore),
// disks that point at listed files, and that it survives a round trip.
func FuzzParse(f *testing.F) {
	good := New()
	good.ID = "DB01/20260102T150405Z"
	good.Complete = true
	good.VM = VM{Name: "DB01", VMX: "[LocalDS_0] DB01/DB01.vmx"}
	sum := strings.Repeat("ab", 32)
	good.Files = []File{
		{Name: "DB01.vmx", SHA256: sum, Kind: KindConfig},
		{Name: "DB01-flat.vmdk.vls.zst", SHA256: sum, Kind: KindDisk, Disk: "scsi0:0", Compression: "zstd"},
		{Name: "DB01.vmdk", SHA256: sum, Kind: KindDescriptor, Disk: "scsi0:0"},
	}
	good.Disks = []Disk{{ID: "scsi0:0", Format: FormatSparse1, File: "DB01-flat.vmdk.vls.zst", Descriptor: "DB01.vmdk"}}
	b, err := good.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	for _, s := range []string{
		`{}`, `null`, `[]`, `{"schema":"vmlua.backup.catalog","version":1,"vm":{"name":"x"},"files":[{"name":"../x","sha256":"` + sum + `"}]}`,
		`{"schema":"vmlua.backup.catalog","version":2,"mode":"incremental","parent":"x/20260101T000000Z","vm":{"name":"x"}}`,
		`{"schema":"vmlua.backup.catalog","version":1,"vm":{"name":"x"},"files":[{"name":"a/./b","sha256":"` + sum + `"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			return
		}
		_ = c.Validate()
		listed := map[string]bool{}
		for _, fl := range c.Files {
			n := fl.Name
			if n == "" || n == "." || n == ".." || strings.HasPrefix(n, "/") || strings.ContainsAny(n, `/\`) || path.Clean(n) != n {
				t.Fatalf("Parse accepted the file name %q, which is not a plain name inside the set", n)
			}
			listed[n] = true
		}
		for _, d := range c.Disks {
			if !listed[d.File] || !listed[d.Descriptor] {
				t.Fatalf("Parse accepted disk %q naming unlisted files %q, %q", d.ID, d.File, d.Descriptor)
			}
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("an accepted catalog does not marshal: %v", err)
		}
		var again Catalog
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatalf("a marshalled catalog does not unmarshal: %v", err)
		}
		if err := again.Validate(); err != nil {
			t.Fatalf("an accepted catalog is refused after a round trip: %v", err)
		}
	})
}
