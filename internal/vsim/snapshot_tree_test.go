package vsim

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/vmware/govmomi/nfc"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// SNAP01 (Options.Fleet) has a three-level snapshot tree of its own, each
// level with data of its own, listed in a real .vmsd.
func TestFleetVMHasAThreeLevelSnapshotTreeAndAVMSD(t *testing.T) {
	s, c := startSim(t, Options{Fleet: true})
	ctx := context.Background()
	vm := findVM(t, c, "SNAP01")
	m := vmProps(t, vm, "snapshot", "layoutEx", "config")
	if m.Snapshot == nil {
		t.Fatal("no snapshot tree")
	}
	var names []string
	var refs []types.ManagedObjectReference
	for l := m.Snapshot.RootSnapshotList; len(l) > 0; l = l[0].ChildSnapshotList {
		if len(l) != 1 {
			t.Fatalf("%d children at a level", len(l))
		}
		names = append(names, l[0].Name)
		refs = append(refs, l[0].Snapshot)
	}
	if strings.Join(names, ",") != "installed,patched,configured" {
		t.Fatalf("tree %v", names)
	}
	rc := folderGet(t, c, "[LocalDS_0] SNAP01/SNAP01.vmsd")
	vmsd, err := ParseVMX(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"snapshot.numSnapshots":    "3",
		"snapshot0.displayName":    "installed",
		"snapshot0.disk0.fileName": "SNAP01.vmdk",
		"snapshot0.disk0.node":     "scsi0:0",
		"snapshot0.disk1.fileName": "[LocalDS_1] SNAP01/SNAP01_1.vmdk",
		"snapshot1.disk0.fileName": "SNAP01-000001.vmdk",
		"snapshot2.disk0.fileName": "SNAP01-000002.vmdk",
		"snapshot1.parent":         vmsd["snapshot0.uid"],
		"snapshot2.parent":         vmsd["snapshot1.uid"],
		"snapshot.current":         vmsd["snapshot2.uid"],
		"snapshot2.numDisks":       "2",
		"snapshot0.filename":       "SNAP01-Snapshot1.vmsn",
	} {
		if vmsd[k] != want || want == "" {
			t.Errorf(".vmsd %s = %q, want %q", k, vmsd[k], want)
		}
	}
	listed := false
	for _, f := range m.LayoutEx.File {
		listed = listed || (f.Type == string(types.VirtualMachineFileLayoutExFileTypeSnapshotList) && f.Name == "[LocalDS_0] SNAP01/SNAP01.vmsd")
	}
	if !listed {
		t.Error("layoutEx does not list the .vmsd")
	}
	// every level holds data of its own: the three snapshots differ
	var images [][]byte
	for i, ref := range refs {
		seq, err := s.SnapshotSeq(ref)
		if err != nil {
			t.Fatal(err)
		}
		if seq != uint64(userSnapshotWrites*(i+1)) {
			t.Fatalf("snapshot %d at write %d", i, seq)
		}
		want, size, _ := s.ExpectedContent("SNAP01", "scsi0:0", seq)
		res, err := methods.ExportSnapshot(ctx, c.Client, &types.ExportSnapshot{This: ref})
		if err != nil {
			t.Fatal(err)
		}
		leaseDownload(t, c, res.Returnval, func(item nfc.FileItem, r io.Reader) {
			if item.Path != "disk-0.vmdk" {
				io.Copy(io.Discard, r)
				return
			}
			var buf bytes.Buffer
			sameContent(t, fmt.Sprintf("snapshot %d", i), io.TeeReader(exportReader(t, r), &buf), want, size)
			images = append(images, buf.Bytes())
		})
	}
	if len(images) != 3 || bytes.Equal(images[0], images[1]) || bytes.Equal(images[1], images[2]) {
		t.Fatalf("%d images; levels differ: %v %v", len(images), len(images) == 3 && !bytes.Equal(images[0], images[1]), len(images) == 3 && !bytes.Equal(images[1], images[2]))
	}
	// a backup's snapshot on top: no question (ESXi 8), a fourth level
	snap := snapshot(t, vm, "backup")
	if q := s.PendingQuestion("SNAP01"); q != nil {
		t.Fatalf("question %q", q.Text)
	}
	removeSnapshot(t, c, snap)
	// with none left, no .vmsd (ESXi keeps an empty one; see snapshot_tree.go)
	task, err := vm.RemoveAllSnapshot(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if p, err := s.DatastoreFile("[LocalDS_0] SNAP01/SNAP01.vmsd"); err != nil {
		t.Fatal(err)
	} else if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf(".vmsd with no snapshot left: %v", err)
	}
}

// ESXi 8 allows 32 snapshot levels; the 33rd fails at once, no question.
func TestThirtyTwoSnapshotLevelsAtMost(t *testing.T) {
	var names []string
	for i := 1; i <= MaxSnapshotLevels; i++ {
		names = append(names, fmt.Sprintf("s%d", i))
	}
	s, c := startSim(t, Options{MaxRedo: -1, DiskSize: 1 << 20, Inventory: []VMSpec{{Name: "DEEP", PoweredOff: true, Snapshots: names[:MaxSnapshotLevels-1]}}})
	vm := findVM(t, c, "DEEP")
	snapshot(t, vm, "s32") // the 32nd level is allowed
	task, err := vm.CreateSnapshot(context.Background(), "s33", "", false, false)
	if err != nil {
		t.Fatal(err)
	}
	err = task.Wait(context.Background())
	var tm *types.TooManySnapshotLevels
	if !isFault(err, &tm) {
		t.Fatalf("33rd level: %v, want TooManySnapshotLevels", err)
	}
	if q := s.PendingQuestion("DEEP"); q != nil {
		t.Fatalf("question %q", q.Text)
	}
}
