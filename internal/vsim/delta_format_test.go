package vsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDeltaFormatFollowsTheDatastore(t *testing.T) {
	for _, tc := range []struct {
		kind     string
		capacity int64
		want     deltaFormat
	}{
		{"VMFS5", 32 << 20, formatVMFSSparse},
		{"VMFS5", twoTB - GrainSize, formatVMFSSparse},
		{"VMFS5", twoTB, formatSESparse},
		{"VMFS6", 32 << 20, formatSESparse},
		{"NFS", 32 << 20, formatVMFSSparse},
		{"NFS", 4 * twoTB, formatSESparse},
	} {
		k, _ := parseDatastoreType(tc.kind)
		if got := deltaFormatFor(k, tc.capacity); got != tc.want {
			t.Errorf("%s, %d bytes: format %d, want %d", tc.kind, tc.capacity, got, tc.want)
		}
	}
}

// qemuImage converts a disk descriptor (and its chain) with qemu-img.
func qemuImage(t *testing.T, desc string) ([]byte, map[string]any) {
	t.Helper()
	info, err := exec.Command("qemu-img", "info", "--output=json", "--backing-chain", desc).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img info %s: %v\n%s", desc, err, info)
	}
	var chain []map[string]any
	if err := json.Unmarshal(info, &chain); err != nil || len(chain) == 0 {
		t.Fatalf("qemu-img info: %v\n%s", err, info)
	}
	out := filepath.Join(t.TempDir(), "image.raw")
	if b, err := exec.Command("qemu-img", "convert", "-O", "raw", desc, out).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert %s: %v\n%s", desc, err, b)
	}
	img, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return img, chain[0]
}

// qemu-img reads every delta the simulator writes, VMFSSPARSE and
// SESPARSE, at every level of a chain, and gets the simulator's content.
func TestQemuImgReadsTheDeltas(t *testing.T) {
	s, c := startSim(t, Options{Fleet: true, MaxRedo: -1, DiskSize: 2 << 20, WriteRate: 200})
	for _, tc := range []struct {
		vm, disk, suffix, createType string
	}{
		{"SNAP01", "scsi0:0", "-delta.vmdk", "vmfsSparse"},  // LocalDS_0, VMFS 5
		{"SNAP01", "scsi0:1", "-sesparse.vmdk", "seSparse"}, // LocalDS_1, VMFS 6
		{"NFS01", "scsi0:0", "-delta.vmdk", "vmfsSparse"},   // NFS
		{"VM1", "scsi0:0", "-delta.vmdk", "vmfsSparse"},     // a running VM: frozen levels
		{"DB01", "scsi0:1", "-sesparse.vmdk", "seSparse"},   // a running VM on VMFS 6
	} {
		t.Run(tc.vm+" "+tc.disk, func(t *testing.T) {
			vm := findVM(t, c, tc.vm)
			if tc.vm != "SNAP01" {
				snapshot(t, vm, "a")
				waitWrites(t, s, tc.vm, 20)
				snapshot(t, vm, "b")
				waitWrites(t, s, tc.vm, 20)
			}
			snapshot(t, vm, "top")
			if err := s.PauseGuest(tc.vm); err != nil {
				t.Fatal(err)
			}
			defer s.ResumeGuest(tc.vm)
			m := vmProps(t, vm, "snapshot")
			var seqs []uint64
			for l := m.Snapshot.RootSnapshotList; len(l) > 0; l = l[0].ChildSnapshotList {
				seq, err := s.SnapshotSeq(l[0].Snapshot)
				if err != nil {
					t.Fatal(err)
				}
				seqs = append(seqs, seq)
			}
			disks, _ := s.Disks(tc.vm)
			var chain []string
			for _, d := range disks {
				if d.ID == tc.disk {
					chain = d.Chain
				}
			}
			if len(chain) != len(seqs)+1 {
				t.Fatalf("chain %v for %d snapshots", chain, len(seqs))
			}
			cur, _ := s.WriteSeq(tc.vm)
			// level i holds the state of snapshot i (the base: the first)
			// once the next level is above it; the top the running state
			for i := 1; i < len(chain); i++ {
				desc, err := s.DatastoreFile(chain[i])
				if err != nil {
					t.Fatal(err)
				}
				data := strings.TrimSuffix(desc, ".vmdk") + tc.suffix
				if _, err := os.Stat(data); err != nil {
					t.Fatalf("level %d: no %s file: %v", i, tc.suffix, err)
				}
				img, info := qemuImage(t, desc)
				if info["format"] != "vmdk" {
					t.Fatalf("qemu-img info: format %v", info["format"])
				}
				spec, _ := json.Marshal(info["format-specific"])
				if !strings.Contains(string(spec), fmt.Sprintf("%q", tc.createType)) {
					t.Fatalf("level %d: qemu-img sees %s, want create type %s", i, spec, tc.createType)
				}
				seq := cur
				if i < len(seqs) {
					seq = seqs[i]
				}
				want, size, _ := s.ExpectedContent(tc.vm, tc.disk, seq)
				if int64(len(img)) != size {
					t.Fatalf("level %d: qemu-img gave %d bytes, want %d", i, len(img), size)
				}
				sameContent(t, fmt.Sprintf("level %d", i), bytes.NewReader(img), want, size)
				// /folder serves the delta file as it is
				if i == len(chain)-1 && tc.vm != "SNAP01" {
					continue // a running VM's top delta is locked (file_lock.go)
				}
				rc := folderGet(t, c, strings.TrimSuffix(chain[i], ".vmdk")+tc.suffix)
				got, _ := io.ReadAll(rc)
				rc.Close()
				file, _ := os.ReadFile(data)
				if !bytes.Equal(got, file) {
					t.Fatalf("level %d: /folder served %d bytes, the file has %d", i, len(got), len(file))
				}
			}
		})
	}
}
