package vsim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/eventually"
	"github.com/vmlua/vmlua/internal/vmxfmt"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/nfc"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func powerOff(t *testing.T, vm *object.VirtualMachine) {
	t.Helper()
	task, err := vm.PowerOff(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestGuestWritesOnlyWhilePoweredOnAndNotPaused(t *testing.T) {
	s, c := startSim(t, Options{})
	vm := findVM(t, c, "VM1")
	waitWrites(t, s, "VM1", 5)
	if err := s.PauseGuest("VM1"); err != nil {
		t.Fatal(err)
	}
	a, _ := s.WriteSeq("VM1")
	waitWrites(t, s, "DB01", 20) // time passes
	if b, _ := s.WriteSeq("VM1"); b != a {
		t.Fatalf("paused guest wrote %d times", b-a)
	}
	s.ResumeGuest("VM1")
	waitWrites(t, s, "VM1", 5)
	powerOff(t, vm)
	a, _ = s.WriteSeq("VM1")
	waitWrites(t, s, "DB01", 20)
	if b, _ := s.WriteSeq("VM1"); b != a {
		t.Fatalf("powered-off guest wrote %d times", b-a)
	}
	// the disk holds exactly what the guest wrote (no snapshot: straight into the flat file)
	disks, _ := s.Disks("VM1")
	want, size, _ := s.ExpectedContent("VM1", "scsi0:0", a)
	rc := folderGet(t, c, flatOf(disks[0].Chain[0]))
	defer rc.Close()
	sameContent(t, "VM1 disk", rc, want, size)
}

func TestInitialImageHasHoles(t *testing.T) {
	s, _ := startSim(t, Options{})
	disks, _ := s.Disks("VM2")
	p, _ := s.dsLocal(flatOf(disks[0].Chain[0]))
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != disks[0].Capacity {
		t.Fatalf("flat file is %d bytes, want %d", fi.Size(), disks[0].Capacity)
	}
	holes := 0
	for blk := int64(0); blk*BlockSize < disks[0].Capacity; blk++ {
		if !blockAllocated(seedOf("vmlua", "VM2", "scsi0:0"), blk) {
			holes++
		}
	}
	if holes == 0 {
		t.Fatal("no unallocated regions in the initial image")
	}
}

func TestQuestions(t *testing.T) {
	s, c := startSim(t, Options{})
	ctx := context.Background()
	vm := findVM(t, c, "DB01")

	// a watcher sees the question appear through WaitForUpdates
	seen := make(chan *types.VirtualMachineQuestionInfo, 1)
	wctx := eventually.Context(t)
	go func() {
		property.Wait(wctx, property.DefaultCollector(c.Client), vm.Reference(), []string{"runtime.question"}, func(pc []types.PropertyChange) bool {
			for _, ch := range pc {
				if q, ok := ch.Val.(types.VirtualMachineQuestionInfo); ok {
					seen <- &q
					return true
				}
			}
			return false
		})
	}()

	// two REDOs are allowed, the third raises a single-choice question
	snapshot(t, vm, "one")
	snapshot(t, vm, "two")
	task, err := vm.CreateSnapshot(ctx, "three", "", false, false)
	if err != nil {
		t.Fatal(err)
	}
	var q *types.VirtualMachineQuestionInfo
	select {
	case q = <-seen:
	case <-wctx.Done():
		t.Fatal("no question through WaitForUpdates")
	}
	if len(q.Choice.ChoiceInfo) != 1 || q.Choice.ChoiceInfo[0].GetElementDescription().Label != "OK" || q.Id == "" || len(q.Message) == 0 {
		t.Fatalf("question %+v", q)
	}
	if got := vmProps(t, vm, "runtime.question").Runtime.Question; got == nil || got.Id != q.Id {
		t.Fatalf("runtime.question = %+v", got)
	}
	for _, tc := range []struct{ name, id, choice string }{
		{"wrong id", "nope", "0"},
		{"wrong choice", q.Id, "1"},
	} {
		err := vm.Answer(ctx, tc.id, tc.choice)
		var ia *types.InvalidArgument
		if !isFault(err, &ia) {
			t.Errorf("%s: err = %v, want InvalidArgument", tc.name, err)
		}
	}
	if err := vm.Answer(ctx, q.Id, "0"); err != nil {
		t.Fatal(err)
	}
	err = task.Wait(ctx)
	var tm *types.TooManySnapshotLevels
	if !isFault(err, &tm) {
		t.Fatalf("CreateSnapshot beyond the REDO depth: %v, want TooManySnapshotLevels", err)
	}
	if got := vmProps(t, vm, "runtime.question").Runtime.Question; got != nil {
		t.Fatalf("question not cleared: %+v", got)
	}

	// a question raised by hand; answering it tells the asker the choice
	hq, err := s.Ask("VM1", "Continue?", "Yes", "No")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ask("VM1", "again?", "Yes"); !errors.Is(err, errQuestionPending) {
		t.Fatalf("second question: %v", err)
	}
	vm1 := findVM(t, c, "VM1")
	if err := vm1.Answer(ctx, hq.ID, "1"); err != nil {
		t.Fatal(err)
	}
	if n, err := hq.Wait(ctx); err != nil || n != 1 {
		t.Fatalf("answer %d %v", n, err)
	}
}

func TestExportVm(t *testing.T) {
	s, c := startSim(t, Options{})
	ctx := context.Background()
	vm := findVM(t, c, "VM1")
	_, err := vm.Export(ctx)
	var ip *types.InvalidPowerState
	if !isFault(err, &ip) {
		t.Fatalf("ExportVm powered on: %v, want InvalidPowerState", err)
	}
	snapshot(t, vm, "s") // export of a powered-off VM on a delta gives the chain's content
	waitWrites(t, s, "VM1", 5)
	powerOff(t, vm)
	seq, _ := s.WriteSeq("VM1")
	lease, err := vm.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	leaseDownload(t, c, lease.Reference(), func(item nfc.FileItem, r io.Reader) {
		want, size, _ := s.ExpectedContent("VM1", "scsi0:0", seq)
		sameContent(t, "ExportVm", exportReader(t, r), want, size)
		n++
	})
	if n != 1 {
		t.Fatalf("%d device URLs", n)
	}
}

// A frozen delta read over /folder is the file ESXi would serve: the
// chain up to it, fetched over /folder (descriptors, base, deltas), reads
// with qemu-img as the content at its snapshot.
func TestFolderGetOfFrozenDeltaIsItsRealFile(t *testing.T) {
	s, c := startSim(t, Options{})
	vm := findVM(t, c, "VM1")
	snapshot(t, vm, "a")
	waitWrites(t, s, "VM1", 10)
	snap2 := snapshot(t, vm, "b")
	seq2, _ := s.SnapshotSeq(snap2)
	waitWrites(t, s, "VM1", 10)
	disks, _ := s.Disks("VM1")
	dir := t.TempDir()
	fetch := func(dsPath string) {
		rc := folderGet(t, c, dsPath)
		defer rc.Close()
		f, err := os.Create(filepath.Join(dir, path.Base(dsPathPath(dsPath))))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := io.Copy(f, rc); err != nil {
			t.Fatal(err)
		}
	}
	base, mid := disks[0].Chain[0], disks[0].Chain[1] // mid: frozen by snapshot b
	for _, p := range []string{base, flatOf(base), mid, strings.TrimSuffix(mid, ".vmdk") + "-delta.vmdk"} {
		fetch(p)
	}
	img, _ := qemuImage(t, filepath.Join(dir, path.Base(dsPathPath(mid))))
	want, size, _ := s.ExpectedContent("VM1", "scsi0:0", seq2)
	sameContent(t, "frozen delta", bytes.NewReader(img), want, size)
}

func TestRemoveAllSnapshotsCollapsesTheChain(t *testing.T) {
	s, c := startSim(t, Options{MaxRedo: -1})
	vm := findVM(t, c, "DB01")
	for _, n := range []string{"a", "b", "c"} {
		snapshot(t, vm, n)
		waitWrites(t, s, "DB01", 10)
	}
	task, err := vm.RemoveAllSnapshot(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	// the running VM holds its live disks (file_lock.go): stop it to read them
	powerOff(t, vm)
	seq, _ := s.WriteSeq("DB01")
	m := vmProps(t, vm, "config.hardware.device", "snapshot", "layoutEx")
	if m.Snapshot != nil || len(m.LayoutEx.Snapshot) != 0 {
		t.Fatalf("snapshots left %+v", m.Snapshot)
	}
	disks, _ := s.Disks("DB01")
	for _, d := range disks {
		if len(d.Chain) != 1 {
			t.Fatalf("%s chain %v", d.ID, d.Chain)
		}
		want, size, _ := s.ExpectedContent("DB01", d.ID, seq)
		rc := folderGet(t, c, flatOf(d.Chain[0]))
		sameContent(t, d.ID, rc, want, size)
		rc.Close()
	}
	// no .vmsn or delta left behind
	for _, f := range m.LayoutEx.File {
		if strings.HasSuffix(f.Name, ".vmsn") || strings.Contains(f.Name, "-00000") {
			t.Errorf("left behind: %s", f.Name)
		}
	}
	checkLayout(t, s, vm, m)
}

func TestVMXAndRegisterVM(t *testing.T) {
	s, c := startSim(t, Options{})
	ctx := context.Background()
	vm := findVM(t, c, "DB01")
	task, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{
		MemoryMB: 512, ExtraConfig: []types.BaseOptionValue{&types.OptionValue{Key: "vmlua.tier", Value: "gold"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	snapshot(t, vm, "s")
	m := vmProps(t, vm, "config")
	p, _ := s.dsLocal(m.Config.Files.VmPathName)
	var kv map[string]string
	eventually.True(t, "the .vmx to say memsize 512", func() bool {
		f, _ := os.Open(p)
		kv, _ = ParseVMX(f)
		f.Close()
		return kv["memsize"] == "512"
	})
	for k, want := range map[string]string{
		"displayName": "DB01", "memsize": "512", "numvcpus": "1", "scsi0.present": "TRUE", "scsi0.virtualDev": "lsilogic",
		"scsi0:0.present": "TRUE", "scsi0:0.fileName": "DB01-000001.vmdk", "scsi0:0.mode": "persistent",
		"scsi0:0.deviceType": "scsi-hardDisk", "scsi0:1.fileName": "/vmfs/volumes/LocalDS_1/DB01/DB01_1-000001.vmdk",
		"scsi0:2.mode": "independent-persistent", "ethernet0.present": "TRUE", "ethernet0.virtualDev": "vmxnet3",
		"ethernet0.networkName": "VM Network", "vmlua.tier": "gold", "uuid.bios": vmxfmt.UUID(m.Config.Uuid),
	} {
		if kv[k] != want {
			t.Errorf("vmx %s = %q, want %q", k, kv[k], want)
		}
	}

	// restore: a copy of VM2's files registered under a new name
	src, _ := s.Disks("VM2")
	vm2 := findVM(t, c, "VM2")
	powerOff(t, vm2)
	srcDir, _ := s.dsLocal("[LocalDS_0] VM2")
	dstDir, _ := s.dsLocal("[LocalDS_0] R1")
	os.MkdirAll(dstDir, 0o755)
	for _, n := range []string{"VM2.vmx", "VM2.vmdk", "VM2-flat.vmdk"} {
		b, err := os.ReadFile(srcDir + "/" + n)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(dstDir+"/"+n, b, 0o644)
	}
	finder := find.NewFinder(c.Client)
	dc, _ := finder.DefaultDatacenter(ctx)
	folders, _ := dc.Folders(ctx)
	pool, err := finder.DefaultResourcePool(ctx)
	if err != nil {
		pools, _ := finder.ResourcePoolList(ctx, "*")
		pool = pools[0]
	}
	rt, err := folders.VmFolder.RegisterVM(ctx, "[LocalDS_0] R1/VM2.vmx", "R1", false, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := rt.WaitForResult(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r1 := object.NewVirtualMachine(c.Client, info.Result.(types.ManagedObjectReference))
	rm := vmProps(t, r1, "config")
	var disks []*types.VirtualDisk
	for _, d := range rm.Config.Hardware.Device {
		if vd, ok := d.(*types.VirtualDisk); ok {
			disks = append(disks, vd)
		}
	}
	if len(disks) != 1 || disks[0].CapacityInBytes != src[0].Capacity ||
		disks[0].Backing.(*types.VirtualDiskFlatVer2BackingInfo).FileName != "[LocalDS_0] R1/VM2.vmdk" {
		t.Fatalf("registered VM disks: %+v", disks)
	}
	if rm.Config.Hardware.MemoryMB != 256 {
		t.Fatalf("memory %d", rm.Config.Hardware.MemoryMB)
	}
	// its disk serves the copied bytes
	seq, _ := s.WriteSeq("VM2")
	want, size, _ := s.ExpectedContent("VM2", "scsi0:0", seq)
	rc := folderGet(t, c, "[LocalDS_0] R1/VM2-flat.vmdk")
	defer rc.Close()
	sameContent(t, "registered disk", rc, want, size)
}

func TestChangedBlockTracking(t *testing.T) {
	s, c := startSim(t, Options{})
	ctx := context.Background()
	vm := findVM(t, c, "DB01")
	snap1 := snapshot(t, vm, "full")
	waitWrites(t, s, "DB01", 30)
	snap2 := snapshot(t, vm, "incr")
	seq1, _ := s.SnapshotSeq(snap1)
	seq2, _ := s.SnapshotSeq(snap2)
	disks, _ := s.Disks("DB01")
	d := disks[0]
	// the snapshot's backing carries a ChangeId
	var ms1 mo.VirtualMachineSnapshot
	if err := property.DefaultCollector(c.Client).RetrieveOne(ctx, snap1, []string{"config"}, &ms1); err != nil {
		t.Fatal(err)
	}
	var changeID string
	for _, dev := range ms1.Config.Hardware.Device {
		if vd, ok := dev.(*types.VirtualDisk); ok && vd.Key == d.Key {
			changeID = vd.Backing.(*types.VirtualDiskFlatVer2BackingInfo).ChangeId
		}
	}
	if changeID == "" {
		t.Fatal("no ChangeId on the snapshot's disk backing")
	}
	query := func(snap types.ManagedObjectReference, id string) []types.DiskChangeExtent {
		res, err := methods.QueryChangedDiskAreas(ctx, c.Client, &types.QueryChangedDiskAreas{This: vm.Reference(), Snapshot: &snap, DeviceKey: d.Key, ChangeId: id})
		if err != nil {
			t.Fatal(err)
		}
		return res.Returnval.ChangedArea
	}
	covered := func(areas []types.DiskChangeExtent, off, n int64) bool {
		for _, a := range areas {
			if off >= a.Start && off+n <= a.Start+a.Length {
				return true
			}
		}
		return false
	}
	log, _ := s.WriteLog("DB01")
	incr := query(snap2, changeID)
	all := query(snap1, "*")
	var total int64
	for _, w := range log {
		if w.Disk != d.ID {
			continue
		}
		if w.Seq > seq1 && w.Seq <= seq2 && !covered(incr, w.Offset, w.Length) {
			t.Errorf("write %d (%d+%d) missing from incremental areas", w.Seq, w.Offset, w.Length)
		}
		if w.Seq <= seq1 && !covered(all, w.Offset, w.Length) {
			t.Errorf("write %d missing from \"*\"", w.Seq)
		}
	}
	for _, a := range incr {
		total += a.Length
	}
	if total == 0 || total >= d.Capacity {
		t.Fatalf("incremental areas total %d bytes", total)
	}
	// "*" covers every allocated block and leaves the holes out
	for blk := int64(0); blk*BlockSize < d.Capacity; blk++ {
		alloc := blockAllocated(seedOf("vmlua", "DB01", d.ID), blk)
		if alloc && !covered(all, blk*BlockSize, BlockSize) {
			t.Fatalf("allocated block %d not in \"*\"", blk)
		}
	}
	if _, err := methods.QueryChangedDiskAreas(ctx, c.Client, &types.QueryChangedDiskAreas{This: vm.Reference(), Snapshot: &snap2, DeviceKey: d.Key, ChangeId: "bogus"}); err == nil {
		t.Fatal("bogus changeId accepted")
	}
}

func TestFaults(t *testing.T) {
	s, c := startSim(t, Options{})
	ctx := context.Background()
	vm := findVM(t, c, "DB01")

	t.Run("vcsim fault rule fails the call", func(t *testing.T) {
		s.AddFaultRule(&simulator.FaultInjectionRule{MethodName: "PowerOffVM_Task", ObjectType: "VirtualMachine", ObjectName: "VM2",
			FaultType: simulator.FaultTypeInvalidState, Probability: 1, Enabled: true, MaxCount: 1})
		_, err := findVM(t, c, "VM2").PowerOff(ctx)
		var is *types.InvalidState
		if !isFault(err, &is) {
			t.Fatalf("PowerOff: %v, want InvalidState", err)
		}
	})
	t.Run("fault in CreateSnapshot task leaves no snapshot", func(t *testing.T) {
		s.InjectTaskFault(TaskFault{Method: "CreateSnapshot_Task", VM: "DB01", Fault: &types.InsufficientDisks{}})
		task, err := vm.CreateSnapshot(ctx, "x", "", false, false)
		if err != nil {
			t.Fatal(err)
		}
		var f *types.InsufficientDisks
		if err := task.Wait(ctx); !isFault(err, &f) {
			t.Fatalf("task: %v", err)
		}
		if m := vmProps(t, vm, "snapshot"); m.Snapshot != nil {
			t.Fatal("snapshot created")
		}
	})
	t.Run("fault midway through a merge keeps the content and needs consolidation", func(t *testing.T) {
		snap := snapshot(t, vm, "m")
		waitWrites(t, s, "DB01", 40)
		s.InjectTaskFault(TaskFault{Method: "RemoveSnapshot_Task", VM: "DB01", Point: PointMerge})
		res, err := methods.RemoveSnapshot_Task(ctx, c.Client, &types.RemoveSnapshot_Task{This: snap})
		if err != nil {
			t.Fatal(err)
		}
		if err := object.NewTask(c.Client, res.Returnval).Wait(ctx); err == nil {
			t.Fatal("RemoveSnapshot succeeded")
		}
		m := vmProps(t, vm, "snapshot", "runtime")
		if m.Snapshot != nil || !m.Runtime.ConsolidationNeeded {
			t.Fatalf("snapshot %+v consolidationNeeded %v", m.Snapshot, m.Runtime.ConsolidationNeeded)
		}
		cres, err := methods.ConsolidateVMDisks_Task(ctx, c.Client, &types.ConsolidateVMDisks_Task{This: vm.Reference()})
		if err != nil {
			t.Fatal(err)
		}
		if err := object.NewTask(c.Client, cres.Returnval).Wait(ctx); err != nil {
			t.Fatal(err)
		}
		powerOff(t, vm) // the running VM holds its live disks (file_lock.go)
		seq, _ := s.WriteSeq("DB01")
		disks, _ := s.Disks("DB01")
		for _, d := range disks {
			if len(d.Chain) != 1 {
				t.Fatalf("%s chain %v", d.ID, d.Chain)
			}
			want, size, _ := s.ExpectedContent("DB01", d.ID, seq)
			rc := folderGet(t, c, flatOf(d.Chain[0]))
			sameContent(t, d.ID, rc, want, size)
			rc.Close()
		}
		if m := vmProps(t, vm, "runtime"); m.Runtime.ConsolidationNeeded {
			t.Fatal("consolidationNeeded after ConsolidateVMDisks")
		}
	})
	t.Run("dropped sessions get NotAuthenticated", func(t *testing.T) {
		c2, err := s.Client(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.DropSessions(ctx)
		if err != nil || n < 2 {
			t.Fatalf("dropped %d: %v", n, err)
		}
		var mvm mo.VirtualMachine
		err = property.DefaultCollector(c2.Client).RetrieveOne(ctx, vm.Reference(), []string{"name"}, &mvm)
		var na *types.NotAuthenticated
		if !isFault(err, &na) {
			t.Fatalf("after DropSessions: %v", err)
		}
	})
}
