package nfs_test

import (
	"context"
	"io"
	"os"
	"testing"
	"time"

	nfsc "github.com/willscott/go-nfs-client/nfs"
	"github.com/willscott/go-nfs-client/nfs/rpc"
	"github.com/willscott/go-nfs-client/nfs/xdr"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/transporttest"
)

// BenchmarkOpenVsLibraryReader reads the same file from the same ganesha
// with Open (pipelined READs) and with the unmodified go-nfs-client
// File.Read (one READ at a time), alternating, and reports both rates and
// their ratio.
func BenchmarkOpenVsLibraryReader(b *testing.B) {
	s := testservers.Ganesha(b)
	tr := open(b, s.URL())
	ctx := context.Background()
	f, err := os.Open(transporttest.SourceFile(b, benchSize))
	if err != nil {
		b.Fatal(err)
	}
	_, err = transports.Upload(ctx, tr, "read.bin", transporttest.Opaque(f), transports.UploadOptions{})
	f.Close()
	if err != nil {
		b.Fatal(err)
	}
	v := libraryTarget(b, s)
	buf := make([]byte, 1<<20)
	var tOpen, tLib time.Duration
	for b.Loop() {
		start := time.Now()
		r, err := tr.Open(ctx, "read.bin", 0)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, transporttest.Opaque(r), buf)
		r.Close()
		if err != nil || n != benchSize {
			b.Fatalf("Open: read %d bytes, %v", n, err)
		}
		tOpen += time.Since(start)

		start = time.Now()
		lf, err := v.Open(s.Path + "/read.bin")
		if err != nil {
			b.Fatal(err)
		}
		n, err = io.CopyBuffer(io.Discard, transporttest.Opaque(lf), buf)
		if err != nil || n != benchSize {
			b.Fatalf("library: read %d bytes, %v", n, err)
		}
		tLib += time.Since(start)
	}
	b.SetBytes(benchSize * 2)
	mibs := func(d time.Duration) float64 { return float64(b.N) * float64(benchSize) / (1 << 20) / d.Seconds() }
	b.ReportMetric(mibs(tOpen), "open-MiB/s")
	b.ReportMetric(mibs(tLib), "library-MiB/s")
	b.ReportMetric(tLib.Seconds()/tOpen.Seconds(), "open/library")
}

// libraryTarget mounts s's export with the unmodified library.
func libraryTarget(b *testing.B, s *testservers.NFSServer) *nfsc.Target {
	auth := rpc.NewAuthUnix("bench", 0, 0).Auth()
	mc, err := nfsc.DialServiceAtPort(s.Host, s.MountPort)
	if err != nil {
		b.Fatal(err)
	}
	defer mc.Close()
	type mount struct {
		rpc.Header
		Dirpath string
	}
	res, err := mc.Call(&mount{rpc.Header{Rpcvers: 2, Prog: nfsc.MountProg, Vers: nfsc.MountVers, Proc: nfsc.MountProc3MNT, Cred: auth, Verf: rpc.AuthNull}, s.Export})
	if err != nil {
		b.Fatal(err)
	}
	if st, _ := xdr.ReadUint32(res); st != 0 {
		b.Fatalf("MNT %s: status %d", s.Export, st)
	}
	fh, err := xdr.ReadOpaque(res)
	if err != nil {
		b.Fatal(err)
	}
	nc, err := nfsc.DialServiceAtPort(s.Host, s.Port)
	if err != nil {
		b.Fatal(err)
	}
	v, err := nfsc.NewTargetWithClient(nc, auth, fh, s.Export, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { v.Close() })
	return v
}
