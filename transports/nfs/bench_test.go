package nfs_test

import (
	"io"
	"os"
	"testing"
	"time"

	nfsc "github.com/willscott/go-nfs-client/nfs"
	"github.com/willscott/go-nfs-client/nfs/rpc"
	"github.com/willscott/go-nfs-client/nfs/xdr"

	"github.com/vmlua/vmlua/internal/testservers"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/transporttest"
)

var benchSize = transporttest.BenchSize(1 << 30)

// BenchmarkUpload1GiB: transports.Upload (pipelined UNSTABLE WRITEs +
// COMMIT) of 1 GiB from an opaque reader to nfs-ganesha on loopback.
func BenchmarkUpload1GiB(b *testing.B) {
	s := testservers.Ganesha(b)
	// inflight=4/16/64 measured 616/646/668 MB/s in one run: CPU-bound on 2 cores.
	for _, q := range []string{""} {
		b.Run("params="+q, func(b *testing.B) {
			transporttest.Bench(b, transporttest.Target{
				Name: "nfs-ganesha",
				NewB: func(b *testing.B) transports.Transport { return open(b, fresh(b, s)+q) },
			}, benchSize)
		})
	}
}

// BenchmarkLibrarySequentialWriter1GiB: the same bytes through the
// unmodified go-nfs-client File.Write (one FILE_SYNC WRITE at a time) to
// the same ganesha: the baseline the pipelined writer is measured against.
func BenchmarkLibrarySequentialWriter1GiB(b *testing.B) {
	s := testservers.Ganesha(b)
	src := transporttest.SourceFile(b, benchSize)
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
	defer v.Close()
	name := s.Path + "/libbench.bin"
	b.SetBytes(benchSize)
	for b.Loop() {
		b.StopTimer()
		_ = v.Remove(name)
		b.StartTimer()
		in, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		f, err := v.OpenFile(name, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(struct{ io.Writer }{f}, transporttest.Opaque(in), make([]byte, 1<<20))
		in.Close()
		if err != nil || n != benchSize {
			b.Fatalf("copy: %d bytes, %v", n, err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
