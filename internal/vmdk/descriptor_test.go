package vmdk

import (
	"strings"
	"testing"
)

const base = `# Disk DescriptorFile
version=1
CID=1a2b3c4d
parentCID=ffffffff
createType="vmfs"

# Extent description
RW 65536 VMFS "DB01-flat.vmdk"

ddb.adapterType = "lsilogic"
`

const delta = `# Disk DescriptorFile
version=1
CID=5e6f7a8b
parentCID=1a2b3c4d
createType="vmfsSparse"
parentFileNameHint="DB01.vmdk"

# Extent description
RW 65536 VMFSSPARSE "DB01-000001-delta.vmdk"
`

func TestFlatExtents(t *testing.T) {
	cases := []struct {
		name, desc string
		want       []Extent
		wantErr    string
	}{
		{"a flat base disk has one VMFS extent", base, []Extent{{File: "DB01-flat.vmdk", Bytes: 65536 * 512, Type: "VMFS"}}, ""},
		{"a split disk has several", "RW 100 FLAT \"a-s001.vmdk\" 0\nRW 50 FLAT \"a-s002.vmdk\" 0\n", []Extent{{"a-s001.vmdk", 51200, "FLAT"}, {"a-s002.vmdk", 25600, "FLAT"}}, ""},
		{"a snapshot delta is refused", delta, nil, "of type VMFSSPARSE"},
		{"a descriptor without extents is refused", "version=1\n", nil, "names no extent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FlatExtents(tc.desc)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("extent %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestFlatDescriptorStandsAlone(t *testing.T) {
	got := FlatDescriptor(delta, 65536, "copy-flat.vmdk")
	for _, want := range []string{`RW 65536 VMFS "copy-flat.vmdk"`, "parentCID=ffffffff", `createType="vmfs"`, `CID=5e6f7a8b`} {
		if !strings.Contains(got, want) {
			t.Errorf("descriptor lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "parentFileNameHint") || strings.Contains(got, "delta") {
		t.Errorf("the descriptor still names its parent or delta:\n%s", got)
	}
	if _, err := FlatExtents(got); err != nil {
		t.Errorf("the rewritten descriptor does not parse: %v", err)
	}
}
