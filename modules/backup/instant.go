package backup

import (
	"context"
	"errors"
	"fmt"

	"github.com/vmlua/vmlua/internal/vmdk"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/transports"
)

// PointFile is a file of a restore point as a restore writes it to a
// datastore: small content, or the flat image of disk Disk.
type PointFile struct {
	Name string // in the VM's folder
	Data []byte // the content of a small file
	Disk string // the disk id of a flat image
}

// PointFiles returns the files a restore of cat as VM name would write
// into the VM's folder (sets.LayoutOf names them): the .vmx with its
// paths rewritten as restore rewrites them, the NVRAM and extended
// configuration renamed, each disk's descriptor naming its flat image,
// and the flat images (Disk set: the caller reads them from the point,
// pointread). Small files are read and checked against the catalog.
// vmlua serve nfs serves them for instant recovery.
func PointFiles(ctx context.Context, t transports.Transport, cat *catalog.Catalog, name string) (dir string, out []PointFile, err error) {
	if probs := sets.RestoreProblems(cat, name); len(probs) > 0 {
		return "", nil, fmt.Errorf("%s: %s", probs[0].File, probs[0].Problem)
	}
	l := sets.LayoutOf(cat, name)
	renamed := map[string]string{}
	var vmx *catalog.File
	for _, f := range cat.Files {
		switch f.Kind {
		case catalog.KindConfig:
			f := f
			vmx = &f
		case catalog.KindNvram, catalog.KindExtConfig:
			b, err := sets.ReadVerified(ctx, t, cat, f)
			if err != nil {
				return "", nil, err
			}
			out = append(out, PointFile{Name: l.Renamed[f.Name], Data: b})
			renamed[f.Kind] = l.Renamed[f.Name]
		}
	}
	if vmx == nil {
		return "", nil, errors.New("the catalog lists no .vmx file")
	}
	for _, d := range cat.Disks {
		df, ok := cat.File(d.Descriptor)
		if !ok {
			return "", nil, errors.New("the catalog lists no descriptor " + d.Descriptor)
		}
		b, err := sets.ReadVerified(ctx, t, cat, df)
		if err != nil {
			return "", nil, err
		}
		out = append(out, PointFile{Name: d.Descriptor, Data: []byte(vmdk.FlatDescriptor(string(b), d.Capacity/512, l.Flat[d.ID]))},
			PointFile{Name: l.Flat[d.ID], Disk: d.ID})
	}
	b, err := sets.ReadVerified(ctx, t, cat, *vmx)
	if err != nil {
		return "", nil, err
	}
	out = append(out, PointFile{Name: l.VMX, Data: []byte(rewriteVMX(string(b), cat, name, renamed))})
	return l.Dir, out, nil
}
