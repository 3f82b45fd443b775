package backup_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
)

// oneDiskSite is a VM of one 16 MiB disk (4 image spans) that tracks
// changed blocks and whose guest writes only when told.
func oneDiskSite(t *testing.T, dsDir string) *simtest.Env {
	t.Helper()
	return simtest.Start(t, vsim.Options{WriteRate: -1, DatastoreDir: dsDir, Inventory: []vsim.VMSpec{
		{Name: "NAS1", ChangeTracking: true, Disks: []vsim.DiskSpec{{Size: 16 << 20}}},
	}})
}

// backupNAS1 backs NAS1 up with the Lua options opts and returns its set.
func backupNAS1(t *testing.T, e *simtest.Env, opts string) (*catalog.Catalog, *simtest.Records) {
	t.Helper()
	err, recs := e.Run(t, `
		local vm = require "vm"
		local set = vm.open("name:NAS1"):backup{ to = arg.dest, `+opts+` }
		assert(set.complete)
		print("SET " .. set.id)
	`, simtest.RunOptions{})
	if err != nil {
		t.Fatalf("backup{%s}: %v\n%s", opts, err, recs)
	}
	return readCatalogAt(t, e.Dir, printed(recs, "SET ")), recs
}

// restoredEquals restores the set as name and compares its disk with the
// guest's disk after write seq.
func restoredEquals(t *testing.T, e *simtest.Env, cat *catalog.Catalog, name string, seq uint64) {
	t.Helper()
	err, recs := e.Run(t, `require("backup").restore{ from = arg.dest, set = arg.set, datastore = "LocalDS_1", name = arg.name }`,
		simtest.RunOptions{Args: []string{"set=" + cat.ID, "name=" + name}})
	if err != nil {
		t.Fatalf("restore of %s: %v\n%s", cat.ID, err, recs)
	}
	d := cat.Disks[0]
	want, size, err := e.Sim.ExpectedContent("NAS1", d.ID, seq)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.DiskSHA(t, "[LocalDS_1] "+name+"/"+d.Descriptor); got != simtest.ShaOf(t, want, size) {
		t.Errorf("%s restored is not the disk after write %d", cat.ID, seq)
	}
}

// TestWholeDiskAnswer: where vSphere answers QueryChangedDiskAreas with
// one extent over the whole disk (NFS datastores), an incremental reads
// every byte but stores only the spans whose digest differs from its
// parent's, restores byte-exact, and its catalog and log say the read was
// full; a full that gets that answer for "*" says so too. The old code
// stored the whole disk as changed, and said nothing.
func TestWholeDiskAnswer(t *testing.T) {
	e := oneDiskSite(t, t.TempDir())
	full, _ := backupNAS1(t, e, `mode = "incremental"`)
	if n := len(full.Disks[0].ImageSpans); n != 4 {
		t.Fatalf("the full's image span digests: %d, want 4", n)
	}
	disk := full.Disks[0].ID
	seq, err := e.Sim.GuestWriteData("NAS1", disk, 5<<20, bytes.Repeat([]byte{0xab}, 64<<10))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Sim.SetCBTWholeDisk("NAS1", true); err != nil {
		t.Fatal(err)
	}
	inc, recs := backupNAS1(t, e, `mode = "incremental"`)
	d := inc.Disks[0]
	if inc.Mode != catalog.ModeIncremental || inc.Parent != full.ID {
		t.Fatalf("mode %s parent %s (%s)", inc.Mode, inc.Parent, inc.FullReason)
	}
	if d.Read != catalog.ReadFull || !strings.Contains(d.ReadReason, "whole disk") || !strings.Contains(d.ReadReason, "differs from the parent") {
		t.Errorf("read %q, read_reason %q", d.Read, d.ReadReason)
	}
	if d.ChangedBytes != d.Capacity || d.DifferingBytes != 4<<20 {
		t.Errorf("changed %d (vSphere's word), differing %d; want %d and one span (4 MiB)", d.ChangedBytes, d.DifferingBytes, d.Capacity)
	}
	if f, ok := inc.File(d.File); ok {
		t.Logf("whole-disk incremental: read %d bytes, differing %d, data stored %d (%d after compression); vSphere reported %d changed (the old code stored all of it as changed)", d.Capacity, d.DifferingBytes, d.DataBytes, f.Size, d.ChangedBytes)
	}
	if d.DataBytes > 4<<20 {
		t.Errorf("the incremental stored %d data bytes; at most one span's", d.DataBytes)
	}
	if ws := recs.Find("backup: the disk was read in full"); len(ws) != 1 || ws[0]["level"] != "WARN" {
		t.Errorf("the log does not say the read was full: %v", ws)
	}
	if strings.Join(d.ImageSpans, ",") == strings.Join(full.Disks[0].ImageSpans, ",") || d.ImageSpans[1] == full.Disks[0].ImageSpans[1] {
		t.Errorf("span 1 was written, its digest did not change: %v -> %v", full.Disks[0].ImageSpans, d.ImageSpans)
	}
	restoredEquals(t, e, inc, "NAS1-inc", seq)

	f2, recs := backupNAS1(t, e, `mode = "full"`)
	if f2.Disks[0].Read != catalog.ReadFull || !strings.Contains(f2.Disks[0].ReadReason, `"*"`) {
		t.Errorf("a full given the whole-disk answer: read %q, read_reason %q\n%s", f2.Disks[0].Read, f2.Disks[0].ReadReason, recs)
	}
}

