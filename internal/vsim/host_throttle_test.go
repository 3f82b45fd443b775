package vsim

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A host answers 503 to a request arriving while HostConns are being
// served, without touching the others.
func TestHostAnswers503AboveItsConcurrency(t *testing.T) {
	hold, held := make(chan struct{}), make(chan struct{})
	var n atomic.Int32
	s, c := startSim(t, Options{VMs: 1, HostConns: 1, OnFolder: func(FolderRequest) {
		if n.Add(1) == 1 {
			close(held)
			<-hold
		}
	}})
	host := hostOf(t, s, c, "VM1")
	addr, _ := s.HostAddress(host)
	var wg sync.WaitGroup
	var first int
	wg.Add(1)
	go func() {
		defer wg.Done()
		first, _ = rawGet(t, addr, "LocalDS_0", "VM1/VM1.vmdk", withCookie(c))
	}()
	<-held
	if got, _ := rawGet(t, addr, "LocalDS_0", "VM1/VM1.vmdk", withCookie(c)); got != http.StatusServiceUnavailable {
		t.Fatalf("second request while one is served: %d, want 503", got)
	}
	close(hold)
	wg.Wait()
	if first != http.StatusOK {
		t.Fatalf("the request being served: %d", first)
	}
	if got, _ := rawGet(t, addr, "LocalDS_0", "VM1/VM1.vmdk", withCookie(c)); got != http.StatusOK {
		t.Fatalf("a request after it: %d", got)
	}
	if st := s.FolderStats(host); st.Throttled != 1 {
		t.Fatalf("stats %+v, want one 503", st)
	}
}

// A connection gets at most HostRate bytes per second, all of a host's
// together at most HostTotalRate. (Lower bounds only: pacing cannot make
// a transfer faster, whatever the machine's load.)
func TestHostPacesItsConnections(t *testing.T) {
	const rate = 2 << 20
	s, c := startSim(t, Options{VMs: 1, DiskSize: 4 << 20, HostRate: rate, HostTotalRate: rate,
		Inventory: []VMSpec{{Name: "OFF", PoweredOff: true}}})
	addr, _ := s.HostAddress(hostOf(t, s, c, "OFF"))
	get := func() {
		res := rawDo(t, http.MethodGet, folderURL(addr, "LocalDS_0", "OFF/OFF-flat.vmdk"), func(r *http.Request) {
			withCookie(c)(r)
			r.Header.Set("Range", "bytes=0-1048575")
		})
		defer res.Body.Close()
		if n, err := drain(res); err != nil || n != 1<<20 || res.StatusCode != http.StatusPartialContent {
			t.Errorf("GET: %s, %d bytes, %v", res.Status, n, err)
		}
	}
	start := time.Now()
	get()
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("1 MiB at 2 MiB/s took %v", d)
	}
	// two connections share the host's total
	start = time.Now()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); get() }()
	}
	wg.Wait()
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("2 x 1 MiB under a total of 2 MiB/s took %v", d)
	}
	if st := s.FolderStats(s.hostOfVM(findVM(t, c, "OFF").Reference()).name); st.BytesOut != 3<<20 {
		t.Fatalf("stats %+v", st)
	}
}
