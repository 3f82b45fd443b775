package backup_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/transports/transporttest"

	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/vim25/soap"
)

// BenchmarkBackupZstd1GiB backs up a powered-off VM with a 1 GiB disk with
// zstd and compares with `zstd -T0` compressing the same flat file
// (ratio = zstd time / vmlua time; goal >= 0.5), and reports the CPU time
// of both (the backup's includes the simulator's serving of the disk).
func BenchmarkBackupZstd1GiB(b *testing.B) {
	dsDir := b.TempDir()
	e := simtest.Start(b, vsim.Options{Inventory: []vsim.VMSpec{{Name: "BIG", PoweredOff: true, Disks: []vsim.DiskSpec{{Size: 1 << 30}}}}, DatastoreDir: dsDir})
	flat := filepath.Join(dsDir, "LocalDS_0", "BIG", "BIG-flat.vmdk")
	syscall.Sync() // the disk just written is not still being flushed while either side reads it
	c0, start := transporttest.CPUTime(syscall.RUSAGE_CHILDREN), time.Now()
	if out, err := exec.Command("sh", "-c", "zstd -q -T0 -c "+flat+" > /dev/null").CombinedOutput(); err != nil {
		b.Fatalf("zstd: %v %s", err, out)
	}
	ref, refCPU := time.Since(start), transporttest.CPUTime(syscall.RUSAGE_CHILDREN)-c0
	b.ResetTimer()
	var took, cpu time.Duration
	for i := 0; i < b.N; i++ {
		c0, s := transporttest.CPUTime(syscall.RUSAGE_SELF), time.Now()
		benchRun(b, e, `require("vm").open("name:BIG"):backup{ to = arg.dest, compress = "zstd" }`)
		took += time.Since(s)
		cpu += transporttest.CPUTime(syscall.RUSAGE_SELF) - c0
	}
	b.ReportMetric(float64(ref)/float64(took/time.Duration(b.N)), "x_zstd_T0")
	b.ReportMetric(float64(ref.Milliseconds()), "zstd_T0_ms")
	b.ReportMetric(float64(refCPU.Milliseconds()), "zstd_T0_cpu_ms")
	// the simulator runs in this process: its serving is in the figure
	b.ReportMetric(float64((cpu / time.Duration(b.N)).Milliseconds()), "backup_cpu_ms")
}

// BenchmarkMostlyEmptyDisk2GiB backs up a 2 GiB disk holding 5% data and
// compares with reading every byte of it from the datastore: with changed
// block tracking on (as sites run it, and as mode="auto" sets it up), only
// the allocated areas QueryChangedDiskAreas("*") names are read
// (x_read_all, the goal); without it every byte must be read
// (x_read_all_nocbt).
func BenchmarkMostlyEmptyDisk2GiB(b *testing.B) {
	dsDir := b.TempDir()
	e := simtest.Start(b, vsim.Options{VMs: 1, DiskSize: 1 << 20, DatastoreDir: dsDir})
	const size = 2 << 30
	registerEmptyVMB(b, e, dsDir, "EMPTY", size, size/20)
	ctx := context.Background()
	fd := find.NewFinder(e.Client.Client)
	dc, _ := fd.DefaultDatacenter(ctx)
	fd.SetDatacenter(dc)
	ds, err := fd.Datastore(ctx, "LocalDS_0")
	if err != nil {
		b.Fatal(err)
	}
	syscall.Sync()
	start := time.Now()
	rc, _, err := ds.Download(ctx, "EMPTY/EMPTY-flat.vmdk", &soap.DefaultDownload)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	ref := time.Since(start)
	// powered on (a guest that does not write), tracking on, and a
	// snapshot cycle so the disk has a change id
	vmo, err := fd.VirtualMachine(ctx, "EMPTY")
	if err != nil {
		b.Fatal(err)
	}
	if task, err := vmo.PowerOn(ctx); err != nil || task.Wait(ctx) != nil {
		b.Fatalf("power on: %v", err)
	}
	if err := e.Sim.PauseGuest("EMPTY"); err != nil {
		b.Fatal(err)
	}
	benchRun(b, e, `local v = require("vm").open("name:EMPTY")
		v:backup{ to = arg.dest, mode = "auto" }`)
	b.ResetTimer()
	var took, nocbt time.Duration
	for i := 0; i < b.N; i++ {
		s := time.Now()
		benchRun(b, e, `require("vm").open("name:EMPTY"):backup{ to = arg.dest, compress = "zstd" }`)
		took += time.Since(s)
		s = time.Now()
		benchRun(b, e, `require("vm").open("name:EMPTY"):backup{ to = arg.dest, compress = "zstd", cbt = false }`)
		nocbt += time.Since(s)
	}
	b.ReportMetric(float64(ref)/float64(took/time.Duration(b.N)), "x_read_all")
	b.ReportMetric(float64(ref)/float64(nocbt/time.Duration(b.N)), "x_read_all_nocbt")
	b.ReportMetric(float64(ref.Milliseconds()), "read_all_ms")
}

