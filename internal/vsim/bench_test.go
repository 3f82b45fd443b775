package vsim

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkFolderGet1GiB serves a 1 GiB disk over the simulator's /folder and
// the same file with a plain http.FileServer on loopback (both TLS, as the
// SDK is), and reports the ratio of their throughputs.
func BenchmarkFolderGet1GiB(b *testing.B) {
	const size = 1 << 30
	s, err := Start(context.Background(), Options{
		Inventory:  []VMSpec{{Name: "BIG", Disks: []DiskSpec{{Size: size}}, PoweredOff: true}},
		Datastores: 1,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	disks, _ := s.Disks("BIG")
	flat := strings.TrimSuffix(disks[0].Chain[0], ".vmdk") + "-flat.vmdk"
	local, _ := s.dsLocal(flat)

	fsrv := httptest.NewUnstartedServer(http.FileServer(http.Dir(filepath.Dir(local))))
	fsrv.Listener, _ = net.Listen("tcp", "127.0.0.1:0")
	fsrv.StartTLS()
	defer fsrv.Close()

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(u string) time.Duration {
		start := time.Now()
		res, err := client.Get(u)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || n != size {
			b.Fatalf("GET %s: %d bytes, %v", u, n, err)
		}
		return time.Since(start)
	}
	simURL := *s.URL
	simURL.User = nil
	simURL.Path = "/folder/BIG/BIG-flat.vmdk"
	simURL.RawQuery = "dcPath=DC0&dsName=LocalDS_0"
	plainURL := fsrv.URL + "/BIG-flat.vmdk"
	get(simURL.String()) // warm the page cache
	var tSim, tPlain time.Duration
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tSim += get(simURL.String())
		tPlain += get(plainURL)
	}
	b.ReportMetric(float64(tPlain)/float64(tSim), "sim/fileserver")
	b.ReportMetric(float64(size)*float64(b.N)/tSim.Seconds()/(1<<20), "sim-MiB/s")
	b.ReportMetric(float64(size)*float64(b.N)/tPlain.Seconds()/(1<<20), "fileserver-MiB/s")
}
