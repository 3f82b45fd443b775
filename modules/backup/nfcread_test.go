package backup_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/eventually"
	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmware/govmomi/vim25/types"
)

// objectStoreSite has a VM of one 16 MiB disk (4 image spans) on the
// vSAN datastore, one on the vVols datastore and one on VMFS, all
// tracking changed blocks, whose guests write only when told.
func objectStoreSite(t *testing.T, o vsim.Options) *simtest.Env {
	t.Helper()
	o.WriteRate = -1
	o.Inventory = []vsim.VMSpec{
		{Name: "VSAN1", ChangeTracking: true, Disks: []vsim.DiskSpec{{Size: 16 << 20, Datastore: "vsanDatastore"}}},
		{Name: "VVOL1", ChangeTracking: true, Disks: []vsim.DiskSpec{{Size: 16 << 20, Datastore: "VVOL_0"}}},
		{Name: "VMFS1", ChangeTracking: true, Disks: []vsim.DiskSpec{{Size: 16 << 20, Datastore: "LocalDS_1"}}},
	}
	return simtest.Start(t, o)
}

// backupVM backs the VM up with the Lua options opts and returns its set.
func backupVM(t *testing.T, e *simtest.Env, name, opts string) (*catalog.Catalog, *simtest.Records) {
	t.Helper()
	err, recs := e.Run(t, `
		local set = require("vm").open("name:" .. arg.vm):backup{ to = arg.dest, `+opts+` }
		assert(set.complete)
		print("SET " .. set.id)
	`, simtest.RunOptions{Args: []string{"vm=" + name}})
	if err != nil {
		t.Fatalf("backup of %s {%s}: %v\n%s", name, opts, err, recs)
	}
	return readCatalogAt(t, e.Dir, printed(recs, "SET ")), recs
}

// restoredIs restores the set as name on LocalDS_1 and compares its disk
// with vmName's disk after the guest's write seq.
func restoredIs(t *testing.T, e *simtest.Env, cat *catalog.Catalog, vmName, name string, seq uint64) {
	t.Helper()
	err, recs := e.Run(t, `require("backup").restore{ from = arg.dest, set = arg.set, datastore = "LocalDS_1", name = arg.name }`,
		simtest.RunOptions{Args: []string{"set=" + cat.ID, "name=" + name}})
	if err != nil {
		t.Fatalf("restore of %s: %v\n%s", cat.ID, err, recs)
	}
	d := cat.Disks[0]
	want, size, err := e.Sim.ExpectedContent(vmName, d.ID, seq)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.DiskSHA(t, "[LocalDS_1] "+name+"/"+d.Descriptor); got != simtest.ShaOf(t, want, size) {
		t.Errorf("%s restored is not %s's disk after write %d", cat.ID, vmName, seq)
	}
}

