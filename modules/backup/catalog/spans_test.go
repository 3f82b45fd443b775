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
