package transports_test

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/transporttest"
)

func cpuTime() time.Duration { return transporttest.CPUTime(syscall.RUSAGE_SELF) }

// repeatReader is an opaque source of n bytes that copies a fixed block
// (as a read from the page cache copies), so the source costs no more
// than one memcpy per byte.
type repeatReader struct {
	block []byte
	off   int
	n     int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	total := 0
	for len(p) > 0 {
		c := copy(p, r.block[r.off:])
		r.off = (r.off + c) % len(r.block)
		p = p[c:]
		total += c
	}
	r.n -= int64(total)
	return total, nil
}

// nullTarget accepts every byte and keeps none: what is left of an Upload
// is the source reads, the hash and the pipeline between them.
type nullTarget struct {
	transports.Transport // nil: only what Upload calls is implemented
	n                    atomic.Int64
}

type nullWriter struct{ t *nullTarget }

func (w nullWriter) Write(p []byte) (int, error) { w.t.n.Add(int64(len(p))); return len(p), nil }
func (w nullWriter) Close() error                { return nil }
func (w nullWriter) Abort() error                { return nil }

func (t *nullTarget) Create(context.Context, string) (transports.Writer, error) {
	t.n.Store(0)
	return nullWriter{t}, nil
}

func (t *nullTarget) Stat(context.Context, string) (transports.FileInfo, error) {
	return transports.FileInfo{Size: t.n.Load()}, nil
}
func (t *nullTarget) Rename(context.Context, string, string) error { return nil }
func (t *nullTarget) Remove(context.Context, string) error         { return nil }

// BenchmarkUploadPipelineCPU uploads 256 MiB from an opaque in-memory
// source to a target that discards it and reports CPU time per GiB: of
// Upload, of sha256 alone over the same bytes, and the difference (what
// the pipeline costs beyond the hash: the source copies and the hand-offs
// between the three goroutines). CPU time, unlike wall time, hardly moves
// when other processes load the machine; the hash is the floor of every
// Upload (it runs on one core, one chunk after the other).
func BenchmarkUploadPipelineCPU(b *testing.B) {
	const size = 256 << 20
	block := make([]byte, 1<<20)
	for i := range block {
		block[i] = byte(rand.Uint32())
	}
	t := &nullTarget{}
	ctx := context.Background()
	var cUp, cHash time.Duration
	for b.Loop() {
		c0 := cpuTime()
		res, err := transports.Upload(ctx, t, "x", &repeatReader{block: block, n: size}, transports.UploadOptions{})
		cUp += cpuTime() - c0
		if err != nil || res.Bytes != size {
			b.Fatalf("Upload: %d bytes, %v", res.Bytes, err)
		}

		b.StopTimer()
		h := sha256.New()
		c0 = cpuTime()
		for n := 0; n < size; n += len(block) {
			h.Write(block)
		}
		cHash += cpuTime() - c0
		b.StartTimer()
	}
	b.SetBytes(size)
	gib := float64(b.N) * size / (1 << 30)
	perGiB := func(d time.Duration) float64 { return float64(d.Milliseconds()) / gib }
	b.ReportMetric(perGiB(cUp), "upload-cpu-ms/GiB")
	b.ReportMetric(perGiB(cHash), "sha256-cpu-ms/GiB")
	b.ReportMetric(perGiB(cUp-cHash), "pipeline-cpu-ms/GiB")
}

// BenchmarkSHA256 is crypto/sha256 alone, 1 MiB at a time (Upload's
// chunk). With SHA-NI (amd64) it is ~2 GB/s on one core; about a third of
// that means the CPU lacks the extension or GODEBUG=cpu.sha=off.
func BenchmarkSHA256(b *testing.B) {
	buf := make([]byte, 1<<20)
	h := sha256.New()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		h.Write(buf)
	}
}
