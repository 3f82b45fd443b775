package nfs_test

import (
	"io"
	"os"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/transporttest"
)

var benchSize = transporttest.BenchSize(1 << 30)

// BenchmarkUpload1GiB: transports.Upload (pipelined UNSTABLE WRITEs +
// COMMIT) of 1 GiB from an opaque reader to nfs-ganesha on loopback.
func BenchmarkUpload1GiB(b *testing.B) {
	s := testservers.Ganesha(b)
	// inflight=4/16/64 measured 616/646/668 MB/s in one run: CPU-bound on 2 cores.
	for _, q := range []string{""} {
		b.Run("params="+q, func(b *testing.B) {
			transporttest.Bench(b, transporttest.Target{
				Name: "nfs-ganesha",
				NewB: func(b *testing.B) transports.Transport { return open(b, fresh(b, s)+q) },
			}, benchSize)
		})
	}
}

// BenchmarkLibrarySequentialWriter1GiB: the same bytes through the
// unmodified go-nfs-client File.Write (one FILE_SYNC WRITE at a time) to
// the same ganesha: the baseline the pipelined writer is measured against.
func BenchmarkLibrarySequentialWriter1GiB(b *testing.B) {
	s := testservers.Ganesha(b)
	src := transporttest.SourceFile(b, benchSize)
	v := libraryTarget(b, s)
	defer v.Close()
	name := s.Path + "/libbench.bin"
	b.SetBytes(benchSize)
	for b.Loop() {
		b.StopTimer()
		_ = v.Remove(name)
		b.StartTimer()
		in, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		f, err := v.OpenFile(name, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(struct{ io.Writer }{f}, transporttest.Opaque(in), make([]byte, 1<<20))
		in.Close()
		if err != nil || n != benchSize {
			b.Fatalf("copy: %d bytes, %v", n, err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
