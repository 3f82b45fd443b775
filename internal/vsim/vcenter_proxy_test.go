package vsim

import (
	"net/http"
	"testing"
	"time"
)

// vCenter's /folder forwards to the VM's host, paced at VCenterRate per
// connection, and reaches a host whose own address cannot be reached.
func TestVCenterProxiesToTheHost(t *testing.T) {
	const rate = 1 << 20
	s, c := startSim(t, Options{VCenterRate: rate, Inventory: []VMSpec{{Name: "OFF", PoweredOff: true}}})
	host := hostOf(t, s, c, "OFF")
	if err := s.SetHostReachable(host, false); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := rawDo(t, http.MethodGet, folderURL(s.URL.Host, "LocalDS_0", "OFF/OFF-flat.vmdk"), func(r *http.Request) {
		withCookie(c)(r)
		r.Header.Set("Range", "bytes=0-524287")
	})
	n, err := drain(res)
	res.Body.Close()
	if err != nil || n != 512<<10 || res.StatusCode != http.StatusPartialContent {
		t.Fatalf("GET through vCenter: %s, %d bytes, %v", res.Status, n, err)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("512 KiB at 1 MiB/s through vCenter took %v", d)
	}
	if st := s.FolderStats(host); st.Requests != 1 || st.BytesOut != 512<<10 {
		t.Fatalf("the host served %+v, want the proxied request", st)
	}
	if st := s.FolderStats(VCenter); st.Requests != 1 || st.BytesOut != 512<<10 {
		t.Fatalf("vCenter served %+v", st)
	}
}

// Under load, vCenter's proxy answers 500 to one request in
// VCenterErrorEvery (here: every request counts as under load).
func TestVCenterProxyFailsNowAndThenUnderLoad(t *testing.T) {
	s, c := startSim(t, Options{VMs: 1, VCenterBusy: -1, VCenterErrorEvery: 2})
	var got []int
	for range 4 {
		code, _ := rawGet(t, s.URL.Host, "LocalDS_0", "VM1/VM1.vmdk", withCookie(c))
		got = append(got, code)
	}
	want := []int{200, 500, 200, 500}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses %v, want %v", got, want)
		}
	}
	if st := s.FolderStats(VCenter); st.ProxyErrors != 2 {
		t.Fatalf("stats %+v", st)
	}
}
