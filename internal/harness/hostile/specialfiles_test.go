package hostile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/runtime"
)

// newSet backs H02 up into the world's target and returns the set's id and
// catalog.
func newSet(t *testing.T, w *world) (string, catalog.Catalog) {
	t.Helper()
	before, _ := filepath.Glob(filepath.Join(w.target, "H02", "*", catalog.FileName))
	if err := w.run(t, `require("vm").open("name:H02"):backup{to = arg.dest, compress = "none"}`, nil); err != nil {
		t.Fatalf("backing up H02: %v", err)
	}
	after, _ := filepath.Glob(filepath.Join(w.target, "H02", "*", catalog.FileName))
	for _, p := range after {
		if !contains(before, p) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var c catalog.Catalog
			if err := json.Unmarshal(b, &c); err != nil {
				t.Fatal(err)
			}
			return c.ID, c
		}
	}
	t.Fatalf("no new set of H02 among %v", after)
	return "", catalog.Catalog{}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// fileOf returns the name of the set's file of a kind.
func fileOf(t *testing.T, c catalog.Catalog, kind string) string {
	t.Helper()
	for _, f := range c.Files {
		if f.Kind == kind {
			return f.Name
		}
	}
	t.Fatalf("set %s has no file of kind %s", c.ID, kind)
	return ""
}

// plant replaces a file of a set with a named pipe (nobody ever writes
// into it: opening it for reading blocks for good) or a directory.
func plant(t *testing.T, w *world, id, name, what string) {
	t.Helper()
	p := filepath.Join(w.target, filepath.FromSlash(id), name)
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	var err error
	switch what {
	case "fifo":
		err = syscall.Mkfifo(p, 0o644)
	case "dir":
		err = os.Mkdir(p, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestSpecialFilesInASetAreRefusedAtOnce is the special-file class of the
// hostile battery: a named pipe or a directory planted where a set holds
// its disk image, its .vmx or its catalog. Verify reports the file as not
// a regular file and restore fails with that, at once: before, opening a
// named pipe blocked the run until its timeout (and past SIGTERM), and
// restore could not even be cancelled.
func TestSpecialFilesInASetAreRefusedAtOnce(t *testing.T) {
	w := startWorld(t)
	verify := func(id string) string {
		return fmt.Sprintf(`local r = require("backup").verify{at = arg.dest, set = %q}
			if r.ok then error("verified ok") end
			error(r.problems[1].file .. ": " .. r.problems[1].problem)`, id)
	}
	restore := func(id, name string) string {
		return fmt.Sprintf(`require("backup").restore{from = arg.dest, set = %q, datastore = "LocalDS_1", name = %q}`, id, name)
	}
	cases := []struct {
		name   string
		kind   string // the set's file to replace
		what   string // fifo or dir
		script func(id string) string
		want   string
	}{
		{"verify of a set whose disk image is a named pipe reports it", catalog.KindDisk, "fifo", verify, "is a named pipe (FIFO): not a regular file"},
		{"verify of a set whose .vmx is a named pipe reports it", catalog.KindConfig, "fifo", verify, "is a named pipe (FIFO): not a regular file"},
		{"verify of a set whose disk image is a directory reports it", catalog.KindDisk, "dir", verify, "is a directory: not a regular file"},
		{"restore of a set whose .vmx is a named pipe fails with it", catalog.KindConfig, "fifo", func(id string) string { return restore(id, "H02-fifo-vmx") }, "is a named pipe (FIFO): not a regular file"},
		{"restore of a set whose disk image is a named pipe fails with it", catalog.KindDisk, "fifo", func(id string) string { return restore(id, "H02-fifo-disk") }, "is a named pipe (FIFO): not a regular file"},
		{"verify of a set whose catalog is a named pipe reports it", "catalog", "fifo", verify, "is a named pipe (FIFO): not a regular file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, cat := newSet(t, w)
			name := catalog.FileName
			if c.kind != "catalog" {
				name = fileOf(t, cat, c.kind)
			}
			plant(t, w, id, name, c.what)
			err := w.run(t, c.script(id), nil)
			if err == nil {
				t.Fatal("the run succeeded")
			}
			if code := errCode(err); code == runtime.CodeTimeout || code == runtime.CodeCanceled {
				t.Fatalf("the run ended by its %s, not with an error about the file: %v", code, err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), name) {
				t.Errorf("the error does not say that %s %s: %v", name, c.want, err)
			}
			t.Logf("refused: %s: %v", errCode(err), err)
		})
	}
}

// TestVerifyAndRestoreOfASetWithANamedPipeEndWithAClearError runs the vmlua
// binary, as a site does, on a set whose disk image or .vmx was replaced
// by a named pipe: the process ends with the script's error naming the
// file (exit 1), not by its --timeout (exit 4).
func TestVerifyAndRestoreOfASetWithANamedPipeEndWithAClearError(t *testing.T) {
	bin := simtest.Binary(t)
	w := startWorld(t)
	for _, c := range []struct {
		name, kind, script string
	}{
		{"verify", catalog.KindDisk, `local r = require("backup").verify{at = arg.dest, set = arg.set}
			if not r.ok then error(r.problems[1].file .. ": " .. r.problems[1].problem) end`},
		{"restore", catalog.KindConfig, `require("backup").restore{from = arg.dest, set = arg.set, datastore = "LocalDS_1", name = "H02-pipe"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, cat := newSet(t, w)
			name := fileOf(t, cat, c.kind)
			plant(t, w, id, name, "fifo")
			src := filepath.Join(t.TempDir(), c.name+".lua")
			if err := os.WriteFile(src, []byte(c.script), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "run", "--url", w.sim.URL.String(), "--insecure", "--allow", w.dest(),
				"--timeout", "2m", src, "dest="+w.dest(), "set="+id)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			code := -1
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err == nil {
				code = 0
			}
			if code != 1 {
				t.Fatalf("exit status %d, want 1 (the script's error); output:\n%s", code, out.String())
			}
			if s := out.String(); !strings.Contains(s, name) || !strings.Contains(s, "is a named pipe (FIFO): not a regular file") {
				t.Fatalf("the output does not say that %s is a named pipe:\n%s", name, s)
			}
		})
	}
}
