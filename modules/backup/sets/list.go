package sets

import (
	"context"
	"errors"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/transports"
)

// SetInfo is one set as a listing shows it.
type SetInfo struct {
	ID       string
	VM       string // the VM folder's name
	Time     time.Time
	Complete bool
	Size     int64 // bytes of the files present
	Files    int
	// Catalog is the set's catalog.json, or for an incomplete set its
	// progress.json when there is one; nil otherwise.
	Catalog *catalog.Catalog
}

// List returns the sets under t, of one VM (vmName != "") or of all,
// oldest first.
func List(ctx context.Context, t transports.Transport, vmName string) ([]SetInfo, error) {
	var vms []string
	if rest, ok := strings.CutPrefix(vmName, catalog.HostPrefix); ok {
		vms = []string{catalog.HostPrefix + DirName(rest)} // a host's configuration sets
	} else if vmName != "" {
		vms = []string{DirName(vmName)}
	} else {
		fis, err := t.List(ctx, "")
		if err != nil {
			return nil, err
		}
		for _, fi := range fis {
			if fi.IsDir && !strings.HasPrefix(fi.Name, ".") {
				vms = append(vms, fi.Name)
			}
		}
	}
	var out []SetInfo
	for _, vmDir := range vms {
		fis, err := t.List(ctx, vmDir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, fi := range fis {
			if !fi.IsDir {
				continue
			}
			ts, err := time.Parse(catalog.TimeFormat, fi.Name)
			if err != nil {
				continue
			}
			si, err := setInfo(ctx, t, vmDir+"/"+fi.Name)
			if err != nil {
				return nil, err
			}
			si.VM, si.Time = vmDir, ts
			out = append(out, si)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func setInfo(ctx context.Context, t transports.Transport, id string) (SetInfo, error) {
	si := SetInfo{ID: id}
	fis, err := t.List(ctx, id)
	if err != nil {
		return si, err
	}
	have := map[string]bool{}
	for _, fi := range fis {
		if fi.IsDir || transports.IsTemp(fi.Name) {
			continue
		}
		have[fi.Name] = true
		si.Size += fi.Size
		if fi.Name != catalog.FileName && fi.Name != catalog.ProgressName {
			si.Files++
		}
	}
	switch {
	case have[catalog.FileName]:
		c, err := ReadCatalog(ctx, t, id+"/"+catalog.FileName)
		if err == nil {
			si.Catalog, si.Complete = c, c.Complete
		}
	case have[catalog.ProgressName]:
		if c, err := ReadCatalog(ctx, t, id+"/"+catalog.ProgressName); err == nil {
			c.Complete = false
			si.Catalog = c
		}
	}
	return si, nil
}

// NewestComplete returns the catalog of the newest complete set in a VM's
// folder (nil when there is none), reading catalogs from the newest set
// back only until one is complete: List reads every set's, and a base for
// an incremental needs one.
func NewestComplete(ctx context.Context, t transports.Transport, vmDir string) (*catalog.Catalog, error) {
	fis, err := t.List(ctx, vmDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	type set struct {
		name string
		ts   time.Time
	}
	var sets []set
	for _, fi := range fis {
		if ts, err := time.Parse(catalog.TimeFormat, fi.Name); err == nil && fi.IsDir {
			sets = append(sets, set{fi.Name, ts})
		}
	}
	sort.Slice(sets, func(i, j int) bool {
		if !sets[i].ts.Equal(sets[j].ts) {
			return sets[i].ts.After(sets[j].ts)
		}
		return sets[i].name > sets[j].name
	})
	for _, s := range sets {
		// as List: a catalog that cannot be read or is not complete makes an incomplete set
		if c, err := ReadCatalog(ctx, t, vmDir+"/"+s.name+"/"+catalog.FileName); err == nil && c.Complete {
			return c, nil
		} else if err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, nil
}
