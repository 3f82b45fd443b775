package vsim

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/nfc"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func snapshot(t *testing.T, vm *object.VirtualMachine, name string) types.ManagedObjectReference {
	t.Helper()
	task, err := vm.CreateSnapshot(context.Background(), name, "", false, false)
	if err != nil {
		t.Fatal(err)
	}
	info, err := task.WaitForResult(context.Background())
	if err != nil {
		t.Fatalf("CreateSnapshot %s: %v", name, err)
	}
	return info.Result.(types.ManagedObjectReference)
}

func removeSnapshot(t *testing.T, c *govmomi.Client, snap types.ManagedObjectReference) {
	t.Helper()
	res, err := methods.RemoveSnapshot_Task(context.Background(), c.Client, &types.RemoveSnapshot_Task{This: snap, RemoveChildren: false, Consolidate: types.NewBool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if err := object.NewTask(c.Client, res.Returnval).Wait(context.Background()); err != nil {
		t.Fatalf("RemoveSnapshot: %v", err)
	}
}

// folderGet streams "[ds] path" over the datastore's /folder URL.
func folderGet(t *testing.T, c *govmomi.Client, dsPath string) io.ReadCloser {
	t.Helper()
	ctx := context.Background()
	ds, err := find.NewFinder(c.Client).Datastore(ctx, dsPathName(dsPath))
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := ds.Download(ctx, dsPathPath(dsPath), &soap.DefaultDownload)
	if err != nil {
		t.Fatalf("GET %s: %v", dsPath, err)
	}
	return rc
}

func flatOf(descriptor string) string { return strings.TrimSuffix(descriptor, ".vmdk") + "-flat.vmdk" }

// leaseDownload downloads every device URL of a lease, by target id.
func leaseDownload(t *testing.T, c *govmomi.Client, ref types.ManagedObjectReference, each func(item nfc.FileItem, r io.Reader)) {
	t.Helper()
	ctx := context.Background()
	lease := nfc.NewLease(c.Client, ref)
	info, err := lease.Wait(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := lease.StartUpdater(ctx, info)
	defer u.Done()
	for _, item := range info.Items {
		rc, _, err := c.Client.Download(ctx, item.URL, &soap.DefaultDownload)
		if err != nil {
			t.Fatal(err)
		}
		each(item, rc)
		rc.Close()
	}
	if err := lease.Complete(ctx); err != nil {
		t.Fatal(err)
	}
}

func listFiles(t *testing.T, dir string) []string {
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			r, _ := filepath.Rel(dir, p)
			out = append(out, r)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// The book's hot backup: add_redo, export the frozen base while the guest
// keeps writing, add_redo, commit level 1, commit level 0.
func TestHotBackupCycleWhileGuestWrites(t *testing.T) {
	dir := t.TempDir()
	s, c := startSim(t, Options{DatastoreDir: dir})
	ctx := context.Background()
	vm := findVM(t, c, "DB01")
	waitWrites(t, s, "DB01", 20)
	before := listFiles(t, dir)
	baseBackings := diskBackings(vmProps(t, vm, "config.hardware.device"))

	snap1 := snapshot(t, vm, "redo1")
	seq1, err := s.SnapshotSeq(snap1)
	if err != nil {
		t.Fatal(err)
	}
	m := vmProps(t, vm, "config.hardware.device", "snapshot", "layoutEx")
	disks, _ := s.Disks("DB01")
	for _, d := range disks {
		b := diskBackings(m)[d.Key]
		base := baseBackings[d.Key].FileName
		if d.Independent {
			if b.FileName != base || b.Parent != nil {
				t.Errorf("%s (independent): backing %s parent %v, want unchanged", d.ID, b.FileName, b.Parent)
			}
			continue
		}
		if b.Parent == nil || b.Parent.FileName != base || !strings.HasSuffix(b.FileName, "-000001.vmdk") {
			t.Fatalf("%s: backing %s, parent %+v; want a delta over %s", d.ID, b.FileName, b.Parent, base)
		}
	}
	if m.Snapshot == nil || m.Snapshot.CurrentSnapshot == nil || *m.Snapshot.CurrentSnapshot != snap1 {
		t.Fatalf("snapshot info %+v", m.Snapshot)
	}

	// the guest keeps writing into the deltas while we read the frozen bases
	waitWrites(t, s, "DB01", 30)
	for _, d := range disks {
		if d.Independent {
			continue
		}
		want, size, err := s.ExpectedContent("DB01", d.ID, seq1)
		if err != nil {
			t.Fatal(err)
		}
		rc := folderGet(t, c, flatOf(baseBackings[d.Key].FileName))
		sameContent(t, d.ID+" frozen base over /folder", rc, want, size)
		rc.Close()
	}
	// the same through ExportSnapshot
	res, err := methods.ExportSnapshot(ctx, c.Client, &types.ExportSnapshot{This: snap1})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	leaseDownload(t, c, res.Returnval, func(item nfc.FileItem, r io.Reader) {
		id := item.DeviceId[strings.LastIndex(item.DeviceId, ":")-len("scsi0"):]
		want, size, err := s.ExpectedContent("DB01", id, seq1)
		if err != nil {
			t.Fatal(err)
		}
		sameContent(t, id+" ExportSnapshot", exportReader(t, r), want, size)
		n++
	})
	if n != 2 {
		t.Fatalf("ExportSnapshot streamed %d disks, want the 2 non-independent ones", n)
	}

	// second REDO, then commit level 1 (remove the older snapshot while the newer exists)
	snap2 := snapshot(t, vm, "redo2")
	seq2, _ := s.SnapshotSeq(snap2)
	waitWrites(t, s, "DB01", 20)
	removeSnapshot(t, c, snap1)
	m = vmProps(t, vm, "config.hardware.device", "snapshot", "layoutEx")
	if m.Snapshot == nil || len(m.Snapshot.RootSnapshotList) != 1 || m.Snapshot.RootSnapshotList[0].Snapshot != snap2 {
		t.Fatalf("after commit level 1: tree %+v", m.Snapshot)
	}
	for _, d := range disks {
		b := diskBackings(m)[d.Key]
		if d.Independent {
			continue
		}
		if b.Parent == nil || b.Parent.FileName != baseBackings[d.Key].FileName || b.Parent.Parent != nil {
			t.Fatalf("%s after commit level 1: %s over %+v; want the running delta over the base", d.ID, b.FileName, b.Parent)
		}
		// the base now holds the state at the second snapshot
		want, size, _ := s.ExpectedContent("DB01", d.ID, seq2)
		rc := folderGet(t, c, flatOf(baseBackings[d.Key].FileName))
		sameContent(t, d.ID+" base after commit level 1", rc, want, size)
		rc.Close()
	}
	checkLayout(t, s, vm, m)

	// commit level 0 while writing, then stop the guest and compare everything
	waitWrites(t, s, "DB01", 20)
	removeSnapshot(t, c, snap2)
	waitWrites(t, s, "DB01", 10)
	powerOff(t, vm) // the running VM holds its live disks (file_lock.go)
	final, _ := s.WriteSeq("DB01")
	m = vmProps(t, vm, "config.hardware.device", "snapshot", "layoutEx")
	if m.Snapshot != nil {
		t.Fatalf("snapshots left: %+v", m.Snapshot)
	}
	for _, d := range disks {
		b := diskBackings(m)[d.Key]
		if b.FileName != baseBackings[d.Key].FileName || b.Parent != nil {
			t.Fatalf("%s: backing %s parent %v after consolidation", d.ID, b.FileName, b.Parent)
		}
		want, size, _ := s.ExpectedContent("DB01", d.ID, final)
		rc := folderGet(t, c, flatOf(b.FileName))
		sameContent(t, d.ID+" after consolidation", rc, want, size)
		rc.Close()
	}
	checkLayout(t, s, vm, m)
	after := listFiles(t, dir)
	if strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Fatalf("datastore files changed:\nbefore %v\nafter  %v", before, after)
	}
}

// checkLayout checks that every file layoutEx names exists, and that the
// snapshot layouts point at .vmsn files.
func checkLayout(t *testing.T, s *Sim, vm *object.VirtualMachine, m interface{}) {
	t.Helper()
	lx := vmProps(t, vm, "layoutEx").LayoutEx
	keys := map[int32]types.VirtualMachineFileLayoutExFileInfo{}
	for _, f := range lx.File {
		keys[f.Key] = f
		p, err := s.dsLocal(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("layoutEx names a missing file: %s", f.Name)
		}
	}
	for _, sl := range lx.Snapshot {
		if f, ok := keys[sl.DataKey]; !ok || !strings.HasSuffix(f.Name, ".vmsn") {
			t.Errorf("snapshot %s dataKey %d -> %+v", sl.Key, sl.DataKey, f)
		}
	}
	for _, dl := range lx.Disk {
		for _, u := range dl.Chain {
			for _, k := range u.FileKey {
				if _, ok := keys[k]; !ok {
					t.Errorf("disk %d chain names unknown file key %d", dl.Key, k)
				}
			}
		}
	}
}

// TestLayoutExSizesAREDOLogByWhatItHolds: as on ESXi, where a REDO log's
// file grows with the grains written to it (delta_format.go: grains and
// grain tables appended), layoutEx gives a delta's data file the bytes it
// holds, brought up to date by RefreshStorageInfo.
func TestLayoutExSizesAREDOLogByWhatItHolds(t *testing.T) {
	ctx := context.Background()
	s, c := startSim(t, Options{VMs: 1, DiskSize: 256 << 20, WriteRate: 0.001})
	vm := findVM(t, c, "VM1")
	snapshot(t, vm, "a")
	if _, err := s.GuestWrite("VM1", 200); err != nil { // about 7 MiB, anywhere in 256
		t.Fatal(err)
	}
	if err := vm.RefreshStorageInfo(ctx); err != nil {
		t.Fatal(err)
	}
	var written int64
	log, _ := s.WriteLog("VM1")
	for _, w := range log {
		written += w.Length
	}
	m := vmProps(t, vm, "layoutEx")
	var got, apparent int64
	for _, f := range m.LayoutEx.File {
		if strings.HasSuffix(f.Name, "-000001-delta.vmdk") {
			got = f.Size
			if p, err := s.dsLocal(f.Name); err == nil {
				if fi, err := os.Stat(p); err == nil {
					apparent = fi.Size()
				}
			}
		}
	}
	// at most: the grains written, the header and grain directory, and a
	// grain table (16 KiB) per 2 MiB of the disk
	if got < written/2 || got > written+64<<10+(256<<20)/(2<<20)*16<<10 || got > apparent {
		t.Errorf("the REDO log's size is %d bytes after %d bytes of guest writes (its file's apparent size %d)", got, written, apparent)
	}
}
