package guestfs_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/guestfs"
	"github.com/vmlua/vmlua/internal/guestfs/guestfstest"
)

var linuxFiles = map[string]string{
	"etc/motd":          "hello from ext4\n",
	"etc/app/conf.ini":  "[a]\nb=1\n",
	"var/log/big.log":   strings.Repeat("0123456789abcdef", 40000), // 640 KB: many blocks
	"home/user/.bashrc": "alias ll='ls -l'\n",
}
var fatFiles = map[string]string{
	"EFI/BOOT/BOOTX64.EFI": "not really a boot loader",
	"readme.txt":           "hello from FAT\n",
	"Long File Name.docx":  strings.Repeat("x", 70000),
}

func open(t *testing.T, d *guestfstest.Disk) *os.File {
	f, err := os.Open(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestReadsTheFileSystemsOfEachTableKind: a disk made with sfdisk, mkfs
// and mcopy reads back as made: its partitions and file systems found,
// every file's bytes, every folder's names.
func TestReadsTheFileSystemsOfEachTableKind(t *testing.T) {
	for _, c := range []struct {
		name  string
		table string
		parts []guestfstest.Part
		fs    []string
	}{
		{"a GPT disk with ext4 and FAT16", "gpt", []guestfstest.Part{{FS: "ext4", Size: 16 << 20, Files: linuxFiles}, {FS: "vfat", Size: 16 << 20, Files: fatFiles}}, []string{"ext4", "fat16"}},
		{"an MBR disk with FAT32 and ext4", "mbr", []guestfstest.Part{{FS: "fat32", Size: 40 << 20, Files: fatFiles}, {FS: "ext4", Size: 8 << 20, Files: linuxFiles}}, []string{"fat32", "ext4"}},
		{"a GPT disk with an empty partition and FAT12", "gpt", []guestfstest.Part{{Size: 1 << 20}, {FS: "vfat", Size: 2 << 20, Files: map[string]string{"a.txt": "small"}}}, []string{"", "fat12"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := guestfstest.New(t, c.table, 64<<20, c.parts...)
			f := open(t, d)
			ps, err := guestfs.Partitions(f, d.Size)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != len(c.parts) {
				t.Fatalf("partitions %+v, want %d", ps, len(c.parts))
			}
			for i, p := range ps {
				if p.FS != c.fs[i] || p.Table != c.table || p.Start != d.Starts[i] || p.Size != c.parts[i].Size || p.Number != i+1 {
					t.Fatalf("partition %d is %+v, want %s at %d, %d bytes", i+1, p, c.fs[i], d.Starts[i], c.parts[i].Size)
				}
				if p.FS == "" {
					if _, err := guestfs.Open(f, d.Size, p); !errors.Is(err, guestfs.ErrUnsupported) {
						t.Fatalf("opening a partition without a file system: %v", err)
					}
					continue
				}
				v, err := guestfs.Open(f, d.Size, p)
				if err != nil {
					t.Fatal(err)
				}
				checkFiles(t, v, c.parts[i].Files)
			}
		})
	}
}

// checkFiles reads every file of files out of v and lists every folder.
func checkFiles(t *testing.T, v *guestfs.Volume, files map[string]string) {
	t.Helper()
	for name, want := range files {
		r, e, err := v.Open("/" + name)
		if err != nil {
			t.Fatalf("open /%s: %v", name, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || string(got) != want || e.Size != int64(len(want)) {
			t.Fatalf("/%s: %v, %d bytes (entry %d), want %d", name, err, len(got), e.Size, len(want))
		}
		dir, base := "/"+name, ""
		dir, base = dir[:strings.LastIndex(dir, "/")], dir[strings.LastIndex(dir, "/")+1:]
		es, err := v.List(dir)
		if err != nil {
			t.Fatalf("list %q: %v", dir, err)
		}
		found := false
		for _, e := range es {
			found = found || e.Name == base && e.Mode.IsRegular() && e.Path == "/"+name
		}
		if !found {
			t.Fatalf("list %q: %+v lacks %s", dir, es, base)
		}
	}
	if _, _, err := v.Open("/no/such/file"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open of a missing file: %v", err)
	}
}

// TestWriteTarHoldsTheFolderTree: a folder as tar holds every file under
// it with its bytes, its folders, and nothing else.
func TestWriteTarHoldsTheFolderTree(t *testing.T) {
	d := guestfstest.New(t, "gpt", 32<<20, guestfstest.Part{FS: "ext4", Size: 16 << 20, Files: linuxFiles}, guestfstest.Part{FS: "vfat", Size: 8 << 20, Files: fatFiles})
	f := open(t, d)
	ps, err := guestfs.Partitions(f, d.Size)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		part int
		path string
		want map[string]string // name in the tar -> content ("/" suffix: a folder)
	}{
		{0, "/etc", map[string]string{"etc/": "", "etc/motd": linuxFiles["etc/motd"], "etc/app/": "", "etc/app/conf.ini": linuxFiles["etc/app/conf.ini"]}},
		{0, "/var/log/big.log", map[string]string{"big.log": linuxFiles["var/log/big.log"]}},
		{1, "/EFI", map[string]string{"EFI/": "", "EFI/BOOT/": "", "EFI/BOOT/BOOTX64.EFI": fatFiles["EFI/BOOT/BOOTX64.EFI"]}},
	} {
		v, err := guestfs.Open(f, d.Size, ps[c.part])
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := v.WriteTar(context.Background(), &buf, c.path); err != nil {
			t.Fatalf("tar %s: %v", c.path, err)
		}
		got := map[string]string{}
		tr := tar.NewReader(&buf)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(tr)
			got[h.Name] = string(b)
		}
		if len(got) != len(c.want) {
			t.Fatalf("tar of %s holds %d entries, want %d: %v", c.path, len(got), len(c.want), keys(got))
		}
		for n, w := range c.want {
			if g, ok := got[n]; !ok || g != w {
				t.Fatalf("tar of %s: %s is %d bytes (there: %v), want %d", c.path, n, len(g), ok, len(w))
			}
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// failing is a disk whose bytes [from, to) do not read.
type failing struct {
	r        io.ReaderAt
	from, to int64
}

var errDamaged = errors.New("span damaged")

func (f failing) ReadAt(p []byte, off int64) (int, error) {
	if off < f.to && off+int64(len(p)) > f.from {
		return 0, errDamaged
	}
	return f.r.ReadAt(p, off)
}

// TestADamagedSpanIsAnErrorNeverWrongBytes: whatever part of a file
// system does not read (a file's data, the FAT go-diskfs reads ignoring
// errors, a folder), every operation that needs it fails with the disk's
// error.
func TestADamagedSpanIsAnErrorNeverWrongBytes(t *testing.T) {
	d := guestfstest.New(t, "gpt", 80<<20, guestfstest.Part{FS: "ext4", Size: 16 << 20, Files: linuxFiles}, guestfstest.Part{FS: "vfat", Size: 8 << 20, Files: fatFiles},
		guestfstest.Part{FS: "fat32", Size: 40 << 20, Files: fatFiles})
	f := open(t, d)
	ps, err := guestfs.Partitions(f, d.Size)
	if err != nil {
		t.Fatal(err)
	}
	img := d.Bytes()
	// the FATs of partition part: the first at the reserved sectors' end
	fats := func(part int) (first, second int64) {
		b := img[d.Starts[part]:]
		rsvd, fatSz := int64(binary.LittleEndian.Uint16(b[14:])), int64(binary.LittleEndian.Uint16(b[22:]))
		if fatSz == 0 {
			fatSz = int64(binary.LittleEndian.Uint32(b[36:]))
		}
		return d.Starts[part] + rsvd*512, d.Starts[part] + (rsvd+fatSz)*512
	}
	fat16, _ := fats(1)
	_, fat32second := fats(2)
	// where a file's bytes lie on the disk
	at := func(part int, content string) int64 {
		i := bytes.Index(img[d.Starts[part]:], []byte(content))
		if i < 0 {
			t.Fatalf("%q is not on the disk", content[:10])
		}
		return d.Starts[part] + int64(i)
	}
	big := at(0, linuxFiles["var/log/big.log"])
	for _, c := range []struct {
		name     string
		part     int
		from, to int64
		op       func(v *guestfs.Volume) error
	}{
		{"a block in the middle of an ext4 file", 0, big + 300000, big + 300001, func(v *guestfs.Volume) error {
			r, _, err := v.Open("/var/log/big.log")
			if err != nil {
				return err
			}
			_, err = io.ReadAll(r)
			return err
		}},
		{"a FAT file's cluster", 1, at(1, fatFiles["Long File Name.docx"]) + 40000, at(1, fatFiles["Long File Name.docx"]) + 40001, func(v *guestfs.Volume) error {
			r, _, err := v.Open("/Long File Name.docx")
			if err != nil {
				return err
			}
			_, err = io.ReadAll(r)
			return err
		}},
		{"an ext4 file within a tar", 0, big + 4096, big + 4097, func(v *guestfs.Volume) error {
			_, err := v.WriteTar(context.Background(), io.Discard, "/var")
			return err
		}},
		{"a FAT16's table", 1, fat16 + 10, fat16 + 11, func(v *guestfs.Volume) error { return nil }},
		{"a FAT32's second table, which go-diskfs reads ignoring errors", 2, fat32second + 10, fat32second + 11, func(v *guestfs.Volume) error { return nil }},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := failing{f, c.from, c.to}
			v, err := guestfs.Open(r, d.Size, ps[c.part])
			if err == nil {
				err = c.op(v)
			}
			var re *guestfs.ReadError
			if !errors.Is(err, errDamaged) || !errors.As(err, &re) {
				t.Fatalf("got %v, want the disk's read error", err)
			}
		})
	}
	if _, err := guestfs.Partitions(failing{f, 512, 513}, d.Size); !errors.Is(err, errDamaged) {
		t.Fatalf("a damaged partition table: %v", err)
	}
}

// TestAnExt4WithInlineDataIsRefusedNotMisread: small files kept in their
// inodes would read as block numbers through the library: the volume is
// refused with ErrUnsupported, pointing to vmlua mount.
func TestAnExt4WithInlineDataIsRefusedNotMisread(t *testing.T) {
	img := filepath.Join(t.TempDir(), "fs.img")
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "small"), []byte("inline"), 0o644)
	if o, err := exec.Command(guestfstest.Tool(t, "mkfs.ext4", "e2fsprogs"), "-q", "-F", "-O", "inline_data", "-d", src, img, "8M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, o)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ps, err := guestfs.Partitions(f, 8<<20)
	if err != nil || len(ps) != 1 || ps[0].FS != guestfs.FSExt {
		t.Fatalf("partitions %+v: %v", ps, err)
	}
	if _, err := guestfs.Open(f, 8<<20, ps[0]); !errors.Is(err, guestfs.ErrUnsupported) || !strings.Contains(err.Error(), "inline_data") {
		t.Fatalf("an ext4 with inline_data opened: %v", err)
	}
}
