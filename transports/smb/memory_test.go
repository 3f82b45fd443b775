package smb_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/testservers"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/transporttest"
)

func TestAStreamUploadStaysUnder64MiBOfHeap(t *testing.T) {
	s := testservers.SMBD(t, testservers.SMBDOptions{SigningMandatory: true})
	tr := open(t, s, freshDir(t, s))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	const size = 512 << 20
	src, sum := transporttest.Stream(11, size)
	res, err := transports.Upload(context.Background(), tr, "big.bin", src, transports.UploadOptions{})
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if res.Bytes != size || res.SHA256 != sum() {
		t.Fatalf("uploaded %d bytes %s, want %d %s", res.Bytes, res.SHA256, size, sum())
	}
	grew := int64(peak.Load()) - int64(base)
	t.Logf("heap in use grew by at most %.1f MiB during a %d MiB upload", float64(grew)/(1<<20), size>>20)
	if grew > 64<<20 {
		t.Fatalf("heap grew by %d MiB during one stream, want < 64 MiB", grew>>20)
	}
}
