package sets_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/file"
)

// noDelete is a target whose credentials may not delete (an append-only
// account): Remove is refused with a permission error.
type noDelete struct{ transports.Transport }

func (noDelete) Remove(_ context.Context, p string) error {
	return fmt.Errorf("remove %s: %w", p, fs.ErrPermission)
}

func (n noDelete) Unwrap() transports.Transport { return n.Transport }

// On a target that refuses deletes, a lock is released, and a stale one
// (its run's process is gone) broken, by renaming it aside: the next run
// takes the lock, and nothing is deleted.
func TestALockIsReleasedAndBrokenWithoutDeleting(t *testing.T) {
	dir := t.TempDir()
	ft, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ft.Close() })
	tr := noDelete{ft}
	r, logs := loggedRun(t)
	release, err := sets.AcquireLock(r, tr, "VM", "VM/1", false)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if _, err := os.Stat(filepath.Join(dir, "VM", sets.LockName)); !os.IsNotExist(err) {
		t.Fatalf("the lock is still there after its release (%v):\n%s", err, logs)
	}
	// a run that crashed on this host left its lock
	writeLock(t, filepath.Join(dir, "VM", sets.LockName), hostname(t), 1<<22+7, time.Now())
	release, err = sets.AcquireLock(r, tr, "VM", "VM/2", false)
	if err != nil {
		t.Fatalf("taking the lock over a crashed run's on a target that refuses deletes: %v\n%s", err, logs)
	}
	release()
	aside, _ := filepath.Glob(filepath.Join(dir, "VM", sets.LockName+".released-*"))
	breaks, _ := filepath.Glob(filepath.Join(dir, "VM", sets.BreakName+".released-*"))
	if len(aside) != 3 || len(breaks) != 1 {
		t.Errorf("renamed aside: locks %q, break markers %q; want the two released locks, the broken one and its marker", aside, breaks)
	}
	if strings.Contains(logs.String(), "cannot remove") {
		t.Errorf("a lock was left:\n%s", logs)
	}
}

func hostname(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}
