package backup

import (
	"reflect"
	"testing"
)

// TestNameDisk: a disk's files in a set are named after its descriptor,
// and a second disk of the same name (on another datastore) gets "~1",
// a third "~2".
func TestNameDisk(t *testing.T) {
	names := map[string]bool{}
	for _, tc := range []struct {
		name, base, compress string
		want                 diskFiles
	}{
		{"the first disk keeps its name", "DB01_1", "zstd", diskFiles{flat: "DB01_1-flat.vmdk", desc: "DB01_1.vmdk", stored: "DB01_1-flat.vmdk.vls.zst"}},
		{"another disk of that name gets ~1", "DB01_1", "zstd", diskFiles{flat: "DB01_1~1-flat.vmdk", desc: "DB01_1~1.vmdk", stored: "DB01_1~1-flat.vmdk.vls.zst"}},
		{"a third gets ~2", "DB01_1", "none", diskFiles{flat: "DB01_1~2-flat.vmdk", desc: "DB01_1~2.vmdk", stored: "DB01_1~2-flat.vmdk.vls"}},
		{"a disk of another name keeps its own", "DB01", "gzip", diskFiles{flat: "DB01-flat.vmdk", desc: "DB01.vmdk", stored: "DB01-flat.vmdk.vls.gz"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := nameDisk(tc.base, tc.compress, names)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("nameDisk(%q) = %+v, want %+v", tc.base, got, tc.want)
			}
			if !names[got.desc] || !names[got.stored] {
				t.Errorf("nameDisk did not record %s and %s as taken", got.desc, got.stored)
			}
		})
	}
}