// TestObjectStoreDisksAreReadThroughNFC: a disk on vSAN or vVols, which
// /folder cannot serve (the old code failed with its 404), is read
// through the snapshot's NFC export lease, for a full and an incremental;
// the incremental reads the whole disk and stores only the span that
// differs, both say so in the catalog and the log, every lease is
// completed, no snapshot is left, and both sets restore byte-exact. A
// disk on VMFS is still read over /folder.
func TestObjectStoreDisksAreReadThroughNFC(t *testing.T) {
	e := objectStoreSite(t, vsim.Options{})
	for _, tc := range []struct {
		vm, path string
	}{
		{"VSAN1", vm.ReadNFC},
		{"VVOL1", vm.ReadNFC},
		{"VMFS1", vm.ReadFolder},
	} {
		t.Run(tc.vm, func(t *testing.T) {
			calls := e.Sim.Calls()
			full, recs := backupVM(t, e, tc.vm, `mode = "incremental"`)
			seq0, err := e.Sim.WriteSeq(tc.vm)
			if err != nil {
				t.Fatal(err)
			}
			fd := full.Disks[0]
			if fd.ReadPath != tc.path || fd.ReadPathReason == "" {
				t.Fatalf("the full's read path %q (%q), want %q\n%s", fd.ReadPath, fd.ReadPathReason, tc.path, recs)
			}
			if len(fd.ImageSpans) != 4 {
				t.Fatalf("the full's span digests: %v", fd.ImageSpans)
			}
			if got := recs.Find("backup: disk stored"); len(got) != 1 || got[0]["read_path"] != tc.path {
				t.Errorf("the log does not record the read path: %v", got)
			}

			disk := fd.ID
			seq, err := e.Sim.GuestWriteData(tc.vm, disk, 5<<20, bytes.Repeat([]byte{0xab}, 64<<10))
			if err != nil {
				t.Fatal(err)
			}
			inc, recs := backupVM(t, e, tc.vm, `mode = "incremental"`)
			d := inc.Disks[0]
			if inc.Mode != catalog.ModeIncremental || inc.Parent != full.ID || d.ReadPath != tc.path {
				t.Fatalf("mode %s parent %s read path %s (%s)\n%s", inc.Mode, inc.Parent, d.ReadPath, inc.FullReason, recs)
			}
			if tc.path == vm.ReadNFC {
				if d.Read != catalog.ReadFull || !strings.Contains(d.ReadReason, "NFC export lease") || !strings.Contains(d.ReadReason, "differs from the parent") {
					t.Errorf("read %q, read_reason %q", d.Read, d.ReadReason)
				}
				if d.DifferingBytes != 4<<20 || d.DataBytes > 4<<20 {
					t.Errorf("differing %d, stored data %d; want one span (4 MiB) at most", d.DifferingBytes, d.DataBytes)
				}
				ws := recs.Find("backup: the disk was read in full")
				if len(ws) != 1 || ws[0]["level"] != "WARN" || ws[0]["read_path"] != vm.ReadNFC {
					t.Errorf("the log does not say the read was full: %v", ws)
				}
				var stored int64
				for _, f := range inc.Files {
					if f.Kind == catalog.KindDisk {
						stored += f.Size
					}
				}
				t.Logf("NFC incremental of %s: read %d bytes (the whole disk), %d bytes in differing spans, %d data bytes stored, image file %d bytes (zstd)",
					tc.vm, d.Capacity, d.DifferingBytes, d.DataBytes, stored)
				now := e.Sim.Calls()
				if n := now["HttpNfcLeaseComplete"] - calls["HttpNfcLeaseComplete"]; n != 2 {
					t.Errorf("%d leases completed for two reads", n)
				}
				if n := now["HttpNfcLeaseAbort"] - calls["HttpNfcLeaseAbort"]; n != 0 {
					t.Errorf("%d leases aborted", n)
				}
			} else if d.Read != "" {
				t.Errorf("a tracked incremental over /folder says read %q (%s)", d.Read, d.ReadReason)
			}
			if s := e.Snapshots(t, tc.vm); len(s) != 0 {
				t.Errorf("snapshots left: %v", s)
			}
			restoredIs(t, e, full, tc.vm, tc.vm+"-full", seq0)
			restoredIs(t, e, inc, tc.vm, tc.vm+"-inc", seq)
		})
	}
}

// TestNFCProgressKeepsTheLeaseAlive: a read through an NFC lease that
// lasts longer than the lease's timeout (the simulator's clock advanced
// by 3 x 40 s under a 60 s timeout while the read is held) stays alive
// because the read reports its progress; it completes and the set is
// whole. Without the reports the lease times out and the read fails.
func TestNFCProgressKeepsTheLeaseAlive(t *testing.T) {
	old := vm.NFCProgressEvery
	vm.NFCProgressEvery = 5 * time.Millisecond
	t.Cleanup(func() { vm.NFCProgressEvery = old })
	e := objectStoreSite(t, vsim.Options{NFCLeaseTimeout: time.Minute})
	ctx := eventually.Context(t)
	held := false
	var advanced time.Duration
	e.Sim.SetOnNFCRead(func(r vsim.NFCRead) error {
		if held || r.Bytes == 0 {
			return nil
		}
		held = true
		lease := types.ManagedObjectReference{Type: "HttpNfcLease", Value: r.Lease}
		for i := 0; i < 3; i++ {
			before := e.Sim.Calls()["HttpNfcLeaseProgress"]
			e.Sim.AdvanceClock(40 * time.Second)
			advanced += 40 * time.Second
			for e.Sim.Calls()["HttpNfcLeaseProgress"] <= before {
				if !e.Sim.LeaseAlive(lease) {
					return errors.New("the lease timed out")
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("no HttpNfcLeaseProgress after the clock advanced %v", advanced)
				case <-time.After(2 * time.Millisecond):
				}
			}
		}
		return nil
	})
	cat, recs := backupVM(t, e, "VSAN1", `mode = "full"`)
	if !held || advanced <= time.Minute {
		t.Fatalf("the read was not held past the lease's timeout (held %v, clock advanced %v)", held, advanced)
	}
	if d := cat.Disks[0]; d.ReadPath != vm.ReadNFC || len(d.ImageSpans) != 4 {
		t.Errorf("read path %q, spans %v\n%s", d.ReadPath, d.ImageSpans, recs)
	}
	if n := e.Sim.Calls()["HttpNfcLeaseComplete"]; n != 1 {
		t.Errorf("%d leases completed", n)
	}
}

