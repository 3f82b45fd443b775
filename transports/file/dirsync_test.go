package file

import (
	"context"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/transports"
)

// TestDeferredDirSyncsSyncOnceAtFlush: while a directory's syncs are
// deferred (through a wrapper, as a backup's target is), Renames into it
// do not sync it, Renames elsewhere still do; flush syncs it once, and
// Renames after flush sync as always.
func TestDeferredDirSyncsSyncOnceAtFlush(t *testing.T) {
	tr, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ctx := context.Background()
	wrapped := transports.Limit(tr, 2)
	for _, d := range []string{"set", "other"} {
		if err := wrapped.MkdirAll(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	put := func(p string) {
		t.Helper()
		if _, err := transports.Upload(ctx, wrapped, p, strings.NewReader(p), transports.UploadOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	syncs := func() int64 { return syncedDirs.Load() }
	flush, err := transports.DeferDirSync(wrapped, "set/")
	if err != nil {
		t.Fatal(err)
	}
	s0 := syncs()
	for _, f := range []string{"set/a", "set/b", "set/c"} {
		put(f)
	}
	if d := syncs() - s0; d != 0 {
		t.Errorf("%d directory syncs for three files into a deferred directory, want 0", d)
	}
	put("other/x")
	if d := syncs() - s0; d != 1 {
		t.Errorf("a Rename into another directory made %d syncs, want 1", d)
	}
	if err := flush(ctx); err != nil {
		t.Fatal(err)
	}
	if d := syncs() - s0; d != 2 {
		t.Errorf("flush made %d syncs, want 1", d-1)
	}
	if err := flush(ctx); err != nil || syncs()-s0 != 2 {
		t.Errorf("a second flush: %v, %d syncs", err, syncs()-s0-2)
	}
	put("set/catalog.json")
	if d := syncs() - s0; d != 3 {
		t.Errorf("a Rename after flush made %d syncs, want 1", d-2)
	}
	// nothing renamed: nothing synced
	flush, err = transports.DeferDirSync(wrapped, "set")
	if err != nil {
		t.Fatal(err)
	}
	s1 := syncs()
	if err := flush(ctx); err != nil || syncs() != s1 {
		t.Errorf("flush of an untouched deferral: %v, %d syncs", err, syncs()-s1)
	}
	// a dry run defers nothing and syncs nothing
	flush, err = transports.DeferDirSync(transports.DryRun(tr, nil), "set")
	if err != nil || flush(ctx) != nil {
		t.Errorf("dry run: %v", err)
	}
}
