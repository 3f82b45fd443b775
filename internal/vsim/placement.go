package vsim

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Where VMs sit in the inventory, as admins organise them: VMSpec.Folder
// (a VM folder below the datacenter's, made as needed), VMSpec.Host (the
// host it is registered on) and VMSpec.Pool (a resource pool below the
// host's cluster's or standalone host's root pool, made as needed). The
// vpx model has the datacenter DC0 with the cluster DC0_C0 (hosts
// DC0_C0_H0..H2) and the standalone host DC0_H0; without a Host, a VM goes
// to the cluster, on a host vcsim picks.

// placement returns the folder, pool and host (nil: vcsim picks) of spec.
func (s *Sim) placement(ctx context.Context, finder *find.Finder, vmFolder *object.Folder, spec VMSpec) (*object.Folder, *object.ResourcePool, *object.HostSystem, error) {
	folder := vmFolder
	if spec.Folder != "" {
		f, err := s.ensureFolder(ctx, vmFolder, spec.Folder)
		if err != nil {
			return nil, nil, nil, err
		}
		folder = f
	}
	var host *object.HostSystem
	var root *object.ResourcePool
	if spec.Host != "" {
		h, err := finder.HostSystem(ctx, spec.Host)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("host %q: %w", spec.Host, err)
		}
		host = h
		if root, err = h.ResourcePool(ctx); err != nil {
			return nil, nil, nil, fmt.Errorf("host %q's resource pool: %w", spec.Host, err)
		}
	} else {
		pools, err := finder.ResourcePoolList(ctx, "*")
		if err != nil {
			return nil, nil, nil, err
		}
		sort.Slice(pools, func(i, j int) bool { return pools[i].InventoryPath < pools[j].InventoryPath })
		root = pools[0]
	}
	pool := root
	if spec.Pool != "" {
		p, err := s.ensurePool(ctx, root, spec.Pool)
		if err != nil {
			return nil, nil, nil, err
		}
		pool = p
	}
	return folder, pool, host, nil
}

// ensureFolder returns the folder at rel ("prod/web") below parent,
// creating what is missing.
func (s *Sim) ensureFolder(ctx context.Context, parent *object.Folder, rel string) (*object.Folder, error) {
	f := parent
	for _, name := range strings.Split(strings.Trim(path.Clean(rel), "/"), "/") {
		kids, err := f.Children(ctx)
		if err != nil {
			return nil, err
		}
		var next *object.Folder
		for _, k := range kids {
			if kf, ok := k.(*object.Folder); ok {
				var n string
				if n, err = kf.ObjectName(ctx); err == nil && n == name {
					next = kf
					break
				}
			}
		}
		if next == nil {
			if next, err = f.CreateFolder(ctx, name); err != nil {
				return nil, fmt.Errorf("create folder %q: %w", name, err)
			}
		}
		f = next
	}
	return f, nil
}

// ensurePool returns the pool at rel ("prod" or "prod/db") below root,
// creating what is missing.
func (s *Sim) ensurePool(ctx context.Context, root *object.ResourcePool, rel string) (*object.ResourcePool, error) {
	p := root
	for _, name := range strings.Split(strings.Trim(path.Clean(rel), "/"), "/") {
		var rp mo.ResourcePool
		if err := p.Properties(ctx, p.Reference(), []string{"resourcePool"}, &rp); err != nil {
			return nil, err
		}
		var next *object.ResourcePool
		for _, ref := range rp.ResourcePool {
			kid := object.NewResourcePool(p.Client(), ref)
			if n, err := kid.ObjectName(ctx); err == nil && n == name {
				next = kid
				break
			}
		}
		if next == nil {
			var err error
			if next, err = p.Create(ctx, name, types.DefaultResourceConfigSpec()); err != nil {
				return nil, fmt.Errorf("create resource pool %q: %w", name, err)
			}
		}
		p = next
	}
	return p, nil
}