// TestFailingNFCReadAbortsTheLease: an NFC read cut mid-stream fails the
// backup with an error saying so; the lease is aborted (never completed),
// no snapshot is left on the VM and nothing is left in the set's place.
func TestFailingNFCReadAbortsTheLease(t *testing.T) {
	e := objectStoreSite(t, vsim.Options{})
	e.Sim.SetOnNFCRead(func(r vsim.NFCRead) error {
		if r.Bytes > 1<<20 {
			return errors.New("the host went away")
		}
		return nil
	})
	err, recs := e.Run(t, `require("vm").open("name:VVOL1"):backup{ to = arg.dest }`, simtest.RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "NFC export lease failed") {
		t.Fatalf("a cut NFC read: %v\n%s", err, recs)
	}
	calls := e.Sim.Calls()
	if calls["HttpNfcLeaseAbort"] != 1 || calls["HttpNfcLeaseComplete"] != 0 {
		t.Errorf("leases aborted %d, completed %d; want 1 and 0", calls["HttpNfcLeaseAbort"], calls["HttpNfcLeaseComplete"])
	}
	if s := e.Snapshots(t, "VVOL1"); len(s) != 0 {
		t.Errorf("snapshots left: %v", s)
	}
	if p := simtest.Partials(e.Dir); len(p) != 0 {
		t.Errorf("left on the target: %v", p)
	}
}

// TestNFCReadsWhereFolderCannot: the other two ways to the NFC read path.
// A VM read while off has no snapshot: its disk is exported with ExportVm.
// A disk on VMFS whose flat file /folder answers with 404 (here: removed
// from the datastore under the running simulator, which still holds it
// open) is read through the lease instead of failing the set, as the old
// code did. Both restore byte-exact.
func TestNFCReadsWhereFolderCannot(t *testing.T) {
	e := simtest.Start(t, vsim.Options{WriteRate: -1, Inventory: []vsim.VMSpec{
		{Name: "OFF1", PoweredOff: true, Disks: []vsim.DiskSpec{{Size: 8 << 20, Datastore: "vsanDatastore"}}},
		{Name: "GONE1", Disks: []vsim.DiskSpec{{Size: 8 << 20, Datastore: "LocalDS_1"}}},
	}})
	flat, err := e.Sim.DatastoreFile("[LocalDS_1] GONE1/GONE1-flat.vmdk")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(flat); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ vm, why, method string }{
		{"OFF1", "vSAN", "ExportVm"},
		{"GONE1", "does not serve the disk's flat file", "ExportSnapshot"},
	} {
		t.Run(tc.vm, func(t *testing.T) {
			before := e.Sim.Calls()[tc.method]
			cat, recs := backupVM(t, e, tc.vm, `mode = "full"`)
			seq, err := e.Sim.WriteSeq(tc.vm)
			if err != nil {
				t.Fatal(err)
			}
			d := cat.Disks[0]
			if d.ReadPath != vm.ReadNFC || !strings.Contains(d.ReadPathReason, tc.why) {
				t.Fatalf("read path %q (%q)\n%s", d.ReadPath, d.ReadPathReason, recs)
			}
			if n := e.Sim.Calls()[tc.method] - before; n != 1 {
				t.Errorf("%s called %d times", tc.method, n)
			}
			restoredIs(t, e, cat, tc.vm, tc.vm+"-r", seq)
		})
	}
}

// TestRestoreOntoAnObjectStoreIsRefusedUpFront: a restore writes over
// /folder, which cannot write a vSAN or vVols disk; a restore onto such a
// datastore (named, or the VM's own by default) is refused before
// anything is uploaded, saying what to do. The old code failed on the
// disk's upload with a bare 404.
func TestRestoreOntoAnObjectStoreIsRefusedUpFront(t *testing.T) {
	e := objectStoreSite(t, vsim.Options{})
	cat, _ := backupVM(t, e, "VSAN1", `mode = "full"`)
	for _, tc := range []struct{ name, ds, says string }{
		{"named", `datastore = "VVOL_0",`, "cannot restore onto datastore VVOL_0: it is a vVols datastore"},
		{"the VM's own", ``, "cannot restore onto datastore vsanDatastore (the VM's own datastore"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err, recs := e.Run(t, `require("backup").restore{ from = arg.dest, set = arg.set, `+tc.ds+` name = "R1" }`,
				simtest.RunOptions{Args: []string{"set=" + cat.ID}})
			if err == nil || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "Storage vMotion") {
				t.Fatalf("%v\n%s", err, recs)
			}
			for _, ds := range []string{"vsanDatastore", "VVOL_0"} {
				dir, err := e.Sim.DatastoreFile("[" + ds + "] ")
				if err != nil {
					t.Fatal(err)
				}
				ents, _ := os.ReadDir(dir)
				for _, en := range ents {
					if strings.Contains(en.Name(), "R1") {
						t.Errorf("left on %s: %s", ds, en.Name())
					}
				}
			}
		})
	}
}
