package file_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/file"
	"github.com/vmlua/vmlua/transports/transporttest"
)

func newTB(tb testing.TB) transports.Transport {
	tr, err := file.New(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	return tr
}

// tinyTmpfs mounts a 4 MiB tmpfs on a fresh directory (the tests run as
// root in CI) and unmounts it when tb ends.
func tinyTmpfs(tb testing.TB) string {
	dir := tb.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "vmlua-full", dir).CombinedOutput(); err != nil {
		tb.Fatalf("mounting a 4 MiB tmpfs for the disk-full case (needs root): %v: %s", err, out)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			tb.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

func TestConformance(t *testing.T) {
	transporttest.Run(t, transporttest.Target{
		Name: "file",
		Fresh: func(t *testing.T) transporttest.Fresh {
			d := t.TempDir()
			return transporttest.Fresh{URL: "file://" + d, Dir: d}
		},
		Full: func(t *testing.T) transports.Transport {
			tr, err := file.New(tinyTmpfs(t))
			if err != nil {
				t.Fatal(err)
			}
			return tr
		},
	})
}

func TestOpenByURL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a b", "ünï")
	cases := []struct {
		name, url string
		params    map[string]string
		wantErr   bool
	}{
		{"an absolute file URL opens and creates its directory", "file://" + dir, nil, false},
		{"file://localhost/path is accepted", "file://localhost" + dir, nil, false},
		{"a remote host is refused", "file://nas" + dir, nil, true},
		{"create=false refuses a missing directory", "file://" + dir + "-missing", map[string]string{"create": "false"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, err := transports.Open(context.Background(), c.url, transports.Options{Params: c.params})
			if c.wantErr {
				if err == nil {
					tr.Close()
					t.Fatalf("Open(%q) succeeded", c.url)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%q): %v", c.url, err)
			}
			defer tr.Close()
			if _, err := os.Stat(dir); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(tr.URL(), "file:///") {
				t.Fatalf("URL() = %q", tr.URL())
			}
		})
	}
}

// TestCreateFalseInTheURLKeepsABackupOffTheLocalDisk: with the NAS mount
// down, file:///mnt/nas/...?create=false must fail instead of creating the
// folder on the local disk under the mount point.
func TestCreateFalseInTheURLKeepsABackupOffTheLocalDisk(t *testing.T) {
	mount := filepath.Join(t.TempDir(), "nas") // not mounted: absent
	cases := []struct {
		name, query string
		opens       bool
		want        string // in the error
	}{
		{"create=false refuses the missing folder", "?create=false", false, "is the file system it is on (a NAS) mounted?"},
		{"create=0 refuses the missing folder", "?create=0", false, "does not exist"},
		{"create=true creates it", "?create=true", true, ""},
		{"create=maybe is refused as no boolean", "?create=maybe", false, "want true or false"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(mount, strings.Trim(c.query, "?="))
			tr, err := transports.Open(context.Background(), "file://"+dir+c.query, transports.Options{})
			if err == nil {
				tr.Close()
			}
			if (err == nil) != c.opens {
				t.Fatalf("Open(file://%s%s) = %v, want opened=%v", dir, c.query, err, c.opens)
			}
			if err != nil && !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			if _, serr := os.Stat(dir); (serr == nil) != c.opens {
				t.Errorf("the folder exists=%v after Open, want %v", serr == nil, c.opens)
			}
		})
	}
}

// TestAReadOnlyMountIsNotRetried: a NAS mounted read-only (EROFS) fails
// a backup at once instead of five times with back-off.
func TestAReadOnlyMountIsNotRetried(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=1m", "vmlua-ro", dir).CombinedOutput(); err != nil {
		t.Fatalf("mounting a read-only tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	tr, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	transporttest.ReadOnlyIsNotRetried(t, tr)
}

func TestSymlinksOutOfTheRootAreRefused(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	must(t, os.Symlink(outside, filepath.Join(root, "dirlink")))
	must(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "filelink")))
	must(t, os.Symlink(filepath.Join(outside, "new"), filepath.Join(root, "dangling")))
	must(t, os.Symlink("../../..", filepath.Join(root, "relup")))
	must(t, os.Mkdir(filepath.Join(root, "in"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "in", "ok"), []byte("ok"), 0o600))
	must(t, os.Symlink("in", filepath.Join(root, "inlink")))
	tr, err := file.New(root)
	must(t, err)
	defer tr.Close()
	ctx := context.Background()

	type op struct {
		name string
		run  func() error
	}
	ops := []op{
		{"reading a file through a directory symlink", func() error { _, err := tr.Open(ctx, "dirlink/secret", 0); return err }},
		{"reading a file symlink", func() error { _, err := tr.Open(ctx, "filelink", 0); return err }},
		{"stat through a directory symlink", func() error { _, err := tr.Stat(ctx, "dirlink/secret"); return err }},
		{"listing a directory symlink", func() error { _, err := tr.List(ctx, "dirlink"); return err }},
		{"listing through a relative symlink upwards", func() error { _, err := tr.List(ctx, "relup"); return err }},
		{"creating through a directory symlink", func() error { _, err := tr.Create(ctx, "dirlink/new"); return err }},
		{"truncating through a file symlink", func() error { _, err := tr.Create(ctx, "filelink"); return err }},
		{"creating through a dangling symlink", func() error { _, err := tr.Create(ctx, "dangling"); return err }},
		{"mkdir through a directory symlink", func() error { return tr.MkdirAll(ctx, "dirlink/sub/dir") }},
		{"renaming into a directory symlink", func() error { return tr.Rename(ctx, "in/ok", "dirlink/stolen") }},
		{"removing through a directory symlink", func() error { return tr.Remove(ctx, "dirlink/secret") }},
		{"uploading through a directory symlink", func() error {
			_, err := transports.Upload(ctx, tr, "dirlink/up", strings.NewReader("x"), transports.UploadOptions{})
			return err
		}},
	}
	for _, o := range ops {
		t.Run(o.name+" is ErrOutsideRoot", func(t *testing.T) {
			if err := o.run(); !errors.Is(err, transports.ErrOutsideRoot) {
				t.Fatalf("got %v, want ErrOutsideRoot", err)
			}
		})
	}
	b, err := os.ReadFile(filepath.Join(outside, "secret"))
	if err != nil || string(b) != "secret" {
		t.Fatalf("the outside file was touched: %q, %v", b, err)
	}
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 {
		t.Fatalf("the outside directory holds %d entries, want only secret", len(ents))
	}
	t.Run("a symlink that stays inside the root is followed", func(t *testing.T) {
		r, err := tr.Open(ctx, "inlink/ok", 0)
		must(t, err)
		defer r.Close()
		b, _ := io.ReadAll(r)
		if string(b) != "ok" {
			t.Fatalf("read %q", b)
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
