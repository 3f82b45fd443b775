package ftp_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/transports/transporttest"
)

// BenchmarkUploadCPUVsCurl is BenchmarkUploadVsCurl (plain FTP) that also
// reports the client's CPU time per GiB: Upload's (this process) against
// curl's (its rusage), and what sha256 alone costs over the same bytes on
// one core. On a machine whose cores vsftpd and the client share, the
// client CPU Upload spends beyond curl's is the hash. No Upload finishes
// before its hash, so "hash-bound-upload/curl" (curl's time over the
// read+sha256 CPU time) is the best upload/curl any implementation could
// reach in that run.
func BenchmarkUploadCPUVsCurl(b *testing.B) {
	if _, err := exec.LookPath("curl"); err != nil {
		b.Fatalf("curl (Debian package curl) is needed: %v", err)
	}
	src := transporttest.SourceFile(b, benchSize)
	srv := testservers.VSFTPD(b, false)
	sub := freshDir(b, srv)
	dir := filepath.Join(srv.DataDir, sub)
	tr := openTB(b, srv.URL()+sub, creds(srv))
	netrc := filepath.Join(b.TempDir(), "netrc")
	if err := os.WriteFile(netrc, []byte(fmt.Sprintf("machine %s login %s password %s\n", srv.Host, srv.User.Name, srv.User.Password)), 0o600); err != nil {
		b.Fatal(err)
	}
	url := fmt.Sprintf("ftp://%s:%d/%s/curl.bin", srv.Host, srv.Port, sub)
	ctx := context.Background()
	var tUp, tCurl, cUp, cCurl, cHash time.Duration
	buf := make([]byte, 1<<20)
	for b.Loop() {
		c0, start := transporttest.CPUTime(syscall.RUSAGE_CHILDREN), time.Now()
		if out, err := exec.Command("curl", "-sS", "--netrc-file", netrc, "-T", src, url).CombinedOutput(); err != nil {
			b.Fatalf("curl: %v: %s", err, out)
		}
		tCurl += time.Since(start)
		cCurl += transporttest.CPUTime(syscall.RUSAGE_CHILDREN) - c0
		os.Remove(filepath.Join(dir, "curl.bin"))

		w, c := transporttest.TimedUpload(b, ctx, tr, "up.bin", src)
		tUp += w
		cUp += c
		os.Remove(filepath.Join(dir, "up.bin"))

		b.StopTimer()
		f, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		h := sha256.New()
		c0 = transporttest.CPUTime(syscall.RUSAGE_SELF)
		_, err = io.CopyBuffer(h, transporttest.Opaque(f), buf)
		cHash += transporttest.CPUTime(syscall.RUSAGE_SELF) - c0
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	gib := float64(b.N) * float64(benchSize) / (1 << 30)
	perGiB := func(d time.Duration) float64 { return float64(d.Milliseconds()) / gib }
	b.SetBytes(benchSize * 2)
	b.ReportMetric(float64(b.N)*float64(benchSize)/(1<<20)/tUp.Seconds(), "upload-MiB/s")
	b.ReportMetric(float64(b.N)*float64(benchSize)/(1<<20)/tCurl.Seconds(), "curl-MiB/s")
	b.ReportMetric(tCurl.Seconds()/tUp.Seconds(), "upload/curl")
	b.ReportMetric(perGiB(cUp), "upload-cpu-ms/GiB")
	b.ReportMetric(perGiB(cCurl), "curl-cpu-ms/GiB")
	b.ReportMetric(perGiB(cHash), "read+sha256-cpu-ms/GiB")
	b.ReportMetric(tCurl.Seconds()/cHash.Seconds(), "hash-bound-upload/curl")
}
