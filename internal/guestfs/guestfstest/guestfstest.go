// Package guestfstest makes disk images with real file systems for tests:
// a partition table written by sfdisk (GPT or MBR) and in it file systems
// made by mkfs.ext4 -d and mkfs.vfat + mcopy, as an installer would. It
// changes files in them with debugfs and mcopy, so that a test can back
// a disk up, change it, and back it up again.
package guestfstest

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Part is a partition to make.
type Part struct {
	FS    string            // "ext4", "vfat" (FAT16 at small sizes), "fat32", or "" (none)
	Size  int64             // bytes, a multiple of 1 MiB
	Files map[string]string // path in the file system -> content; folders are made as needed
}

// Disk is a disk image being built: the file in Dir, its partitions.
type Disk struct {
	t     testing.TB
	Path  string
	Size  int64
	Parts []Part
	// Starts are the partitions' first bytes.
	Starts []int64
	dir    string
}

// Tool finds a tool or fails the test saying which Debian package has it.
func Tool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		p2 := filepath.Join("/usr/sbin", name)
		if _, err2 := os.Stat(p2); err2 == nil {
			return p2
		}
		t.Fatalf("%s is needed (Debian package %s; .ci/install-deps installs it): %v", name, pkg, err)
	}
	return p
}

func run(t testing.TB, stdin string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// New makes a disk of size bytes with a table ("gpt", "mbr") holding
// parts in order from 1 MiB on, each partition's file system filled with
// its files.
func New(t testing.TB, table string, size int64, parts ...Part) *Disk {
	t.Helper()
	dir := t.TempDir()
	d := &Disk{t: t, Path: filepath.Join(dir, "disk.img"), Size: size, Parts: parts, dir: dir}
	if err := os.WriteFile(d.Path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(d.Path, size); err != nil {
		t.Fatal(err)
	}
	script := "label: " + map[string]string{"gpt": "gpt", "mbr": "dos"}[table] + "\n"
	start := int64(1 << 20)
	for _, p := range parts {
		typ := map[string]map[string]string{
			"gpt": {"ext4": "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "vfat": "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "fat32": "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "": "0FC63DAF-8483-4772-8E79-3D69D8477DE4"},
			"mbr": {"ext4": "83", "vfat": "6", "fat32": "c", "": "83"},
		}[table][p.FS]
		script += fmt.Sprintf("start=%d, size=%d, type=%s\n", start/512, p.Size/512, typ)
		d.Starts = append(d.Starts, start)
		start += p.Size
	}
	run(t, script, Tool(t, "sfdisk", "fdisk"), "--quiet", d.Path)
	for i, p := range parts {
		if p.FS == "" {
			continue
		}
		img := d.fsImage(i)
		src := filepath.Join(dir, fmt.Sprintf("src%d", i))
		write := func(root string, files map[string]string) {
			for name, content := range files {
				f := filepath.Join(root, filepath.FromSlash(name))
				os.MkdirAll(filepath.Dir(f), 0o755)
				if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		os.MkdirAll(src, 0o755)
		write(src, p.Files)
		switch p.FS {
		case "ext4":
			run(t, "", Tool(t, "mkfs.ext4", "e2fsprogs"), "-q", "-F", "-b", "4096", "-d", src, img, fmt.Sprint(p.Size>>10)+"k")
		case "vfat", "fat32":
			os.WriteFile(img, nil, 0o644)
			os.Truncate(img, p.Size)
			args := []string{"-n", "GUEST"}
			if p.FS == "fat32" {
				args = append(args, "-F", "32")
			}
			run(t, "", Tool(t, "mkfs.vfat", "dosfstools"), append(args, img)...)
			d.mcopy(img, p.Files, false)
		default:
			t.Fatalf("guestfstest: no file system %q", p.FS)
		}
		d.embed(i)
	}
	return d
}

// fsImage is the file the file system of partition i is made in.
func (d *Disk) fsImage(i int) string { return filepath.Join(d.dir, fmt.Sprintf("part%d.img", i)) }

// mcopy copies files into a FAT image, making their folders.
func (d *Disk) mcopy(img string, files map[string]string, overwrite bool) {
	t := d.t
	mmd, mcp := Tool(t, "mmd", "mtools"), Tool(t, "mcopy", "mtools")
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	made := map[string]bool{}
	for _, n := range names {
		var dirs []string
		for dir := path.Dir(n); dir != "." && dir != "/"; dir = path.Dir(dir) {
			dirs = append([]string{dir}, dirs...)
		}
		for _, dir := range dirs {
			if !made[dir] && !overwrite {
				run(t, "", mmd, "-i", img, "::/"+dir)
				made[dir] = true
			}
		}
		f := filepath.Join(d.dir, "mcopy.tmp")
		os.WriteFile(f, []byte(files[n]), 0o644)
		run(t, "", mcp, "-o", "-i", img, f, "::/"+n)
	}
}

// embed writes partition i's file system into the disk image.
func (d *Disk) embed(i int) {
	b, err := os.ReadFile(d.fsImage(i))
	if err != nil {
		d.t.Fatal(err)
	}
	f, err := os.OpenFile(d.Path, os.O_WRONLY, 0)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, d.Starts[i]); err != nil {
		d.t.Fatal(err)
	}
}

// Change replaces (or adds) files of partition i's file system with
// debugfs (ext4) or mcopy (FAT), as a guest writing them would.
func (d *Disk) Change(i int, files map[string]string) {
	t := d.t
	img := d.fsImage(i)
	switch d.Parts[i].FS {
	case "ext4":
		var cmds strings.Builder
		n := 0
		for name, content := range files {
			f := filepath.Join(d.dir, fmt.Sprintf("new%d", n))
			n++
			os.WriteFile(f, []byte(content), 0o644)
			fmt.Fprintf(&cmds, "rm /%s\nwrite %s /%s\n", name, f, name)
		}
		run(t, cmds.String(), Tool(t, "debugfs", "e2fsprogs"), "-w", "-f", "-", img)
	default:
		d.mcopy(img, files, true)
	}
	d.embed(i)
}

// Bytes is the disk image.
func (d *Disk) Bytes() []byte {
	b, err := os.ReadFile(d.Path)
	if err != nil {
		d.t.Fatal(err)
	}
	return b
}
