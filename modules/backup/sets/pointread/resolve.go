package pointread

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// Resolve returns the catalog of a restore point on t: the newest
// complete set of VM vmName when point is "" or "latest", else the set
// vmName/point (a timestamp as vmlua sets list shows it, e.g.
// 20261203T135450Z), which must be complete. Nothing there is a
// runtime.Error coded not_found.
func Resolve(ctx context.Context, t transports.Transport, vmName, point string) (*catalog.Catalog, error) {
	dir := sets.DirName(vmName)
	if point == "" || point == "latest" {
		cat, err := sets.NewestComplete(ctx, t, dir)
		if err != nil {
			return nil, sets.TargetError(err, t.URL())
		}
		if cat == nil {
			return nil, &runtime.Error{Code: runtime.CodeNotFound, VM: vmName, Path: t.URL(), Message: "there is no complete set of this VM on the target (vmlua sets list shows its sets)"}
		}
		return cat, nil
	}
	id := dir + "/" + point
	if _, _, err := catalog.ParseSetID(id); err != nil || strings.Contains(point, "/") || strings.Contains(point, "..") {
		return nil, runtime.Errorf(runtime.CodeInvalidArg, "%q is not a point: give the set's timestamp as vmlua sets list shows it, e.g. 20260102T150405Z", point)
	}
	cat, err := sets.ReadCatalog(ctx, t, id+"/"+catalog.FileName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &runtime.Error{Code: runtime.CodeNotFound, VM: vmName, Path: id, Message: fmt.Sprintf("there is no complete set %s on the target (vmlua sets list shows the sets)", id)}
	}
	if err != nil {
		return nil, sets.TargetError(err, id)
	}
	if !cat.Complete || cat.ID != id {
		return nil, &runtime.Error{Code: runtime.CodeVerify, VM: vmName, Path: id, Message: fmt.Sprintf("the catalog of %s is incomplete or names another set (%s)", id, cat.ID)}
	}
	return cat, nil
}

// Points returns the complete sets of a target, oldest first: of VM
// vmName, or of every VM when it is "". Host configuration sets (no
// disks) are left out.
func Points(ctx context.Context, t transports.Transport, vmName string) ([]*catalog.Catalog, error) {
	list, err := sets.List(ctx, t, vmName)
	if err != nil {
		return nil, sets.TargetError(err, t.URL())
	}
	var out []*catalog.Catalog
	for _, s := range list {
		if s.Complete && s.Catalog != nil && s.Catalog.HostConfig == nil {
			out = append(out, s.Catalog)
		}
	}
	return out, nil
}

// ImageName is the name under which a disk of a point is shown as a raw
// image (vmlua mount): its descriptor's name with .img for .vmdk
// ("DB01_1.img").
func ImageName(d catalog.Disk) string {
	return strings.TrimSuffix(d.Descriptor, ".vmdk") + ".img"
}
