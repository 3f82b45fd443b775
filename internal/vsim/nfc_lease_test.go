package vsim

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/eventually"
	"github.com/vmlua/vmlua/internal/streamvmdk"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/nfc"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// An export lease serves streamOptimized VMDK that qemu-img reads as the
// disk's content, smaller than the disk (its holes are left out).
func TestExportIsStreamOptimizedThatQemuReads(t *testing.T) {
	s, c := startSim(t, Options{DiskSize: 8 << 20})
	vm := findVM(t, c, "VM1")
	snap := snapshot(t, vm, "export")
	seq, _ := s.SnapshotSeq(snap)
	res, err := methods.ExportSnapshot(context.Background(), c.Client, &types.ExportSnapshot{This: snap})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	leaseDownload(t, c, res.Returnval, func(item nfc.FileItem, r io.Reader) {
		stream, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if string(stream[:4]) != "KDMV" {
			t.Fatalf("export starts with %q, not a sparse VMDK", stream[:4])
		}
		in, out := filepath.Join(dir, "disk.vmdk"), filepath.Join(dir, "disk.raw")
		os.WriteFile(in, stream, 0o644)
		info, err := exec.Command("qemu-img", "info", in).CombinedOutput()
		if err != nil || !strings.Contains(string(info), "streamOptimized") {
			t.Fatalf("qemu-img info: %v\n%s", err, info)
		}
		if b, err := exec.Command("qemu-img", "convert", "-O", "raw", in, out).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img convert: %v\n%s", err, b)
		}
		img, _ := os.ReadFile(out)
		want, size, _ := s.ExpectedContent("VM1", "scsi0:0", seq)
		sameContent(t, "qemu-img's image of the export", bytes.NewReader(img), want, size)
		if int64(len(stream)) >= size {
			t.Fatalf("the export is %d bytes for a disk of %d with holes", len(stream), size)
		}
	})
}

// A lease without HttpNfcLeaseProgress for NFCLeaseTimeout (on the
// simulator's clock) times out: error state, Timedout, its URLs gone;
// one that reports progress lives on.
func TestLeaseTimesOutWithoutProgress(t *testing.T) {
	s, c := startSim(t, Options{NFCLeaseTimeout: time.Minute})
	ctx := context.Background()
	vm := findVM(t, c, "VM1")
	snap := snapshot(t, vm, "export")
	export := func() (types.ManagedObjectReference, string) {
		res, err := methods.ExportSnapshot(ctx, c.Client, &types.ExportSnapshot{This: snap})
		if err != nil {
			t.Fatal(err)
		}
		var m mo.HttpNfcLease
		if err := c.RetrieveOne(ctx, res.Returnval, []string{"info"}, &m); err != nil {
			t.Fatal(err)
		}
		if m.Info.LeaseTimeout != 60 {
			t.Fatalf("info.leaseTimeout %d, want 60", m.Info.LeaseTimeout)
		}
		return res.Returnval, m.Info.DeviceUrl[0].Url
	}
	progress := func(ref types.ManagedObjectReference) error {
		_, err := methods.HttpNfcLeaseProgress(ctx, c.Client, &types.HttpNfcLeaseProgress{This: ref, Percent: 10})
		return err
	}
	idle, idleURL := export()
	alive, _ := export()
	for range 3 {
		s.AdvanceClock(40 * time.Second)
		if err := progress(alive); err != nil {
			t.Fatalf("progress on a lease kept alive: %v", err)
		}
	}
	if s.LeaseAlive(idle) {
		t.Fatal("a lease without progress for 2 minutes is alive")
	}
	var to *types.Timedout
	if err := progress(idle); !isFault(err, &to) {
		t.Fatalf("progress on a timed-out lease: %v, want Timedout", err)
	}
	eventually.True(t, "the lease's state is error", func() bool {
		var m mo.HttpNfcLease
		if err := c.RetrieveOne(ctx, idle, []string{"state", "error"}, &m); err != nil {
			return false
		}
		return m.State == types.HttpNfcLeaseStateError && m.Error != nil
	})
	res := rawDo(t, http.MethodGet, idleURL, withCookie(c))
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET of a timed-out lease's URL: %d, want 404", res.StatusCode)
	}
	if !s.LeaseAlive(alive) {
		t.Fatal("the lease that reported progress timed out")
	}
	if _, err := methods.HttpNfcLeaseComplete(ctx, c.Client, &types.HttpNfcLeaseComplete{This: alive}); err != nil {
		t.Fatal(err)
	}
	if _, err := methods.HttpNfcLeaseAbort(ctx, c.Client, &types.HttpNfcLeaseAbort{This: alive}); err == nil {
		t.Fatal("abort of a completed lease succeeded")
	}
}

// importSpec is the import spec of a one-disk VM on LocalDS_0.
func importSpec(name string, capacity int64) *types.VirtualMachineImportSpec {
	var devices object.VirtualDeviceList
	scsi, _ := devices.CreateSCSIController("lsilogic")
	devices = append(devices, scsi)
	ctrl := scsi.(types.BaseVirtualController).GetVirtualController()
	unit := int32(0)
	devices = append(devices, &types.VirtualDisk{
		VirtualDevice: types.VirtualDevice{Key: -200, ControllerKey: ctrl.Key, UnitNumber: &unit,
			Backing: &types.VirtualDiskFlatVer2BackingInfo{
				VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: "[LocalDS_0] " + name + "/" + name + ".vmdk"},
				DiskMode:                     string(types.VirtualDiskModePersistent),
			}},
		CapacityInBytes: capacity, CapacityInKB: capacity / 1024,
	})
	changes, _ := devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	return &types.VirtualMachineImportSpec{ConfigSpec: types.VirtualMachineConfigSpec{
		Name: name, GuestId: "otherLinux64Guest", NumCPUs: 1, MemoryMB: 128,
		Files: &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"}, DeviceChange: changes,
	}}
}

