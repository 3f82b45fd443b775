package backup_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/vim25/soap"
)

// BenchmarkBackupZstd1GiB backs up a powered-off VM with a 1 GiB disk with
// zstd and compares with `zstd -T0` compressing the same flat file
// (ratio = zstd time / vmlua time; goal >= 0.8).
func BenchmarkBackupZstd1GiB(b *testing.B) {
	t := &testing.T{}
	_ = t
	dsDir := b.TempDir()
	e := startSimB(b, vsim.Options{Inventory: []vsim.VMSpec{{Name: "BIG", PoweredOff: true, Disks: []vsim.DiskSpec{{Size: 1 << 30}}}}, DatastoreDir: dsDir})
	flat := filepath.Join(dsDir, "LocalDS_0", "BIG", "BIG-flat.vmdk")
	start := time.Now()
	if out, err := exec.Command("sh", "-c", "zstd -q -T0 -c "+flat+" > /dev/null").CombinedOutput(); err != nil {
		b.Fatalf("zstd: %v %s", err, out)
	}
	ref := time.Since(start)
	b.ResetTimer()
	var took time.Duration
	for i := 0; i < b.N; i++ {
		s := time.Now()
		benchRun(b, e, `require("vm").open("name:BIG"):backup{ to = arg.dest, compress = "zstd" }`)
		took += time.Since(s)
	}
	b.ReportMetric(float64(ref)/float64(took/time.Duration(b.N)), "x_zstd_T0")
	b.ReportMetric(float64(ref.Milliseconds()), "zstd_T0_ms")
}

// BenchmarkMostlyEmptyDisk2GiB backs up a 2 GiB disk holding 5% data and
// compares with reading every byte of it from the datastore.
func BenchmarkMostlyEmptyDisk2GiB(b *testing.B) {
	dsDir := b.TempDir()
	e := startSimB(b, vsim.Options{VMs: 1, DiskSize: 1 << 20, DatastoreDir: dsDir})
	const size = 2 << 30
	registerEmptyVMB(b, e, dsDir, "EMPTY", size, size/20)
	ctx := context.Background()
	fd := find.NewFinder(e.client.Client)
	dc, _ := fd.DefaultDatacenter(ctx)
	fd.SetDatacenter(dc)
	ds, err := fd.Datastore(ctx, "LocalDS_0")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	rc, _, err := ds.Download(ctx, "EMPTY/EMPTY-flat.vmdk", &soap.DefaultDownload)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	ref := time.Since(start)
	b.ResetTimer()
	var took time.Duration
	for i := 0; i < b.N; i++ {
		s := time.Now()
		benchRun(b, e, `require("vm").open("name:EMPTY"):backup{ to = arg.dest, compress = "zstd" }`)
		took += time.Since(s)
	}
	b.ReportMetric(float64(ref)/float64(took/time.Duration(b.N)), "x_read_all")
	b.ReportMetric(float64(ref.Milliseconds()), "read_all_ms")
}

func benchRun(b *testing.B, e *env, script string) {
	tt := &testing.T{}
	err, recs := e.run(tt, script, runOpts{timeout: 10 * time.Minute})
	if err != nil {
		b.Fatalf("%v\n%s", err, recs)
	}
	os.RemoveAll(e.dir)
	os.MkdirAll(e.dir, 0o755)
}
