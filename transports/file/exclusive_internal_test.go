package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// On a file system without hard links CreateExclusive falls back to
// O_EXCL: still exactly one of many concurrent callers wins, with its
// content, and nothing else is left in the folder.
func TestCreateExclusiveWithoutHardLinks(t *testing.T) {
	defer func(old func(*os.Root, string, string) error) { link = old }(link)
	var tried atomic.Int64
	link = func(*os.Root, string, string) error {
		tried.Add(1)
		return &os.LinkError{Op: "link", Err: syscall.EPERM}
	}
	dir := t.TempDir()
	tr, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ctx := context.Background()
	var wins atomic.Int64
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			err := tr.CreateExclusive(ctx, "lock", fmt.Appendf(nil, "caller %d", i))
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, fs.ErrExist):
				t.Errorf("caller %d: %v, want fs.ErrExist", i, err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || tried.Load() == 0 {
		t.Fatalf("%d callers won (link tried %d times), want exactly one", wins.Load(), tried.Load())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "lock" {
		t.Fatalf("the folder holds %v, want only lock", ents)
	}
	b, _ := os.ReadFile(dir + "/lock")
	if len(b) < len("caller 0") {
		t.Fatalf("lock holds %q", b)
	}
}
