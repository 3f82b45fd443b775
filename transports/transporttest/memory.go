package transporttest

import (
	"context"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/vmlua/vmlua/transports"
)

// MaxStreamHeap is the most heap one stream may add: the issue's "peak
// memory under 64 MiB per stream".
const MaxStreamHeap = 64 << 20

// MemoryStreamSize is the size MemoryBound uploads when given 0: big
// enough that anything proportional to the stream would show.
const MemoryStreamSize = 256 << 20

// heapInUse is the runtime/metrics view of MemStats.HeapInuse (spans in
// use: live objects, garbage not yet collected, and their fragmentation),
// read without stopping the world.
var heapInUse = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/unused:bytes"},
}

func readHeap(s []metrics.Sample) uint64 {
	metrics.Read(s)
	var n uint64
	for _, x := range s {
		if x.Value.Kind() == metrics.KindUint64 {
			n += x.Value.Uint64()
		}
	}
	return n
}

// MemoryBound uploads size bytes (MemoryStreamSize when 0) from an opaque
// reader to tr with transports.Upload while sampling the heap every 5 ms,
// checks the upload's sha256, and fails the test when the heap grew by
// MaxStreamHeap or more over what it held before the upload (after a GC).
// It returns the peak growth. Everything in the test binary counts, so an
// in-process server's allocations are charged to the stream: use an
// out-of-process server where there is one.
func MemoryBound(t *testing.T, tr transports.Transport, size int64) uint64 {
	t.Helper()
	if size <= 0 {
		size = MemoryStreamSize
	}
	s := make([]metrics.Sample, len(heapInUse))
	copy(s, heapInUse)
	runtime.GC()
	base := readHeap(s)
	peak := base
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := make([]metrics.Sample, len(heapInUse))
		copy(s, heapInUse)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if h := readHeap(s); h > peak {
				peak = h
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	src, sum := Stream(12, size)
	res, err := transports.Upload(ctxT(t), tr, "memory.bin", src, transports.UploadOptions{})
	close(stop)
	<-done
	if err != nil {
		t.Fatalf("Upload of %d MiB: %v", size>>20, err)
	}
	if res.Bytes != size || res.SHA256 != sum() {
		t.Fatalf("uploaded %d bytes sha256 %s, want %d bytes sha256 %s", res.Bytes, res.SHA256, size, sum())
	}
	var grew uint64
	if peak > base {
		grew = peak - base
	}
	t.Logf("%s: heap in use grew by at most %.1f MiB during a %d MiB stream (limit %d MiB)", tr.URL(), float64(grew)/(1<<20), size>>20, MaxStreamHeap>>20)
	if grew >= MaxStreamHeap {
		t.Errorf("heap grew by %.1f MiB during one %d MiB stream, want < %d MiB", float64(grew)/(1<<20), size>>20, MaxStreamHeap>>20)
	}
	_ = tr.Remove(context.Background(), "memory.bin")
	return grew
}
