package file_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
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
// (sha256, fsync, rename) and copies the same file with cp, alternating, and
// reports both rates and their ratio. cp alone leaves the bytes in the page
// cache; "cp+sync" adds `sync FILE` (fsync), which is what Upload
// guarantees.
func BenchmarkUploadVsCp(b *testing.B) {
	src := transporttest.SourceFile(b, benchSize)
	dir := b.TempDir()
	tr, err := file.New(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	ctx := context.Background()
	var tUp, tCp, tSync time.Duration
	for b.Loop() {
		os.Remove(filepath.Join(dir, "cp.bin"))
		os.Remove(filepath.Join(dir, "up.bin"))
		start := time.Now()
		if out, err := exec.Command("cp", src, filepath.Join(dir, "cp.bin")).CombinedOutput(); err != nil {
			b.Fatalf("cp: %v: %s", err, out)
		}
		tCp += time.Since(start)
		if out, err := exec.Command("sync", filepath.Join(dir, "cp.bin")).CombinedOutput(); err != nil {
			b.Fatalf("sync: %v: %s", err, out)
		}
		tSync += time.Since(start)
		os.Remove(filepath.Join(dir, "cp.bin"))

		f, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		_, err = transports.Upload(ctx, tr, "up.bin", transporttest.Opaque(f), transports.UploadOptions{})
		tUp += time.Since(start)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(benchSize * 3) // three copies per iteration
	mibs := func(d time.Duration) float64 { return float64(b.N) * float64(benchSize) / (1 << 20) / d.Seconds() }
	b.ReportMetric(mibs(tUp), "upload-MiB/s")
	b.ReportMetric(mibs(tCp), "cp-MiB/s")
	b.ReportMetric(mibs(tSync), "cp+sync-MiB/s")
	b.ReportMetric(tCp.Seconds()/tUp.Seconds(), "upload/cp")
	b.ReportMetric(tSync.Seconds()/tUp.Seconds(), "upload/cp+sync")
}
