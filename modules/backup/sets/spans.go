package sets

import (
	"fmt"

	"github.com/vmlua/vmlua/internal/spansum"
	"github.com/vmlua/vmlua/modules/backup/catalog"
)

// SpansOf is a span digest as the catalog records it.
func SpansOf(d *spansum.Digest) *catalog.Spans {
	if d == nil {
		return nil
	}
	return &catalog.Spans{Root: d.Root, SHA256: d.Spans}
}

// digestOf is the catalog's span digest of a file of size bytes.
func digestOf(f catalog.File) spansum.Digest {
	return spansum.Digest{Bytes: f.Size, Spans: f.Spans.SHA256, Root: f.Spans.Root}
}

// storedProblem compares what was read of a stored file (n bytes, its
// sha256 in hex and its span digest) with the catalog's entry: "" when
// they match, else what differs, naming the first altered span.
func storedProblem(f catalog.File, n int64, sum string, spans spansum.Digest) string {
	switch {
	case n != f.Size:
		return fmt.Sprintf("size %d, the catalog says %d (truncated or altered)", n, f.Size)
	case f.Spans != nil:
		if err := spansum.Check(spans, digestOf(f)); err != nil {
			return "altered: " + err.Error()
		}
	case sum != f.SHA256:
		return fmt.Sprintf("sha256 %s, the catalog says %s (altered)", sum, f.SHA256)
	}
	return ""
}
