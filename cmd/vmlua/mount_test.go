package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets/pointread"
)

// writeChanged writes the 4 KiB grains of next that differ from prev to
// the VM's disk, as a guest changing them would.
func writeChanged(t testing.TB, s *vsim.Sim, vmName string, prev, next []byte) int {
	t.Helper()
	n := 0
	for off := 0; off < len(next); {
		if bytes.Equal(prev[off:off+vsim.GrainSize], next[off:off+vsim.GrainSize]) {
			off += vsim.GrainSize
			continue
		}
		end := off + vsim.GrainSize
		for end < len(next) && !bytes.Equal(prev[end:end+vsim.GrainSize], next[end:end+vsim.GrainSize]) {
			end += vsim.GrainSize
		}
		if _, err := s.GuestWriteData(vmName, "scsi0:0", int64(off), next[off:end]); err != nil {
			t.Fatal(err)
		}
		n += end - off
		off = end
	}
	return n
}

func mounted(dir string) bool {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	return strings.Contains(string(b), " "+dir+" ")
}

// TestMountReadsAFileOfEachPointWithDebugfs backs up a disk holding a
// real ext4 file system, changes a file in it, backs up incrementally,
// mounts both points and reads the file's old and new content out of the
// images with debugfs, then unmounts on SIGTERM.
func TestMountReadsAFileOfEachPointWithDebugfs(t *testing.T) {
	mkfs := needTool(t, "mkfs.ext4", "e2fsprogs")
	debugfs := needTool(t, "debugfs", "e2fsprogs")
	needTool(t, "fusermount3", "fuse3")
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Fatalf("FUSE is unavailable here: %v (load the fuse module; a container needs --device /dev/fuse)", err)
	}
	const size = 16 << 20
	e := simtest.Start(t, vsim.Options{Inventory: []vsim.VMSpec{{Name: "FS01", Disks: []vsim.DiskSpec{{Size: size}}}}})
	work := t.TempDir()
	src := filepath.Join(work, "src")
	os.MkdirAll(filepath.Join(src, "etc"), 0o755)
	oldText := "the first point's content\n"
	newText := "the second point's content, longer than the first\n"
	os.WriteFile(filepath.Join(src, "etc", "motd"), []byte(oldText), 0o644)
	img := filepath.Join(work, "fs.img")
	if o, err := exec.Command(mkfs, "-q", "-F", "-b", "4096", "-d", src, img, "16M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, o)
	}
	first, _ := os.ReadFile(img)
	if len(first) != size {
		t.Fatalf("mkfs.ext4 made an image of %d bytes", len(first))
	}
	if _, err := e.Sim.GuestWriteData("FS01", "scsi0:0", 0, first); err != nil {
		t.Fatal(err)
	}
	id1, _ := e.Backup(t, "FS01", "incremental")

	// change the file: debugfs on the image, then the changed blocks onto
	// the disk
	os.WriteFile(filepath.Join(work, "motd.new"), []byte(newText), 0o644)
	cmds := filepath.Join(work, "cmds")
	os.WriteFile(cmds, []byte("rm /etc/motd\nwrite "+filepath.Join(work, "motd.new")+" /etc/motd\n"), 0o644)
	if o, err := exec.Command(debugfs, "-w", "-f", cmds, img).CombinedOutput(); err != nil {
		t.Fatalf("debugfs -w: %v\n%s", err, o)
	}
	second, _ := os.ReadFile(img)
	if n := writeChanged(t, e.Sim, "FS01", first, second); n == 0 || n > size/4 {
		t.Fatalf("the change touched %d bytes", n)
	}
	id2, _ := e.Backup(t, "FS01", "incremental")
	cat2 := catalogOf(t, e.Dir, id2)
	if cat2.Mode != catalog.ModeIncremental || cat2.Parent != id1 {
		t.Fatalf("the second set is %s on %q, want an incremental on %s", cat2.Mode, cat2.Parent, id1)
	}

	mnt := filepath.Join(work, "mnt")
	os.Mkdir(mnt, 0o755)
	p := startVerb(t, regexp.MustCompile(`mounted 2 point\(s\) of 1 VM\(s\)`), "mount", "file://"+e.Dir, "FS01", mnt)
	name := pointread.ImageName(cat2.Disks[0])
	for _, c := range []struct{ point, want string }{
		{strings.TrimPrefix(id1, "FS01/"), oldText},
		{strings.TrimPrefix(id2, "FS01/"), newText},
		{"latest", newText},
	} {
		image := filepath.Join(mnt, "FS01", c.point, name)
		out, err := exec.Command(debugfs, "-R", "cat /etc/motd", image).Output()
		if err != nil || string(out) != c.want {
			t.Fatalf("debugfs -R 'cat /etc/motd' %s: %v\n%q, want %q", image, err, out, c.want)
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(); err != nil || !strings.Contains(p.out.String(), "unmounted "+mnt) {
		t.Fatalf("after SIGTERM: %v\n%s\n%s", err, p.out, p.errb)
	}
	if mounted(mnt) {
		t.Fatalf("%s is still mounted after vmlua mount ended", mnt)
	}
}

// TestMountEndsAtItsTimeoutUnmounted: --timeout ends a forgotten mount
// with exit 4 and nothing left mounted (whether it came before or after
// the mount was up).
func TestMountEndsAtItsTimeoutUnmounted(t *testing.T) {
	needTool(t, "fusermount3", "fuse3")
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 4 << 20})
	e.Backup(t, "VM1", "full")
	mnt := t.TempDir()
	out, err := exec.Command(simtest.Binary(t), "mount", "--timeout", "2s", "file://"+e.Dir, "VM1@latest", mnt).CombinedOutput()
	if code := exitCode(err); code != exitTimeout || mounted(mnt) {
		t.Fatalf("exit %d, still mounted %v:\n%s", code, mounted(mnt), out)
	}
}
