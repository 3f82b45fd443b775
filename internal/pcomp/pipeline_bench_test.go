package pcomp_test

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/pcomp"
	"github.com/vmlua/vmlua/internal/spansum"
	"github.com/vmlua/vmlua/internal/sparse"
)

// pattern is a compressible image piece: words drawn from a small
// dictionary with random numbers between them (zstd -3 makes it about a
// third), one 64 KiB block in eight zero; its length is not a multiple of
// the frame size, so frames differ.
func pattern() []byte {
	words := strings.Fields("the quick brown fox jumps over a lazy dog while seven backup sets of DB01 wait on LocalDS_0 for their catalog and snapshot to finish")
	r := rand.New(rand.NewPCG(5, 6))
	var sb strings.Builder
	for sb.Len() < 4<<20+64<<10 {
		sb.WriteString(words[r.IntN(len(words))])
		sb.WriteString(strconv.Itoa(r.IntN(1000)))
		sb.WriteByte(' ')
	}
	b := []byte(sb.String())[:4<<20+64<<10]
	for i := 3 << 16; i < len(b); i += 8 << 16 {
		clear(b[i:min(i+1<<16, len(b))])
	}
	return b
}

type hashSink struct{ h *spansum.Hasher }

func (s hashSink) Write(p []byte) (int, error) { return s.h.Write(p) }

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPipelineScaling runs the backup's disk pipeline on 64 MiB of
// image (the vmlua-sparse encoder, zstd frames on pcomp's workers, the
// span digest of the compressed stream, as the AtomicWriter computes it)
// and the span digest alone, each with GOMAXPROCS 1 and then 2, and
// reports the wall times, CPU per GiB and the speed-ups: how the same code
// goes faster with more cores.
func BenchmarkPipelineScaling(b *testing.B) {
	pat := pattern()
	const size = 64 << 20
	pipeline := func() {
		h := spansum.New()
		cw, err := pcomp.NewWriter(hashSink{h}, pcomp.Zstd, 0)
		if err != nil {
			b.Fatal(err)
		}
		sw := sparse.NewWriter(cw, size)
		for n := 0; n < size; {
			k := min(len(pat), size-n)
			if _, err := sw.Write(pat[:k]); err != nil {
				b.Fatal(err)
			}
			n += k
		}
		if err := sw.Close(); err != nil {
			b.Fatal(err)
		}
		if err := cw.Close(); err != nil {
			b.Fatal(err)
		}
		h.Sum()
	}
	spans := func() {
		h := spansum.New()
		free := make(chan struct{}, 12)
		for range 12 {
			free <- struct{}{}
		}
		for n := 0; n < size; n += 1 << 20 {
			<-free
			h.Add(pat[n%(4<<20):n%(4<<20)+1<<20], func() { free <- struct{}{} })
		}
		h.Sum()
	}
	prev := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prev)
	var wall, cpu [2][2]time.Duration // [pipeline, spans][procs-1]
	for b.Loop() {
		for p := 1; p <= 2; p++ {
			runtime.GOMAXPROCS(p)
			for i, fn := range []func(){pipeline, spans} {
				runtime.GC()
				c0, t0 := cpuNow(), time.Now()
				fn()
				wall[i][p-1] += time.Since(t0)
				cpu[i][p-1] += cpuNow() - c0
			}
		}
	}
	runtime.GOMAXPROCS(prev)
	gib := float64(b.N) * size / (1 << 30)
	msGiB := func(d time.Duration) float64 { return float64(d.Milliseconds()) / gib }
	b.ReportMetric(msGiB(wall[0][0]), "pipeline-p1-ms/GiB")
	b.ReportMetric(msGiB(wall[0][1]), "pipeline-p2-ms/GiB")
	b.ReportMetric(msGiB(cpu[0][1]), "pipeline-cpu-ms/GiB")
	b.ReportMetric(wall[0][0].Seconds()/wall[0][1].Seconds(), "pipeline-speedup")
	b.ReportMetric(msGiB(wall[1][0]), "spans-p1-ms/GiB")
	b.ReportMetric(msGiB(wall[1][1]), "spans-p2-ms/GiB")
	b.ReportMetric(msGiB(cpu[1][1]), "spans-cpu-ms/GiB")
	b.ReportMetric(wall[1][0].Seconds()/wall[1][1].Seconds(), "spans-speedup")
}