// ImportVApp takes streamOptimized disks and creates them thin; a body
// that is not streamOptimized is refused; an aborted import leaves no VM.
func TestImportVAppTakesStreamOptimizedAndMakesThinDisks(t *testing.T) {
	s, c := startSim(t, Options{VMs: 1})
	ctx := context.Background()
	pool, err := findVM(t, c, "VM1").ResourcePool(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const capacity = 16 << 20
	img := make([]byte, capacity)
	for i := 0; i < capacity; i += 1 << 20 { // 4 KiB of data per MiB
		fillPattern(7, int64(i), img[i:i+4096])
	}
	var stream bytes.Buffer
	w, _ := streamvmdk.NewWriter(&stream, capacity, "")
	w.Write(img)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	start := func(name string) (*nfc.Lease, *nfc.LeaseInfo) {
		res, err := methods.ImportVApp(ctx, c.Client, &types.ImportVApp{This: pool.Reference(), Spec: importSpec(name, capacity)})
		if err != nil {
			t.Fatal(err)
		}
		l := nfc.NewLease(c.Client, res.Returnval)
		info, err := l.Wait(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		return l, info
	}
	put := func(u string, body []byte) int {
		req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(body))
		code := 0
		err := c.Client.Client.Do(ctx, req, func(res *http.Response) error {
			code = res.StatusCode
			_, err := io.Copy(io.Discard, res.Body)
			return err
		})
		if err != nil && code == 0 {
			t.Fatal(err)
		}
		return code
	}
	l, info := start("IMP01")
	if code := put(info.Items[0].URL.String(), img[:1<<20]); code != http.StatusBadRequest {
		t.Fatalf("PUT of raw bytes: %d, want 400", code)
	}
	if code := put(info.Items[0].URL.String(), stream.Bytes()); code != http.StatusOK {
		t.Fatalf("PUT of a streamOptimized disk: %d", code)
	}
	if err := l.Complete(ctx); err != nil {
		t.Fatal(err)
	}
	flat, err := s.DatastoreFile("[LocalDS_0] IMP01/IMP01-flat.vmdk")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(flat)
	if !bytes.Equal(got, img) {
		t.Fatalf("the imported disk differs from the stream's (%d bytes)", len(got))
	}
	fi, _ := os.Stat(flat)
	if alloc := fi.Sys().(*syscall.Stat_t).Blocks * 512; alloc > capacity/8 {
		t.Fatalf("the imported disk allocates %d bytes of %d: not thin", alloc, capacity)
	}
	b := diskBackings(vmProps(t, findVM(t, c, "IMP01"), "config"))
	for _, bb := range b {
		if bb.ThinProvisioned == nil || !*bb.ThinProvisioned {
			t.Fatalf("the imported disk is not thin: %+v", bb)
		}
	}
	// an aborted import leaves no VM
	l2, _ := start("IMP02")
	if err := l2.Abort(ctx, nil); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, "the aborted import's VM is gone", func() bool {
		_, err := find.NewFinder(c.Client).VirtualMachine(ctx, "IMP02")
		_, err2 := find.NewFinder(c.Client).VirtualMachine(ctx, "*/IMP02")
		return err != nil && err2 != nil
	})
}

// While an NFC export streams a disk, its files are open: a /folder GET of
// them answers 500 until the stream ends.
func TestFolderGetOfADiskAnExportHoldsIs500(t *testing.T) {
	s, c := startSim(t, Options{DiskSize: 32 << 20})
	ctx := context.Background()
	vm := findVM(t, c, "VM1")
	snap := snapshot(t, vm, "export")
	disks, _ := s.Disks("VM1")
	base := flatOf(disks[0].Chain[0])
	get := func() int { // HEAD: the lock is checked as for GET, without moving 32 MiB
		res := rawDo(t, http.MethodHead, folderURL(s.URL.Host, dsPathName(base), dsPathPath(base)), withCookie(c))
		res.Body.Close()
		return res.StatusCode
	}
	if code := get(); code != http.StatusOK {
		t.Fatalf("GET of the frozen base before the export: %d", code)
	}
	res, err := methods.ExportSnapshot(ctx, c.Client, &types.ExportSnapshot{This: snap})
	if err != nil {
		t.Fatal(err)
	}
	l := nfc.NewLease(c.Client, res.Returnval)
	info, err := l.Wait(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := c.Client.Download(ctx, info.Items[0].URL, &soap.DefaultDownload)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 64<<10)); err != nil { // the stream has begun, far from its end
		t.Fatal(err)
	}
	if code := get(); code != http.StatusInternalServerError {
		t.Fatalf("GET of the base while an export streams it: %d, want 500", code)
	}
	io.Copy(io.Discard, rc)
	rc.Close()
	eventually.True(t, "the base reads again once the export is done", func() bool { return get() == http.StatusOK })
	l.Complete(ctx)
}
