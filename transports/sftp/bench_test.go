package sftp_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/transporttest"
)

var benchSize = transporttest.BenchSize(1 << 30)

// BenchmarkUpload is the suite's Upload benchmark against sshd.
func BenchmarkUpload(b *testing.B) {
	b.Setenv("SSH_AUTH_SOCK", "")
	srv := testservers.SSHD(b)
	transporttest.Bench(b, transporttest.Target{
		Name: "sftp",
		NewB: func(b *testing.B) transports.Transport {
			return openTB(b, srv.URL("sftp", freshDir(b, srv)), keyCreds(srv))
		},
	}, benchSize)
}

// BenchmarkUploadVsScp uploads the same 1 GiB to the same sshd with Upload
// (opaque reader, sha256, rename) and with OpenSSH's scp (SFTP protocol, its
// default since 9.0) and scp -O (the legacy protocol), alternating, and
// reports each rate and the ratios upload/scp.
func BenchmarkUploadVsScp(b *testing.B) {
	b.Setenv("SSH_AUTH_SOCK", "")
	if _, err := exec.LookPath("scp"); err != nil {
		b.Fatalf("scp (Debian package openssh-client) is needed: %v", err)
	}
	srv := testservers.SSHD(b)
	src := transporttest.SourceFile(b, benchSize)
	dir := freshDir(b, srv)
	tr := openTB(b, srv.URL("sftp", dir), keyCreds(srv))
	ctx := context.Background()
	scp := func(legacy bool) time.Duration {
		os.Remove(filepath.Join(dir, "scp.bin"))
		args := []string{"-q", "-B", "-i", srv.ClientKeyFile, "-P", strconv.Itoa(srv.Port),
			"-o", "UserKnownHostsFile=" + srv.KnownHostsFile, "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes"}
		if legacy {
			args = append(args, "-O")
		}
		args = append(args, src, srv.User.Name+"@"+srv.Host+":"+dir+"/scp.bin")
		start := time.Now()
		if out, err := exec.Command("scp", args...).CombinedOutput(); err != nil {
			b.Fatalf("scp: %v: %s", err, out)
		}
		return time.Since(start)
	}
	var tUp, tScp, tLegacy time.Duration
	for b.Loop() {
		tScp += scp(false)
		tLegacy += scp(true)
		os.Remove(filepath.Join(dir, "scp.bin"))
		f, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		_, err = transports.Upload(ctx, tr, "up.bin", transporttest.Opaque(f), transports.UploadOptions{})
		tUp += time.Since(start)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		os.Remove(filepath.Join(dir, "up.bin"))
	}
	b.SetBytes(benchSize * 3)
	mibs := func(d time.Duration) float64 { return float64(b.N) * float64(benchSize) / (1 << 20) / d.Seconds() }
	b.ReportMetric(mibs(tUp), "upload-MiB/s")
	b.ReportMetric(mibs(tScp), "scp-MiB/s")
	b.ReportMetric(mibs(tLegacy), "scp-O-MiB/s")
	b.ReportMetric(tScp.Seconds()/tUp.Seconds(), "upload/scp")
	b.ReportMetric(tLegacy.Seconds()/tUp.Seconds(), "upload/scp-O")
}
