package vm

import (
	"cmp"
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/vmlua/vmlua/internal/datastore"
	"github.com/vmlua/vmlua/internal/dsread"
	"github.com/vmlua/vmlua/internal/vfault"
	"github.com/vmlua/vmlua/internal/vmdk"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// FrozenDisk is a disk's frozen, exportable part as its datastore holds
// it: what v:export, its server-side copy and v:backup read.
type FrozenDisk struct {
	Path       string            // "[ds] folder/disk.vmdk": the frozen descriptor
	Datastore  *object.Datastore // holding it, with its inventory path
	Folder     string            // the descriptor's folder inside the datastore
	File       string            // the descriptor's file name ("disk.vmdk")
	Descriptor string            // its text
	Extents    []vmdk.Extent     // its flat extents, files of Folder
	Size       int64             // the image's bytes: the extents' sum
	// Host is the VM's host (runtime.host), which owns the running VM's
	// file locks: its bytes are read from there (nil: a host the
	// datastore is mounted on).
	Host *types.ManagedObjectReference
	// NoFolder says why /folder cannot serve the disk's data, as its
	// datastore's type (vSAN, vVols) and its descriptor (an object's URI
	// as extent) show: it is read through the NFC export lease (OpenNFC).
	// "" when nothing says so.
	NoFolder string

	// what Check compares with: the VM and the disk, whether the disk was
	// frozen (below a REDO log) and the VM running as the read began, and
	// the snapshot that froze it (nil: none, or not known)
	v            *VM
	diskID       string
	key          int32
	frozen       bool
	running      bool
	frozenBy     *types.ManagedObjectReference
	frozenByName string
}

// Reader prepares the range reads of the frozen disk's extents, from the
// VM's host (internal/dsread). Close it when done.
func (f *FrozenDisk) Reader(ctx context.Context) (*dsread.Client, error) {
	return dsread.NewClient(ctx, f.Datastore, f.Folder, f.Extents, dsread.OnHost(f.Host))
}

// Frozen finds the disk's frozen part (FrozenPath), its datastore, and
// reads its descriptor and extents. Errors are *runtime.Error naming the
// VM, the disk and the path.
func (v *VM) Frozen(ctx context.Context, d Disk) (*FrozenDisk, error) {
	src, err := v.FrozenPath(d)
	if err != nil {
		return nil, err
	}
	dsName, rel := datastore.Split(src)
	ds, err := v.datastore(ctx, dsName)
	if err != nil {
		return nil, err
	}
	desc, err := dsread.ReadSmall(ctx, ds, rel)
	if err != nil {
		return nil, &runtime.Error{Code: runtime.CodeVSphere, VM: v.Name(), Disk: d.ID, Path: src, Message: "cannot read the disk descriptor: " + vfault.Text(err), Err: err}
	}
	extents, err := vmdk.FlatExtents(string(desc))
	if err != nil {
		return nil, &runtime.Error{Code: runtime.CodeInvalidState, VM: v.Name(), Disk: d.ID, Path: src, Message: err.Error(), Err: err}
	}
	f := &FrozenDisk{Path: src, Datastore: ds, Folder: path.Dir(rel), File: path.Base(rel), Descriptor: string(desc), Extents: extents, Host: v.MO().Runtime.Host,
		v: v, diskID: d.ID, key: d.Key, frozen: d.Frozen(), running: v.Power() != "off"}
	f.Size = extentsSize(extents)
	f.NoFolder = f.noFolderReason(ctx)
	if f.frozen {
		f.frozenBy, f.frozenByName = v.freezer(d, src)
	}
	return f, nil
}

// freezer finds the snapshot that froze path, the disk's frozen part: the
// one whose view of the disk (the VM's file layout) ends with path, else
// the run's own REDO log of the disk. nil when neither says.
func (v *VM) freezer(d Disk, path string) (*types.ManagedObjectReference, string) {
	m := v.MO()
	name := func(ref types.ManagedObjectReference) string {
		if m.Snapshot == nil {
			return ref.Value
		}
		var found string
		var walk func([]types.VirtualMachineSnapshotTree)
		walk = func(ts []types.VirtualMachineSnapshotTree) {
			for _, t := range ts {
				if t.Snapshot == ref {
					found = t.Name
				}
				walk(t.ChildSnapshotList)
			}
		}
		walk(m.Snapshot.RootSnapshotList)
		return cmp.Or(found, ref.Value)
	}
	if lx := m.LayoutEx; lx != nil {
		names := map[int32]string{}
		for _, f := range lx.File {
			names[f.Key] = f.Name
		}
		for _, sl := range lx.Snapshot {
			for _, dl := range sl.Disk {
				if dl.Key != d.Key || len(dl.Chain) == 0 {
					continue
				}
				for _, k := range dl.Chain[len(dl.Chain)-1].FileKey {
					if names[k] == path {
						ref := sl.Key
						return &ref, name(ref)
					}
				}
			}
		}
	}
	if v.c != nil && v.c.run != nil {
		cy := cycleOf(v.c.run)
		cy.mu.Lock()
		defer cy.mu.Unlock()
		if st := cy.forVM(v.Ref.Value).stacks[d.ID]; len(st) == 1 && !st[0].dry {
			ref := st[0].ref
			return &ref, st[0].name
		}
	}
	return nil, ""
}

// Check reports whether the disk's frozen part stayed what was read: the
// snapshot that froze it still exists (the same one: a snapshot removed
// and made again is another, and the disk changed in between), the disk
// still runs on a REDO log above it, and a VM that was off is still off.
// Call it after reading the disk and before the copy is made complete: a
// REDO log committed in the middle of the read (by an administrator, or by
// 'vmlua cleanup --force' on another machine) merged writes into the part
// being read, and the copy is then not a consistent image of any instant.
func (f *FrozenDisk) Check(ctx context.Context) error {
	v := f.v
	if v == nil {
		return nil
	}
	var m mo.VirtualMachine
	if err := v.Obj.Properties(ctx, v.Ref, []string{"snapshot", "config.hardware.device", "runtime.powerState"}, &m); err != nil {
		return vsphereErr(err, v.Name(), "check that disk "+f.diskID+" stayed frozen while it was read")
	}
	fail := func(format string, args ...any) error {
		return &runtime.Error{Code: runtime.CodeInvalidState, VM: v.Name(), Disk: f.diskID, Path: f.Path, Message: fmt.Sprintf(format, args...) +
			": what was read is not a consistent image of the disk, so it is not kept; back the disk up again"}
	}
	if f.frozenBy != nil && !hasSnapshot(m.Snapshot, *f.frozenBy) {
		return fail("the snapshot %s that froze disk %s was removed while the disk was read (by an administrator, or by 'vmlua cleanup --force' on another machine)", f.frozenByName, f.diskID)
	}
	if f.frozen {
		chain := diskChain(m, f.key)
		if len(chain) < 2 || !slices.Contains(chain[:len(chain)-1], f.Path) {
			return fail("disk %s is no longer frozen: %s, which was read, is no longer below a REDO log (the snapshot was committed while the disk was read)", f.diskID, f.Path)
		}
	}
	if !f.running && m.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOff {
		return fail("the VM was powered on while its disk %s, which no snapshot froze, was read", f.diskID)
	}
	return nil
}

// diskChain is the chain of the VM's disk with the device key, base
// first, as m's device list has it (nil when there is no such disk).
func diskChain(m mo.VirtualMachine, key int32) []string {
	if m.Config == nil {
		return nil
	}
	for _, dev := range m.Config.Hardware.Device {
		vd, ok := dev.(*types.VirtualDisk)
		if !ok || vd.Key != key {
			continue
		}
		switch b := vd.Backing.(type) {
		case *types.VirtualDiskFlatVer2BackingInfo:
			return flatChain(b)
		case types.BaseVirtualDeviceFileBackingInfo:
			return []string{b.GetVirtualDeviceFileBackingInfo().FileName}
		}
	}
	return nil
}

// Base is the descriptor's name without ".vmdk": "DB01_1".
func (f *FrozenDisk) Base() string { return strings.TrimSuffix(f.File, ".vmdk") }

// ImageNames are the names of a flat image and its descriptor for a disk
// called base: "base-flat.vmdk", "base.vmdk".
func ImageNames(base string) (flat, desc string) { return base + "-flat.vmdk", base + ".vmdk" }

// exportNames are ImageNames for an export: of the disk's own base name,
// or of name (v:export's {name=...}; with or without ".vmdk" or "-flat").
func exportNames(f *FrozenDisk, name string) (flat, desc string) {
	base := f.Base()
	if name != "" {
		base = strings.TrimSuffix(path.Base(name), ".vmdk")
		base = strings.TrimSuffix(base, "-flat")
	}
	return ImageNames(base)
}

// extentsSize is the image's bytes: the sum of its extents'.
func extentsSize(extents []vmdk.Extent) int64 {
	var n int64
	for _, e := range extents {
		n += e.Bytes
	}
	return n
}

// flatChain is a flat disk backing's chain of files, base first.
func flatChain(b *types.VirtualDiskFlatVer2BackingInfo) []string {
	chain := []string{b.FileName}
	for p := b.Parent; p != nil; p = p.Parent {
		chain = append([]string{p.FileName}, chain...)
	}
	return chain
}
