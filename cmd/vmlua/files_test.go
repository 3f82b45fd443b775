package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/guestfs/guestfstest"
	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
)

// guestDisk is a 64 MiB disk with a GPT holding an ext4 and a FAT file
// system, made with sfdisk, mkfs.ext4 -d, mkfs.vfat and mcopy.
func guestDisk(t *testing.T) *guestfstest.Disk {
	return guestfstest.New(t, "gpt", 64<<20,
		guestfstest.Part{FS: "ext4", Size: 32 << 20, Files: map[string]string{
			"etc/motd":         "the first point's motd\n",
			"etc/app/app.conf": "port=8080\n",
			"etc/big.bin":      strings.Repeat("vmlua!", 100000),
		}},
		guestfstest.Part{FS: "vfat", Size: 16 << 20, Files: map[string]string{"notes/todo.txt": "first FAT text\n"}})
}

// filesEnv backs up a VM whose disk is guestDisk, changes a file of each
// file system, and backs up incrementally: the two points' ids.
func filesEnv(t *testing.T) (e *simtest.Env, id1, id2 string) {
	d := guestDisk(t)
	e = simtest.Start(t, vsim.Options{Inventory: []vsim.VMSpec{{Name: "FS01", Disks: []vsim.DiskSpec{{Size: 64 << 20}}}}})
	e.Sim.PauseGuest("FS01") // only the test writes to the disk
	first := d.Bytes()
	if _, err := e.Sim.GuestWriteData("FS01", "scsi0:0", 0, first); err != nil {
		t.Fatal(err)
	}
	id1, _ = e.Backup(t, "FS01", "incremental")
	d.Change(0, map[string]string{"etc/motd": "the second point's motd, longer\n"})
	d.Change(1, map[string]string{"notes/todo.txt": "second FAT text, changed\n"})
	if n := writeChanged(t, e.Sim, "FS01", first, d.Bytes()); n == 0 || n > 8<<20 {
		t.Fatalf("the change touched %d bytes", n)
	}
	id2, _ = e.Backup(t, "FS01", "incremental")
	if c := catalogOf(t, e.Dir, id2); c.Mode != catalog.ModeIncremental || c.Parent != id1 {
		t.Fatalf("the second set is %s on %q, want an incremental on %s", c.Mode, c.Parent, id1)
	}
	return e, id1, id2
}

// vmlua runs the binary and returns stdout, stderr and the exit status.
func vmlua(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(simtest.Binary(t), args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), exitCode(err)
}

