package vm

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/vmlua/vmlua/internal/datastore"
	"github.com/vmlua/vmlua/internal/dsread"
	"github.com/vmlua/vmlua/internal/vmdk"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/object"
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
		return nil, &runtime.Error{Code: runtime.CodeVSphere, VM: v.Name(), Disk: d.ID, Path: src, Message: fmt.Sprintf("cannot read the disk descriptor: %v", err), Err: err}
	}
	extents, err := vmdk.FlatExtents(string(desc))
	if err != nil {
		return nil, &runtime.Error{Code: runtime.CodeInvalidState, VM: v.Name(), Disk: d.ID, Path: src, Message: err.Error(), Err: err}
	}
	f := &FrozenDisk{Path: src, Datastore: ds, Folder: path.Dir(rel), File: path.Base(rel), Descriptor: string(desc), Extents: extents, Host: v.MO().Runtime.Host}
	f.Size = extentsSize(extents)
	return f, nil
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