// TestVerifyCBTFindsMissedChanges: backup{verify_cbt=true} is a full that
// compares every span tracking reports unchanged since the newest set
// with that set's digest: none differs after a clean run, and a write
// tracking never saw (made to the disk's file behind the guest's back,
// as the CBT bugs of KB 2090639 lose them) is reported by span, in the
// catalog and as an error in the log.
func TestVerifyCBTFindsMissedChanges(t *testing.T) {
	dsDir := t.TempDir()
	e := oneDiskSite(t, dsDir)
	backupNAS1(t, e, `mode = "incremental"`)
	if _, err := e.Sim.GuestWriteData("NAS1", "scsi0:0", 1<<20, bytes.Repeat([]byte{0x11}, 64<<10)); err != nil {
		t.Fatal(err)
	}
	clean, recs := backupNAS1(t, e, `mode = "incremental", verify_cbt = true`)
	c := clean.Disks[0].CBTCheck
	if clean.Mode != catalog.ModeFull || !clean.Options.VerifyCBT || c == nil || c.Compared != 3 || c.Skipped != 1 || len(c.Missed) != 0 {
		t.Fatalf("a clean verifying full: mode %s, check %+v\n%s", clean.Mode, c, recs)
	}

	flats, _ := filepath.Glob(filepath.Join(dsDir, "*", "NAS1", "*-flat.vmdk"))
	if len(flats) != 1 {
		t.Fatalf("NAS1's flat files: %v", flats)
	}
	f, err := os.OpenFile(flats[0], os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xcd}, 64<<10), 9<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()

	caught, recs := backupNAS1(t, e, `mode = "incremental", verify_cbt = true`)
	c = caught.Disks[0].CBTCheck
	if c == nil || c.Against != clean.ID || len(c.Missed) != 1 || c.Missed[0].Index != 2 || c.Missed[0].Off != 8<<20 {
		t.Fatalf("the write tracking missed: check %+v\n%s", c, recs)
	}
	es := recs.Find("backup: CHANGED BLOCK TRACKING MISSED CHANGES: spans it reported unchanged differ from the earlier set; this set is a full and holds them, but the incrementals made on this tracking may lack them: restore from this set, and reset tracking (v:cbt_reset(), vmlua cbt-reset)")
	if len(es) != 1 || es[0]["level"] != "ERROR" {
		t.Errorf("no error logged for the missed change: %v", es)
	}
}