// TestFilesGetsEachPointsContentOutOfExt4AndFAT: files ls lists the
// partitions and a folder; files get gives a file's old content out of
// the first point and its new content out of the incremental one, of
// ext4 and FAT alike, and a folder as a tar of the right names and bytes.
func TestFilesGetsEachPointsContentOutOfExt4AndFAT(t *testing.T) {
	e, id1, id2 := filesEnv(t)
	target := "file://" + e.Dir
	p1, p2 := "FS01@"+strings.TrimPrefix(id1, "FS01/"), "FS01@"+strings.TrimPrefix(id2, "FS01/")

	out, errs, code := vmlua(t, "files", "ls", target, p2)
	if code != 0 || !strings.Contains(out, "1:\tpartition 1 (gpt Linux filesystem), ext4") || !strings.Contains(out, "2:\tpartition 2 (gpt Microsoft basic data), fat16") {
		t.Fatalf("files ls of the partitions: exit %d\n%s%s", code, out, errs)
	}
	out, errs, code = vmlua(t, "files", "ls", target, p1, "scsi0:0", "1:/etc")
	if code != 0 || !strings.Contains(out, " motd\n") || !strings.Contains(out, " app/\n") || !strings.Contains(out, "      600000 ") {
		t.Fatalf("files ls 1:/etc: exit %d\n%s%s", code, out, errs)
	}
	for _, c := range []struct{ point, path, want string }{
		{p1, "1:/etc/motd", "the first point's motd\n"},
		{p2, "1:/etc/motd", "the second point's motd, longer\n"},
		{"FS01", "1:/etc/motd", "the second point's motd, longer\n"}, // latest
		{p1, "2:/notes/todo.txt", "first FAT text\n"},
		{p2, "2:/NOTES/TODO.TXT", "second FAT text, changed\n"}, // FAT ignores case
		{p1, "1:/etc/big.bin", strings.Repeat("vmlua!", 100000)},
	} {
		out, errs, code := vmlua(t, "files", "get", target, c.point, c.path)
		if code != 0 || out != c.want {
			t.Fatalf("files get %s %s: exit %d, %d bytes, want %d\n%s", c.point, c.path, code, len(out), len(c.want), errs)
		}
	}

	// a folder is a tar of its tree
	out, errs, code = vmlua(t, "files", "get", target, p2, "scsi0:0", "1:/etc")
	if code != 0 {
		t.Fatalf("files get 1:/etc: exit %d\n%s", code, errs)
	}
	got := untar(t, []byte(out))
	want := map[string]string{"etc/": "", "etc/motd": "the second point's motd, longer\n", "etc/app/": "", "etc/app/app.conf": "port=8080\n", "etc/big.bin": strings.Repeat("vmlua!", 100000)}
	if len(got) != len(want) {
		t.Fatalf("the tar of 1:/etc holds %v", got)
	}
	for n, w := range want {
		if got[n] != w {
			t.Fatalf("the tar's %s is %d bytes, want %d", n, len(got[n]), len(w))
		}
	}

	// --to uploads it atomically to a granted target
	dest := t.TempDir()
	out, errs, code = vmlua(t, "files", "get", "--json", "--to", "file://"+dest, target, p1, "2:/notes")
	var res map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res["name"] != "notes.tar" {
		t.Fatalf("files get --to: exit %d\n%s%s", code, out, errs)
	}
	b, _ := os.ReadFile(filepath.Join(dest, "notes.tar"))
	if g := untar(t, b); g["notes/todo.txt"] != "first FAT text\n" {
		t.Fatalf("the uploaded tar holds %v", g)
	}
	if left, _ := filepath.Glob(filepath.Join(dest, ".*")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}

	// what is not there, and what cannot be chosen
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{p1, "1:/etc/nothing"}, exitNothingSelected, "no such file or folder"},
		{[]string{p1, "/etc/motd"}, exitUsage, "holds 2 file systems"},
		{[]string{p1, "scsi0:9", "1:/etc/motd"}, exitNothingSelected, "has no disk scsi0:9"},
		{[]string{p1, "7:/etc/motd"}, exitNothingSelected, "has no partition 7"},
	} {
		_, errs, code := vmlua(t, append([]string{"files", "get", target}, c.args...)...)
		if code != c.code || !strings.Contains(errs, c.msg) {
			t.Fatalf("files get %v: exit %d, want %d with %q:\n%s", c.args, code, c.code, c.msg, errs)
		}
	}
}

func untar(t *testing.T, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("not a tar: %v", err)
		}
		c, _ := io.ReadAll(tr)
		out[h.Name] = string(c)
	}
}

// TestFilesGetOfADamagedSetFailsWithoutWrongBytes: a stored span that
// does not match the catalog fails files get (exit 1, the damage named)
// and nothing of the file reaches stdout.
func TestFilesGetOfADamagedSetFailsWithoutWrongBytes(t *testing.T) {
	e, id1, id2 := filesEnv(t)
	full := catalogOf(t, e.Dir, id1)
	stored := filepath.Join(e.Dir, filepath.FromSlash(id1), full.Disks[0].File)
	b, err := os.ReadFile(stored)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)*3/4] ^= 0xff
	os.WriteFile(stored, b, 0o644)
	for _, point := range []string{id1, id2} { // the full, and the incremental on it
		out, errs, code := vmlua(t, "files", "get", "file://"+e.Dir, strings.Replace(point, "/", "@", 1), "2:/notes/todo.txt")
		if code != exitFailure || out != "" || !strings.Contains(errs, "damaged") {
			t.Fatalf("files get out of damaged %s: exit %d, stdout %q\n%s", point, code, out, errs)
		}
	}
}
