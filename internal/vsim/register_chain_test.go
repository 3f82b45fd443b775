package vsim

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/eventually"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/nfc"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// A VM registered from files whose disks are snapshot deltas gets its
// chains (the delta files read) and its snapshot tree from the .vmsd:
// each snapshot exports its content, and removing them all consolidates to
// the VM's current state.
func TestRegisteringAVMWithSnapshotsKeepsItsChainAndTree(t *testing.T) {
	s, c := startSim(t, Options{DiskSize: 2 << 20, Inventory: []VMSpec{{Name: "TREE", PoweredOff: true, ChangeTracking: true,
		Snapshots: []string{"one", "two"},
		Disks:     []DiskSpec{{}, {Datastore: "LocalDS_1"}}}}})
	ctx := context.Background()
	vm := findVM(t, c, "TREE")
	m := vmProps(t, vm, "snapshot", "config")
	var refs []types.ManagedObjectReference
	for l := m.Snapshot.RootSnapshotList; len(l) > 0; l = l[0].ChildSnapshotList {
		refs = append(refs, l[0].Snapshot)
	}
	// what each snapshot and the current state hold, before the VM goes
	want := map[string][][]byte{}
	disks, _ := s.Disks("TREE")
	cur, _ := s.WriteSeq("TREE")
	for _, d := range disks {
		var seqs []uint64
		for _, r := range refs {
			seq, _ := s.SnapshotSeq(r)
			seqs = append(seqs, seq)
		}
		for _, seq := range append(seqs, cur) {
			ra, size, _ := s.ExpectedContent("TREE", d.ID, seq)
			b := make([]byte, size)
			ra.ReadAt(b, 0)
			want[d.ID] = append(want[d.ID], b)
		}
	}
	vmx := m.Config.Files.VmPathName
	pool, _ := vm.ResourcePool(ctx)
	if err := vm.Unregister(ctx); err != nil {
		t.Fatal(err)
	}
	dc, _ := find.NewFinder(c.Client).DefaultDatacenter(ctx)
	fs, _ := dc.Folders(ctx)
	task, err := fs.VmFolder.RegisterVM(ctx, vmx, "TREE", false, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := task.WaitForResult(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vm2 := findVM(t, c, "TREE")
	if vm2.Reference() != info.Result.(types.ManagedObjectReference) {
		t.Fatalf("found %v, registered %v", vm2.Reference(), info.Result)
	}
	eventually.True(t, "the unregistered VM's state is gone", func() bool {
		vs, err := s.vmByName("TREE")
		return err == nil && vs.ref == vm2.Reference() && len(s.allVMs()) == 1
	})
	m2 := vmProps(t, vm2, "snapshot", "config", "runtime")
	if m2.Snapshot == nil {
		t.Fatal("the registered VM has no snapshot tree")
	}
	var names []string
	var refs2 []types.ManagedObjectReference
	for l := m2.Snapshot.RootSnapshotList; len(l) > 0; l = l[0].ChildSnapshotList {
		names = append(names, l[0].Name)
		refs2 = append(refs2, l[0].Snapshot)
	}
	if strings.Join(names, ",") != "one,two" {
		t.Fatalf("registered tree %v", names)
	}
	for _, b := range diskBackings(m2) {
		n := 0
		for p := b; p != nil; p = p.Parent {
			n++
		}
		if n != 3 {
			t.Fatalf("%s: a chain of %d, want 3", b.FileName, n)
		}
	}
	for i, r := range refs2 {
		res, err := methods.ExportSnapshot(ctx, c.Client, &types.ExportSnapshot{This: r})
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		leaseDownload(t, c, res.Returnval, func(item nfc.FileItem, rd io.Reader) {
			id := disks[k].ID
			k++
			b := want[id][i]
			sameContent(t, id+" snapshot "+names[i], exportReader(t, rd), bytesReaderAt(b), int64(len(b)))
		})
	}
	task2, err := vm2.RemoveAllSnapshot(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := task2.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	disks2, _ := s.Disks("TREE")
	for _, d := range disks2 {
		if len(d.Chain) != 1 {
			t.Fatalf("%s after removing all: chain %v", d.ID, d.Chain)
		}
		rc := folderGet(t, c, flatOf(d.Chain[0]))
		b := want[d.ID][len(refs)]
		sameContent(t, d.ID+" consolidated", rc, bytesReaderAt(b), int64(len(b)))
		rc.Close()
	}
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
