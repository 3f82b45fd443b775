package file_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/eventually"
)

// TestWritebackGoroutineEndsWithTheFile writes enough for several
// writeback kicks (they run on a goroutine of their own) and checks that
// Close and Abort both end it, and that Close leaves every byte in place.
func TestWritebackGoroutineEndsWithTheFile(t *testing.T) {
	tr := newTB(t)
	defer tr.Close()
	ctx := context.Background()
	chunk := bytes.Repeat([]byte("vmlua writeback "), 1<<16) // 1 MiB
	for _, tc := range []struct {
		name  string
		abort bool
	}{{"close", false}, {"abort", true}} {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			w, err := tr.Create(ctx, tc.name+".bin")
			if err != nil {
				t.Fatal(err)
			}
			const n = 50 // three kicks of 16 MiB and a tail
			for range n {
				if _, err := w.Write(chunk); err != nil {
					t.Fatal(err)
				}
			}
			if tc.abort {
				err = w.Abort()
			} else {
				err = w.Close()
			}
			if err != nil {
				t.Fatal(err)
			}
			eventually.True(t, fmt.Sprintf("the goroutines of %s to end (%d before)", tc.name, before), func() bool { return runtime.NumGoroutine() <= before })
			fi, err := tr.Stat(ctx, tc.name+".bin")
			switch {
			case tc.abort && !errors.Is(err, fs.ErrNotExist):
				t.Errorf("after Abort: stat %v, want not found", err)
			case !tc.abort && (err != nil || fi.Size != n*int64(len(chunk))):
				t.Errorf("after Close: %v, size %v, want %d", err, fi, n*len(chunk))
			}
		})
	}
}
