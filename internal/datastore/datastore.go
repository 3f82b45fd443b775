package datastore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Split splits a datastore path "[ds] folder/file" into the datastore's
// name and the path inside it (spaces around it trimmed). A path without
// the "[ds]" prefix is ("", p).
func Split(p string) (ds, rel string) {
	var dp object.DatastorePath
	if dp.FromString(p) {
		return dp.Datastore, dp.Path
	}
	return "", p
}

// ErrNotFound is the error (wrapped) of a name that none of the datastores
// looked at has.
var ErrNotFound = errors.New("does not exist (or is not visible to this VM)")

// Finder finds datastores by name: the names of a set of datastores in one
// property read, and each datastore's inventory path once. Safe for
// concurrent use.
type Finder struct {
	c     *vim25.Client
	mu    sync.Mutex
	names map[types.ManagedObjectReference]string
	found map[string]*object.Datastore
}

// NewFinder returns a Finder for the datastores of c.
func NewFinder(c *vim25.Client) *Finder {
	return &Finder{c: c, names: map[types.ManagedObjectReference]string{}, found: map[string]*object.Datastore{}}
}

// Names returns the names of refs, reading those not known yet in one
// call.
func (f *Finder) Names(ctx context.Context, refs []types.ManagedObjectReference) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.namesLocked(ctx, refs)
}

func (f *Finder) namesLocked(ctx context.Context, refs []types.ManagedObjectReference) ([]string, error) {
	var unknown []types.ManagedObjectReference
	for _, ref := range refs {
		if _, ok := f.names[ref]; !ok {
			unknown = append(unknown, ref)
		}
	}
	if len(unknown) > 0 {
		var dms []mo.Datastore
		if err := property.DefaultCollector(f.c).Retrieve(ctx, unknown, []string{"name"}, &dms); err != nil {
			return nil, fmt.Errorf("read datastore properties: %w", err)
		}
		for _, dm := range dms {
			f.names[dm.Self] = dm.Name
		}
	}
	out := make([]string, 0, len(refs))
	for _, ref := range refs {
		if n, ok := f.names[ref]; ok {
			out = append(out, n)
		}
	}
	return out, nil
}

// Get returns the datastore named name among refs (with refs nil, among
// all of the inventory), with its inventory path set. A name none of them
// has is an error wrapping ErrNotFound.
func (f *Finder) Get(ctx context.Context, refs []types.ManagedObjectReference, name string) (*object.Datastore, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ds, ok := f.found[name]; ok {
		return ds, nil
	}
	if refs == nil {
		var err error
		if refs, err = All(ctx, f.c); err != nil {
			return nil, fmt.Errorf("list the datastores: %w", err)
		}
	}
	if _, err := f.namesLocked(ctx, refs); err != nil {
		return nil, err
	}
	for _, ref := range refs {
		if f.names[ref] != name {
			continue
		}
		ds := object.NewDatastore(f.c, ref)
		if err := ds.FindInventoryPath(ctx); err != nil {
			return nil, fmt.Errorf("find datastore %s: %w", name, err)
		}
		f.found[name] = ds
		return ds, nil
	}
	return nil, fmt.Errorf("datastore %q %w", name, ErrNotFound)
}

// All lists every datastore of the inventory.
func All(ctx context.Context, c *vim25.Client) ([]types.ManagedObjectReference, error) {
	m := view.NewManager(c)
	v, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"Datastore"}, true)
	if err != nil {
		return nil, err
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	return v.Find(ctx, []string{"Datastore"}, nil)
}

// InDatacenters returns the datastore named name and its datacenter: in
// the named datacenter (name or inventory path) when datacenter is not
// "", else in the first datacenter that has one. A name none has is an
// error wrapping fs.ErrNotExist that lists the names there are.
func InDatacenters(ctx context.Context, c *vim25.Client, name, datacenter string) (*object.Datastore, *object.Datacenter, error) {
	f := find.NewFinder(c, false)
	var dcs []*object.Datacenter
	if datacenter != "" {
		dc, err := f.Datacenter(ctx, datacenter)
		if err != nil {
			return nil, nil, fmt.Errorf("datacenter %q: %w", datacenter, err)
		}
		dcs = []*object.Datacenter{dc}
	} else {
		l, err := f.DatacenterList(ctx, "*")
		if err != nil {
			return nil, nil, fmt.Errorf("list the datacenters of the vSphere: %w", err)
		}
		dcs = l
	}
	var known []string
	for _, dc := range dcs {
		f.SetDatacenter(dc)
		l, err := f.DatastoreList(ctx, "*")
		if err != nil {
			var nf *find.NotFoundError
			if errors.As(err, &nf) {
				continue
			}
			return nil, nil, fmt.Errorf("list the datastores of %s: %w", dc.InventoryPath, err)
		}
		for _, ds := range l {
			if ds.Name() == name {
				return ds, dc, nil
			}
			known = append(known, ds.Name())
		}
	}
	slices.Sort(known)
	known = slices.Compact(known)
	return nil, nil, fmt.Errorf("datastore %q not found on the connected vSphere (it has: %s): %w", name, strings.Join(known, ", "), fs.ErrNotExist)
}
