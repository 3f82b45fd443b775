package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/eventually"
	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/nbd"
	"github.com/vmlua/vmlua/internal/sparse"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/modules/backup/sets/pointread"
	"github.com/vmlua/vmlua/transports/file"
)

// benchSize is the disk size of the restore-access benchmarks:
// VMLUA_BENCH_SIZE (bytes; bench/'s figures set it) or 64 MiB.
func benchSize() int64 {
	if n, err := strconv.ParseInt(os.Getenv("VMLUA_BENCH_SIZE"), 10, 64); err == nil && n > 0 {
		return n
	}
	return 64 << 20
}

// restoreFlat writes the flat image of a point as restore reads it (the
// chain merged in one pass by sets.OpenChain, every layer checked) into
// a local file, zero blocks left as holes as restore keeps a thin disk
// thin: "the restored flat file".
func restoreFlat(b testing.TB, dir string, cat *catalog.Catalog, disk, out string) {
	b.Helper()
	ft, err := file.New(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer ft.Close()
	ctx := context.Background()
	chain, err := sets.ChainOf(ctx, ft, cat)
	if err != nil {
		b.Fatal(err)
	}
	ls, err := sets.LayersOf(chain, disk)
	if err != nil {
		b.Fatal(err)
	}
	cr, err := sets.OpenChain(ctx, ft, ls)
	if err != nil {
		b.Fatal(err)
	}
	defer cr.Close()
	f, err := os.Create(out)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, sparse.BlockSize)
	var off int64
	for {
		n, err := io.ReadFull(cr, buf)
		if n > 0 && !bytes.Equal(buf[:n], make([]byte, n)) {
			if _, werr := f.WriteAt(buf[:n], off); werr != nil {
				b.Fatal(werr)
			}
		}
		off += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := cr.Finish(); err != nil {
		b.Fatal(err)
	}
	if err := f.Truncate(off); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkNBDSequentialReadVsFlatFile: nbdcopy of a point's disk from
// vmlua serve nbd (a full and an incremental applied on the fly, every
// span checked) to null:, against nbdcopy of the restored flat file
// (figure 12, goal ≥ 0.5×).
func BenchmarkNBDSequentialReadVsFlatFile(b *testing.B) {
	nbdcopy := needTool(b, "nbdcopy", "libnbd-bin")
	size := benchSize()
	e := simtest.Start(b, vsim.Options{Inventory: []vsim.VMSpec{{Name: "BIG", Disks: []vsim.DiskSpec{{Size: size}}}}})
	e.Backup(b, "BIG", "incremental")
	if _, err := e.Sim.GuestWrite("BIG", 200); err != nil {
		b.Fatal(err)
	}
	id, _ := e.Backup(b, "BIG", "incremental")
	cat := catalogOf(b, e.Dir, id)
	flat := filepath.Join(b.TempDir(), "restored-flat.raw")
	restoreFlat(b, e.Dir, cat, cat.Disks[0].ID, flat)
	p := startVerb(b, nbdURL, "serve", "nbd", "--listen", "127.0.0.1:0", "file://"+e.Dir, "BIG@"+strings.TrimPrefix(id, "BIG/"))
	u := nbdURL.FindString(p.out.String())
	mem := serveInMemory(b, flat)
	copyTime := func(src string) time.Duration {
		t0 := time.Now()
		if out, err := exec.Command(nbdcopy, src, "null:").CombinedOutput(); err != nil {
			b.Fatalf("nbdcopy %s null: %v\n%s", src, err, out)
		}
		return time.Since(t0)
	}
	copyTime(flat) // both in the page cache
	copyTime(u)
	copyTime(mem)
	var tf, tn, tm time.Duration
	for b.Loop() {
		tf += copyTime(flat)
		tn += copyTime(u)
		tm += copyTime(mem)
	}
	mib := float64(size) / (1 << 20) * float64(b.N)
	b.ReportMetric(mib/tn.Seconds(), "nbd_MiB/s")
	b.ReportMetric(mib/tf.Seconds(), "file_MiB/s")
	b.ReportMetric(tf.Seconds()/tn.Seconds(), "nbd/file")
	// the protocol's own ceiling here: the same image, its zero blocks as
	// holes, served from memory by the same NBD server, read the same way
	b.ReportMetric(mib/tm.Seconds(), "mem_MiB/s")
	b.ReportMetric(tm.Seconds()/tn.Seconds(), "nbd/mem")
	// the index ran in the background while the first copy read
	eventually.True(b, "serve nbd to log the end of its index", func() bool { return strings.Contains(p.errb.String(), "disk indexed") })
	took := regexp.MustCompile(`disk indexed.* took=(\S+)`).FindStringSubmatch(p.errb.String())
	if took != nil {
		if d, err := time.ParseDuration(took[1]); err == nil {
			b.ReportMetric(float64(d.Milliseconds()), "index_ms")
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.wait()
}

// serveInMemory serves the flat image file from memory over NBD, in this
// process, with its zero 64 KiB blocks as holes (as the restore point's
// export tells them), and returns its URL: what nbdcopy reaches when
// reading a disk costs nothing.
func serveInMemory(b *testing.B, flat string) string {
	img, err := os.ReadFile(flat)
	if err != nil {
		b.Fatal(err)
	}
	const blk = 64 << 10
	zero := func(off int64) bool {
		end := min(off+blk, int64(len(img)))
		for _, c := range img[off:end] {
			if c != 0 {
				return false
			}
		}
		return true
	}
	zeros := make([]bool, (int64(len(img))+blk-1)/blk)
	for i := range zeros {
		zeros[i] = zero(int64(i) * blk)
	}
	m := func(off, length int64) ([]nbd.Extent, error) {
		var out []nbd.Extent
		end := min(off+length, int64(len(img)))
		for at := off; at < end; {
			e := nbd.Extent{Offset: at, Len: min((at/blk+1)*blk, end) - at, Zero: zeros[at/blk]}
			if n := len(out); n > 0 && out[n-1].Zero == e.Zero {
				out[n-1].Len += e.Len
			} else {
				out = append(out, e)
			}
			at += e.Len
		}
		return out, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&nbd.Server{Exports: []nbd.Export{{Name: "mem", Size: int64(len(img)), Data: bytes.NewReader(img), Map: m}}}).Serve(ctx, l)
	}()
	b.Cleanup(func() { cancel(); <-done })
	return "nbd://" + l.Addr().String() + "/mem"
}

// BenchmarkMountToFirstByteOf5thIncremental: from starting vmlua mount
// to debugfs printing a guest file out of the 5th incremental's point of
// a disk (its first 64 MiB an ext4 file system, the rest the simulator's
// data: about 3/4 of the disk), against restoring that point to a local
// flat file and running the same debugfs on it (figure 13, goal < 2 s);
// and vmlua files get of the same file, to its bytes on stdout (the
// figure's second row).
func BenchmarkMountToFirstByteOf5thIncremental(b *testing.B) {
	mkfs := needTool(b, "mkfs.ext4", "e2fsprogs")
	debugfs := needTool(b, "debugfs", "e2fsprogs")
	needTool(b, "fusermount3", "fuse3")
	simtest.Binary(b) // built before the clock starts
	size := benchSize()
	const fsSize = 64 << 20
	e := simtest.Start(b, vsim.Options{Inventory: []vsim.VMSpec{{Name: "FS01", Disks: []vsim.DiskSpec{{Size: max(size, fsSize)}}}}})
	work := b.TempDir()
	src := filepath.Join(work, "src")
	os.MkdirAll(filepath.Join(src, "etc"), 0o755)
	big := make([]byte, fsSize/2)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	os.WriteFile(filepath.Join(src, "data.bin"), big, 0o644)
	os.WriteFile(filepath.Join(src, "etc", "motd"), []byte("point 0\n"), 0o644)
	img := filepath.Join(work, "fs.img")
	if o, err := exec.Command(mkfs, "-q", "-F", "-b", "4096", "-d", src, img, strconv.Itoa(fsSize/1024)+"K").CombinedOutput(); err != nil {
		b.Fatalf("mkfs.ext4: %v\n%s", err, o)
	}
	prev, _ := os.ReadFile(img)
	if _, err := e.Sim.GuestWriteData("FS01", "scsi0:0", 0, prev); err != nil {
		b.Fatal(err)
	}
	id, _ := e.Backup(b, "FS01", "incremental")
	motd := ""
	for i := 1; i <= 5; i++ {
		motd = fmt.Sprintf("point %d: the file this figure reads\n", i)
		os.WriteFile(filepath.Join(work, "motd"), []byte(motd), 0o644)
		cmds := filepath.Join(work, "cmds")
		os.WriteFile(cmds, []byte("rm /etc/motd\nwrite "+filepath.Join(work, "motd")+" /etc/motd\n"), 0o644)
		if o, err := exec.Command(debugfs, "-w", "-f", cmds, img).CombinedOutput(); err != nil {
			b.Fatalf("debugfs -w: %v\n%s", err, o)
		}
		next, _ := os.ReadFile(img)
		writeChanged(b, e.Sim, "FS01", prev, next)
		prev = next
		id, _ = e.Backup(b, "FS01", "incremental")
	}
	cat := catalogOf(b, e.Dir, id)
	if cat.Depth != 5 {
		b.Fatalf("the last set is at depth %d, want the 5th incremental", cat.Depth)
	}
	point := strings.TrimPrefix(id, "FS01/")
	name := pointread.ImageName(cat.Disks[0])
	var tm, tr, tf time.Duration
	for b.Loop() {
		// vmlua mount, to the file's bytes out of the image
		mnt := b.TempDir()
		t0 := time.Now()
		p := startVerb(b, regexp.MustCompile(`mounted \d+ point`), "mount", "file://"+e.Dir, "FS01@"+point, mnt)
		out, err := exec.Command(debugfs, "-R", "cat /etc/motd", filepath.Join(mnt, "FS01", point, name)).Output()
		tm += time.Since(t0)
		if err != nil || string(out) != motd {
			b.Fatalf("debugfs on the mounted point: %v %q", err, out)
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		if err := p.wait(); err != nil {
			b.Fatalf("vmlua mount after SIGTERM: %v\n%s", err, p.errb)
		}
		// vmlua files get: no mount, no guest tool
		t0 = time.Now()
		out, err = exec.Command(simtest.Binary(b), "files", "get", "file://"+e.Dir, "FS01@"+point, "/etc/motd").Output()
		tf += time.Since(t0)
		if err != nil || string(out) != motd {
			b.Fatalf("vmlua files get: %v %q", err, out)
		}
		// the restore way: the whole point to a flat file, then debugfs
		flat := filepath.Join(b.TempDir(), "flat.raw")
		t0 = time.Now()
		restoreFlat(b, e.Dir, cat, cat.Disks[0].ID, flat)
		out, err = exec.Command(debugfs, "-R", "cat /etc/motd", flat).Output()
		tr += time.Since(t0)
		if err != nil || string(out) != motd {
			b.Fatalf("debugfs on the restored point: %v %q", err, out)
		}
		os.Remove(flat)
	}
	n := float64(b.N)
	b.ReportMetric(tm.Seconds()*1000/n, "mount_to_file_ms")
	b.ReportMetric(tr.Seconds()*1000/n, "restore_to_file_ms")
	b.ReportMetric(tf.Seconds()*1000/n, "files_get_ms")
	b.ReportMetric(float64(size)/(1<<20), "disk_MiB")
}
