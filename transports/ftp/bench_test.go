package ftp_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/transporttest"
)

var benchSize = transporttest.BenchSize(1 << 30)

// BenchmarkUpload is the suite's Upload benchmark against vsftpd.
func BenchmarkUpload(b *testing.B) {
	for _, tls := range []bool{false, true} {
		b.Run(map[bool]string{false: "ftp", true: "ftps"}[tls], func(b *testing.B) {
			srv := testservers.VSFTPD(b, tls)
			transporttest.Bench(b, transporttest.Target{
				Name: srv.URL(),
				NewB: func(b *testing.B) transports.Transport { return openTB(b, srv.URL()+freshDir(b, srv), creds(srv)) },
			}, benchSize)
		})
	}
}

// BenchmarkUploadVsCurl uploads the same 1 GiB to the same vsftpd with
// Upload (opaque reader, sha256, rename) and with curl -T, alternating, and
// reports both rates and the ratio upload/curl, for plain FTP and FTPS.
func BenchmarkUploadVsCurl(b *testing.B) {
	if _, err := exec.LookPath("curl"); err != nil {
		b.Fatalf("curl (Debian package curl) is needed: %v", err)
	}
	src := transporttest.SourceFile(b, benchSize)
	for _, tls := range []bool{false, true} {
		b.Run(map[bool]string{false: "ftp", true: "ftps"}[tls], func(b *testing.B) {
			srv := testservers.VSFTPD(b, tls)
			sub := freshDir(b, srv)
			dir := filepath.Join(srv.DataDir, sub)
			tr := openTB(b, srv.URL()+sub, creds(srv))
			// the password goes to curl in a netrc file, not on its command line
			netrc := filepath.Join(b.TempDir(), "netrc")
			if err := os.WriteFile(netrc, []byte(fmt.Sprintf("machine %s login %s password %s\n", srv.Host, srv.User.Name, srv.User.Password)), 0o600); err != nil {
				b.Fatal(err)
			}
			args := []string{"-sS", "--netrc-file", netrc, "-T", src}
			if tls {
				args = append(args, "--ssl-reqd", "--cacert", srv.CAFile)
			}
			args = append(args, fmt.Sprintf("ftp://%s:%d/%s/curl.bin", srv.Host, srv.Port, sub))
			ctx := context.Background()
			var tUp, tCurl time.Duration
			for b.Loop() {
				start := time.Now()
				if out, err := exec.Command("curl", args...).CombinedOutput(); err != nil {
					b.Fatalf("curl: %v: %s", err, out)
				}
				tCurl += time.Since(start)
				os.Remove(filepath.Join(dir, "curl.bin"))
				f, err := os.Open(src)
				if err != nil {
					b.Fatal(err)
				}
				start = time.Now()
				_, err = transports.Upload(ctx, tr, "up.bin", transporttest.Opaque(f), transports.UploadOptions{Spans: true})
				tUp += time.Since(start)
				f.Close()
				if err != nil {
					b.Fatal(err)
				}
				os.Remove(filepath.Join(dir, "up.bin"))
			}
			b.SetBytes(benchSize * 2)
			mibs := func(d time.Duration) float64 { return float64(b.N) * float64(benchSize) / (1 << 20) / d.Seconds() }
			b.ReportMetric(mibs(tUp), "upload-MiB/s")
			b.ReportMetric(mibs(tCurl), "curl-MiB/s")
			b.ReportMetric(tCurl.Seconds()/tUp.Seconds(), "upload/curl")
		})
	}
}