func benchRun(b *testing.B, e *simtest.Env, script string) {
	tt := &testing.T{}
	err, recs := e.Run(tt, script, simtest.RunOptions{Timeout: 10 * time.Minute})
	if err != nil {
		b.Fatalf("%v\n%s", err, recs)
	}
	os.RemoveAll(e.Dir)
	os.MkdirAll(e.Dir, 0o755)
}

// BenchmarkIncrementalAfterOnePercentChanged1GiB: a full of a 1 GiB disk,
// then 1% of it changed and an incremental: bytes read (changed_bytes)
// against the bytes the guest really changed, and time against the full;
// the median of five incrementals, each after 1% changed; then the
// restore time of the 5th incremental's point against the restore of the
// full. Run with -benchtime=1x.
func BenchmarkIncrementalAfterOnePercentChanged1GiB(b *testing.B) {
	const size = 1 << 30
	e := simtest.Start(b, vsim.Options{Inventory: []vsim.VMSpec{{Name: "BIG", ChangeTracking: true, Disks: []vsim.DiskSpec{{Size: size}}}}})
	if err := e.Sim.PauseGuest("BIG"); err != nil {
		b.Fatal(err)
	}
	backupID := func() (string, time.Duration) {
		s := time.Now()
		tt := &testing.T{}
		err, recs := e.Run(tt, `print("SET " .. require("vm").open("name:BIG"):backup{ to = arg.dest, mode = "incremental" }.id)`, simtest.RunOptions{Timeout: 10 * time.Minute})
		if err != nil {
			b.Fatalf("%v\n%s", err, recs)
		}
		return printed(recs, "SET "), time.Since(s)
	}
	restore := func(id, name string) time.Duration {
		s := time.Now()
		tt := &testing.T{}
		err, recs := e.Run(tt, `require("backup").restore{ from = arg.dest, set = arg.set, datastore = "LocalDS_1", name = arg.name }`, simtest.RunOptions{Timeout: 10 * time.Minute, Args: []string{"set=" + id, "name=" + name}})
		if err != nil {
			b.Fatalf("%v\n%s", err, recs)
		}
		return time.Since(s)
	}
	changed := func(from uint64) int64 { // union of the guest's writes after from
		log, _ := e.Sim.WriteLog("BIG")
		seen := map[int64]bool{}
		for _, w := range log {
			if w.Seq > from {
				for g := w.Offset / vsim.GrainSize; g*vsim.GrainSize < w.Offset+w.Length; g++ {
					seen[g] = true
				}
			}
		}
		return int64(len(seen)) * vsim.GrainSize
	}
	changeOnePercent := func() int64 { // the guest changes 1% of the disk; returns the bytes changed
		seq0, _ := e.Sim.WriteSeq("BIG")
		var want int64
		for want < size/100 {
			if _, err := e.Sim.GuestWrite("BIG", 20); err != nil {
				b.Fatal(err)
			}
			want = changed(seq0)
		}
		return want
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		os.RemoveAll(e.Dir)
		os.MkdirAll(e.Dir, 0o755)
		fullID, fullTook := backupID()
		// five incrementals, each after 1% of the disk changed: one
		// incremental takes 0.1-0.3 s, which a stray scheduling delay
		// moves by half, so the figure is their median
		var id string
		var incs []time.Duration
		for k := 0; k < 5; k++ {
			want := changeOnePercent()
			var took time.Duration
			id, took = backupID()
			incs = append(incs, took)
			if k > 0 {
				continue
			}
			tt := &testing.T{}
			inc := readCatalogAt(tt, e.Dir, id)
			if inc.Mode != "incremental" {
				b.Fatalf("second set is %q: %s", inc.Mode, inc.FullReason)
			}
			b.ReportMetric(float64(inc.Disks[0].ChangedBytes)/float64(want), "read/changed")
			b.ReportMetric(float64(want)/(1<<20), "changed_MiB")
			b.ReportMetric(float64(readCatalogAt(tt, e.Dir, fullID).Disks[0].DataBytes)/(1<<20), "full_data_MiB")
		}
		slices.Sort(incs)
		incTook := incs[len(incs)/2]
		b.ReportMetric(float64(fullTook)/float64(incTook), "x_faster_than_full")
		b.ReportMetric(float64(fullTook.Milliseconds()), "full_ms")
		b.ReportMetric(float64(incTook.Milliseconds()), "incr_ms")
		b.ReportMetric(float64(incs[0].Milliseconds()), "incr_min_ms")
		b.ReportMetric(float64(incs[len(incs)-1].Milliseconds()), "incr_max_ms")
		// each restore writes a new 1 GiB disk: the second of two pays
		// for the first one's writeback (0.6-0.7 s here whichever went
		// first), so both are timed twice in the order A B B A, each
		// after a sync, and the sums are compared
		var rFull, rInc time.Duration
		for k, full := range []bool{false, true, true, false} {
			syscall.Sync()
			if full {
				rFull += restore(fullID, fmt.Sprintf("RF%d-%d", i, k))
			} else {
				rInc += restore(id, fmt.Sprintf("RI%d-%d", i, k))
			}
		}
		b.ReportMetric(float64(rFull.Milliseconds())/2, "restore_full_ms")
		b.ReportMetric(float64(rInc.Milliseconds())/2, "restore_5th_incr_ms")
	}
}
