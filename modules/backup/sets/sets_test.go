package sets_test

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/retention"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/file"
)

func newRun(t *testing.T) *runtime.Run {
	t.Helper()
	r, err := runtime.New(runtime.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func newTarget(t *testing.T) (*file.Transport, string) {
	t.Helper()
	dir := t.TempDir()
	ft, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ft.Close() })
	return ft, dir
}

func codeOf(err error) string {
	var re *runtime.Error
	if errors.As(err, &re) {
		return re.Code
	}
	return ""
}

func TestDirName(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"a plain name is its own folder", "DB01", "DB01"},
		{"a slash becomes an underscore", "web/01", "web_01"},
		{"a backslash becomes an underscore", `web\01`, "web_01"},
		{"an escaped slash becomes an underscore", "web%2f01%2F02", "web_01_02"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := sets.DirName(c.in); got != c.want {
				t.Errorf("DirName(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestTargetError(t *testing.T) {
	own := &runtime.Error{Code: runtime.CodeConflict, Message: "already a runtime error"}
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"a missing path is not_found", fmt.Errorf("open x: %w", fs.ErrNotExist), runtime.CodeNotFound},
		{"refused credentials are auth", fmt.Errorf("login: %w", transports.ErrAuth), runtime.CodeAuth},
		{"a runtime error keeps its code", fmt.Errorf("wrapped: %w", own), runtime.CodeConflict},
		{"anything else is transport", errors.New("connection reset"), runtime.CodeTransport},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := sets.TargetError(c.err, "file:///backups")
			if got := codeOf(err); got != c.want {
				t.Errorf("code %q, want %q (%v)", got, c.want, err)
			}
		})
	}
}

func TestAcquireLock(t *testing.T) {
	for _, c := range []struct {
		name      string
		held      bool
		breakLock bool
		want      string // the error code; "" when the lock is taken
	}{
		{"a free folder is locked", false, false, ""},
		{"a folder another live run holds is a conflict", true, false, runtime.CodeConflict},
		{"break_lock takes a held lock", true, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRun(t)
			ft, dir := newTarget(t)
			lock := filepath.Join(dir, "VM", sets.LockName)
			if c.held {
				first, err := sets.AcquireLock(r, ft, "VM", "VM/20260101T000000Z", false)
				if err != nil {
					t.Fatal(err)
				}
				defer first()
			}
			release, err := sets.AcquireLock(r, ft, "VM", "VM/20260101T000001Z", c.breakLock)
			if got := codeOf(err); got != c.want || (err != nil) != (c.want != "") {
				t.Fatalf("error %v (code %q), want code %q", err, got, c.want)
			}
			if err != nil {
				return
			}
			b, err := os.ReadFile(lock)
			if err != nil || !strings.Contains(string(b), "VM/20260101T000001Z") {
				t.Fatalf("the lock file does not name the new set: %q, %v", b, err)
			}
			release()
			if _, err := os.Stat(lock); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("release left the lock file: %v", err)
			}
		})
	}
}

// writeSet writes a complete set of one (empty) file with its catalog.
func writeSet(t *testing.T, dir, id string) {
	t.Helper()
	c := catalog.New()
	c.ID, c.Complete = id, true
	c.VM.Name = strings.Split(id, "/")[0]
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, id), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, id, catalog.FileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPrune(t *testing.T) {
	for _, c := range []struct {
		name    string
		failed  bool // the VM's latest backup in this run failed
		dryRun  bool
		removed int
		left    int
	}{
		{"the sets beyond keep go", false, false, 2, 1},
		{"a dry run only lists them", false, true, 2, 3},
		{"a VM whose backup failed keeps every set", true, false, 0, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRun(t)
			ft, dir := newTarget(t)
			for _, ts := range []string{"20260101T000000Z", "20260102T000000Z", "20260103T000000Z"} {
				writeSet(t, dir, "VM/"+ts)
			}
			sets.SetFailed(r, "VM", c.failed)
			res, err := sets.Prune(r, ft, "VM", retention.Policy{Last: 1}, c.dryRun)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Removed) != c.removed || res.Skipped != c.failed {
				t.Errorf("removed %v, skipped %v; want %d removed, skipped %v", res.Removed, res.Skipped, c.removed, c.failed)
			}
			list, err := sets.List(r.Context(), ft, "VM")
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != c.left || list[len(list)-1].ID != "VM/20260103T000000Z" {
				t.Errorf("left %d sets (%v), want %d with the newest", len(list), list, c.left)
			}
		})
	}
}

func TestLayersOf(t *testing.T) {
	full := func(id, sum string) *catalog.Catalog {
		c := catalog.New()
		c.ID = id
		c.Disks = []catalog.Disk{{ID: "scsi0:0", File: "d.vls", Format: catalog.FormatSparse1, Capacity: 1 << 20, ContentSHA256: sum}}
		c.Files = []catalog.File{{Name: "d.vls"}}
		return c
	}
	delta := func(id, parentSum, sum string) *catalog.Catalog {
		c := full(id, sum)
		c.Disks[0].Format, c.Disks[0].ParentContentSHA256 = catalog.FormatDelta1, parentSum
		return c
	}
	for _, c := range []struct {
		name   string
		chain  []*catalog.Catalog
		layers int
		err    string
	}{
		{"a full is one layer", []*catalog.Catalog{full("VM/1", "a")}, 1, ""},
		{"an incremental on its parent is two", []*catalog.Catalog{full("VM/1", "a"), delta("VM/2", "a", "b")}, 2, ""},
		{"a full in the chain restarts it", []*catalog.Catalog{full("VM/1", "a"), delta("VM/2", "a", "b"), full("VM/3", "c")}, 1, ""},
		{"an incremental on another parent is refused", []*catalog.Catalog{full("VM/1", "a"), delta("VM/2", "x", "b")}, 0, "another parent"},
		{"a chain that starts with an incremental is refused", []*catalog.Catalog{delta("VM/2", "a", "b")}, 0, "starts with an incremental"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ls, err := sets.LayersOf(c.chain, "scsi0:0")
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want one saying %q", err, c.err)
				}
				return
			}
			if err != nil || len(ls) != c.layers {
				t.Fatalf("%d layers, %v; want %d", len(ls), err, c.layers)
			}
			if last := ls[len(ls)-1]; last.Set != c.chain[len(c.chain)-1].ID {
				t.Errorf("the last layer is of %s, want the newest set", last.Set)
			}
		})
	}
}
