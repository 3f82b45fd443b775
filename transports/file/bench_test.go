package file_test

import (
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/file"
	"github.com/vmlua/vmlua/transports/transporttest"
)

var benchSize = transporttest.BenchSize(1 << 30)

// BenchmarkUpload is the suite's Upload benchmark on file://.
func BenchmarkUpload(b *testing.B) {
	transporttest.Bench(b, transporttest.Target{
		Name: "file",
		NewB: func(b *testing.B) transports.Transport { return newTB(b) },
	}, benchSize)
}

// BenchmarkUploadVsCp uploads 1 GiB from an opaque reader with Upload
// (span digests, as backups use it; fsync, rename) and copies the same file with cp, alternating, and
// reports both rates and their ratio. cp alone leaves the bytes in the page
// cache; "cp+sync" adds `sync FILE` (fsync), which is what Upload
// guarantees. Both read the same source from the page cache.
//
// The two do not do the same work: cp copies inside the kernel
// (copy_file_range, no copy to user space, no hash), Upload reads into its
// buffers, writes them back and sha256s every byte (span by span, on every
// core). So it also
// reports CPU time per GiB (Upload: this process; cp and sync: their
// rusage), which moves much less than wall time when other processes load
// the machine, and sha256 alone over as many bytes: no Upload can finish
// before its hash, so "hash-bound-upload/cp" (cp's time over the hash's
// CPU time) is the best upload/cp any implementation could reach in that
// run, and likewise for cp+sync.
func BenchmarkUploadVsCp(b *testing.B) {
	src := transporttest.SourceFile(b, benchSize)
	dir := b.TempDir()
	tr, err := file.New(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	ctx := context.Background()
	var tUp, tCp, tSync, cUp, cCp, cSync, cHash time.Duration
	block := make([]byte, 1<<20)
	for b.Loop() {
		os.Remove(filepath.Join(dir, "cp.bin"))
		os.Remove(filepath.Join(dir, "up.bin"))
		c0, start := transporttest.CPUTime(syscall.RUSAGE_CHILDREN), time.Now()
		if out, err := exec.Command("cp", src, filepath.Join(dir, "cp.bin")).CombinedOutput(); err != nil {
			b.Fatalf("cp: %v: %s", err, out)
		}
		tCp += time.Since(start)
		cCp += transporttest.CPUTime(syscall.RUSAGE_CHILDREN) - c0
		if out, err := exec.Command("sync", filepath.Join(dir, "cp.bin")).CombinedOutput(); err != nil {
			b.Fatalf("sync: %v: %s", err, out)
		}
		tSync += time.Since(start)
		cSync += transporttest.CPUTime(syscall.RUSAGE_CHILDREN) - c0
		os.Remove(filepath.Join(dir, "cp.bin"))

		w, c := transporttest.TimedUpload(b, ctx, tr, "up.bin", src)
		tUp += w
		cUp += c

		b.StopTimer()
		h := sha256.New()
		c0 = transporttest.CPUTime(syscall.RUSAGE_SELF)
		for n := int64(0); n < benchSize; n += int64(len(block)) {
			h.Write(block[:min(int64(len(block)), benchSize-n)])
		}
		cHash += transporttest.CPUTime(syscall.RUSAGE_SELF) - c0
		b.StartTimer()
	}
	b.SetBytes(benchSize * 3) // three copies per iteration
	mibs := func(d time.Duration) float64 { return float64(b.N) * float64(benchSize) / (1 << 20) / d.Seconds() }
	b.ReportMetric(mibs(tUp), "upload-MiB/s")
	b.ReportMetric(mibs(tCp), "cp-MiB/s")
	b.ReportMetric(mibs(tSync), "cp+sync-MiB/s")
	b.ReportMetric(tCp.Seconds()/tUp.Seconds(), "upload/cp")
	b.ReportMetric(tSync.Seconds()/tUp.Seconds(), "upload/cp+sync")
	gib := float64(b.N) * float64(benchSize) / (1 << 30)
	perGiB := func(d time.Duration) float64 { return float64(d.Milliseconds()) / gib }
	b.ReportMetric(perGiB(cUp), "upload-cpu-ms/GiB")
	b.ReportMetric(perGiB(cCp), "cp-cpu-ms/GiB")
	b.ReportMetric(perGiB(cSync), "cp+sync-cpu-ms/GiB")
	b.ReportMetric(perGiB(cHash), "sha256-cpu-ms/GiB")
	b.ReportMetric(tCp.Seconds()/cHash.Seconds(), "hash-bound-upload/cp")
	b.ReportMetric(tSync.Seconds()/cHash.Seconds(), "hash-bound-upload/cp+sync")
}
