package transports_test

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/transports"
)

// TestASmallUploadMakesOneBuffer: Upload makes its 1 MiB buffers as the
// stream needs them, so a small file (most files of a backup set) costs
// one, not the four (twelve with span digests) a long stream keeps in
// flight.
func TestASmallUploadMakesOneBuffer(t *testing.T) {
	for _, opts := range []transports.UploadOptions{{}, {Spans: true}} {
		tg := &nullTarget{}
		src := strings.Repeat("x", 1000)
		up := func() {
			res, err := transports.Upload(context.Background(), tg, "f", strings.NewReader(src), opts)
			if err != nil || res.Bytes != int64(len(src)) {
				t.Fatalf("Upload: %v, %d bytes", err, res.Bytes)
			}
		}
		up() // warm up
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		const n = 10
		for range n {
			up()
		}
		runtime.ReadMemStats(&m1)
		if per := (m1.TotalAlloc - m0.TotalAlloc) / n; per > 2<<20 {
			t.Errorf("spans=%v: a 1000-byte Upload allocates %d KiB, want at most one 1 MiB buffer and change", opts.Spans, per>>10)
		}
	}
}
