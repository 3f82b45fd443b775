package catalog

import (
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/spansum"
)

func TestValidateTakesSpanDigestsOnlyWhenWholeAndInAVersion3Catalog(t *testing.T) {
	h := spansum.New()
	h.Write(make([]byte, spansum.Size+10))
	d := h.Sum()
	good := &Spans{Root: d.Root, SHA256: d.Spans}
	sum := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name    string
		version int
		file    File
		want    string
	}{
		{"a version 3 file with its span digest", VersionSpans, File{Name: "d", Size: d.Bytes, Spans: good}, ""},
		{"a version 1 file with its sha256 (an older set)", VersionFull, File{Name: "d", Size: 5, SHA256: sum}, ""},
		{"a version 3 file with a sha256 only (a small file)", VersionSpans, File{Name: "d", Size: 5, SHA256: sum}, ""},
		{"span digests in a version 2 catalog", VersionChain, File{Name: "d", Size: d.Bytes, Spans: good}, "span digests in a version 2 catalog"},
		{"a root that is not the spans'", VersionSpans, File{Name: "d", Size: d.Bytes, Spans: &Spans{Root: sum, SHA256: d.Spans}}, "no valid span digest"},
		{"fewer spans than the size needs", VersionSpans, File{Name: "d", Size: 3 * spansum.Size, Spans: good}, "no valid span digest (2 spans for 12582912 bytes)"},
		{"neither digest", VersionSpans, File{Name: "d", Size: 5}, "no valid sha256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New()
			c.Version, c.VM.Name, c.Files = tc.version, "x", []File{tc.file}
			err := c.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
}

func TestValidateTakesVersion2StreamsOnlyInAVersion4Catalog(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name    string
		version int
		mode    string
		format  string
		want    string
	}{
		{"a version 2 full in a version 4 catalog", VersionContentSpans, ModeFull, FormatSparse2, ""},
		{"a version 2 layer in a version 4 incremental", VersionContentSpans, ModeIncremental, FormatDelta2, ""},
		{"a version 1 stream in a version 4 catalog", VersionContentSpans, ModeFull, FormatSparse1, ""},
		{"a version 2 stream in a version 3 catalog", VersionSpans, ModeFull, FormatSparse2, "is a version 2 stream (vmlua-sparse-2) in a version 3 catalog"},
		{"a layer in a full set", VersionContentSpans, ModeFull, FormatDelta2, "is an incremental layer"},
		{"an unknown format", VersionContentSpans, ModeFull, "vmlua-sparse-9", "unknown format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New()
			c.Version, c.VM.Name, c.Mode = tc.version, "x", tc.mode
			if tc.mode == ModeIncremental {
				c.Parent = "x/20261204T000000Z"
			}
			c.Files = []File{{Name: "d.vls", Size: 5, SHA256: sum}, {Name: "d.vmdk", Size: 5, SHA256: sum}}
			c.Disks = []Disk{{ID: "scsi0:0", Format: tc.format, File: "d.vls", Descriptor: "d.vmdk"}}
			err := c.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
	for _, f := range []string{FormatSparse2, FormatDelta2, FormatSparse1, FormatDelta1} {
		if got := FormatOf(StreamVersion(f), IsDelta(f)); got != f {
			t.Errorf("FormatOf(%d, %v) = %q, want %q", StreamVersion(f), IsDelta(f), got, f)
		}
	}
}
