package sets

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/vmlua/vmlua/internal/capread"
	"github.com/vmlua/vmlua/transports/file"
)

// A catalog or lock file over its cap is refused as too large (capread),
// never cut short and handed on: a cut catalog would fail to parse with an
// error that hides the cause, a cut lock would look unreadable.
func TestOversizeSmallFilesAreRefusedNotCut(t *testing.T) {
	dir := t.TempDir()
	ft, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	big := func(name string, n int64) {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(n); err != nil { // sparse: no 64 MiB written
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	big("catalog.json", maxSmall+1)
	if _, err := ReadCatalog(ctx, ft, "catalog.json"); !errors.Is(err, capread.ErrTooLarge) {
		t.Errorf("ReadCatalog of %d bytes: %v, want capread.ErrTooLarge", maxSmall+1, err)
	}
	big("exact.json", maxSmall)
	if _, err := readSmall(ctx, ft, "exact.json"); err != nil {
		t.Errorf("readSmall of exactly %d bytes: %v, want it read whole", maxSmall, err)
	}
	big(LockName, 64<<10+1)
	l, err := readLock(ctx, ft, LockName)
	if err != nil || l.Host != "?" || !l.Started.IsZero() {
		t.Errorf("an oversize lock: %+v, %v; want it treated as very old (host ?)", l, err)
	}
}
