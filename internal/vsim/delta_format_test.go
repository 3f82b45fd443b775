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

// A SESPARSE delta of a disk past 2 TB (where VMFSSPARSE's 32-bit sectors
// end) reads with qemu: grains at its start and past 3 TiB, holes between.
func TestSESparseOfADiskPastTwoTB(t *testing.T) {
	const capacity = 4 << 40
	dir := t.TempDir()
	base := &layer{dsPath: "[ds] big.vmdk", descFile: filepath.Join(dir, "big.vmdk"), dataFile: filepath.Join(dir, "big-flat.vmdk"), cid: 0x1234}
	delta := &layer{dsPath: "[ds] big-000001.vmdk", descFile: filepath.Join(dir, "big-000001.vmdk"), dataFile: filepath.Join(dir, "big-000001-sesparse.vmdk"), cid: 0x5678}
	for _, l := range []*layer{base, delta} {
		f, err := os.Create(l.dataFile)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		l.f = f
	}
	if err := base.f.Truncate(capacity); err != nil { // a sparse file: no data
		t.Fatal(err)
	}
	d := &disk{id: "scsi0:0", capacity: capacity, uuid: "60 00", adapter: "lsilogic", kind: dsKind{summaryType: "VMFS", vmfsMajor: 5}, layers: []*layer{base, delta}}
	if deltaFormatFor(d.kind, capacity) != formatSESparse {
		t.Fatal("a 4 TiB disk on VMFS 5 does not get SESPARSE")
	}
	if _, err := newSparse(base.f, formatVMFSSparse, capacity); err == nil {
		t.Fatal("VMFSSPARSE took a 4 TiB disk")
	}
	sp, err := newSparse(delta.f, formatSESparse, capacity)
	if err != nil {
		t.Fatal(err)
	}
	delta.sp = sp
	for i := range d.layers {
		if err := d.writeDescriptor(i); err != nil {
			t.Fatal(err)
		}
	}
	fill := func(b byte) []byte { return bytes.Repeat([]byte{b}, GrainSize) }
	for _, w := range []struct {
		off int64
		b   byte
	}{{3 << 40, 0xab}, {0, 0xcd}, {capacity - GrainSize, 0xef}} {
		if err := delta.writeAt(fill(w.b), w.off); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("qemu-io", "-r", "-f", "vmdk",
		"-c", "read -P 0xab 3T 4k", "-c", "read -P 0xcd 0 4k", "-c", "read -P 0xef 4398046507008 4k", "-c", "read -P 0 4k 4k", "-c", "read -P 0 2T 4k",
		delta.descFile).CombinedOutput()
	if err != nil || strings.Contains(string(out), "fail") || strings.Count(string(out), "read 4096/4096 bytes") != 5 {
		t.Fatalf("qemu-io: %v\n%s", err, out)
	}
}
