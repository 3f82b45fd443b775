package backup

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// dsPath splits "[ds] dir/file" into its datastore and path.
func dsPath(p string) (ds, rel string) {
	var dp object.DatastorePath
	if dp.FromString(p) {
		return dp.Datastore, dp.Path
	}
	return "", p
}

// datastoreOf returns the datastore named name among refs (or, with refs
// nil, anywhere in the inventory), with its inventory path set (needed for
// /folder URLs).
func datastoreOf(ctx context.Context, c *vim25.Client, refs []types.ManagedObjectReference, name string) (*object.Datastore, error) {
	if refs == nil {
		var err error
		refs, err = allDatastores(ctx, c)
		if err != nil {
			return nil, err
		}
	}
	return newDatastores(c).get(ctx, refs, name)
}

// datastores finds datastores by name for one backup: the names of a
// VM's datastores in one property read, and each datastore's inventory
// path once, instead of both for every file copied. Safe for concurrent
// use.
type datastores struct {
	c     *vim25.Client
	mu    sync.Mutex
	names map[types.ManagedObjectReference]string
	found map[string]*object.Datastore
}

func newDatastores(c *vim25.Client) *datastores {
	return &datastores{c: c, names: map[types.ManagedObjectReference]string{}, found: map[string]*object.Datastore{}}
}

// nameOf returns the names of refs, reading those not known yet in one
// call.
func (d *datastores) nameOf(ctx context.Context, refs []types.ManagedObjectReference) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.nameOfLocked(ctx, refs)
}

func (d *datastores) nameOfLocked(ctx context.Context, refs []types.ManagedObjectReference) ([]string, error) {
	var unknown []types.ManagedObjectReference
	for _, ref := range refs {
		if _, ok := d.names[ref]; !ok {
			unknown = append(unknown, ref)
		}
	}
	if len(unknown) > 0 {
		var dms []mo.Datastore
		if err := property.DefaultCollector(d.c).Retrieve(ctx, unknown, []string{"name"}, &dms); err != nil {
			return nil, fmt.Errorf("read datastore properties: %w", err)
		}
		for _, dm := range dms {
			d.names[dm.Self] = dm.Name
		}
	}
	out := make([]string, 0, len(refs))
	for _, ref := range refs {
		if n, ok := d.names[ref]; ok {
			out = append(out, n)
		}
	}
	return out, nil
}

// get returns the datastore named name among refs, with its inventory
// path set (needed for /folder URLs).
func (d *datastores) get(ctx context.Context, refs []types.ManagedObjectReference, name string) (*object.Datastore, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ds, ok := d.found[name]; ok {
		return ds, nil
	}
	if _, err := d.nameOfLocked(ctx, refs); err != nil {
		return nil, err
	}
	for _, ref := range refs {
		if d.names[ref] != name {
			continue
		}
		ds := object.NewDatastore(d.c, ref)
		if err := ds.FindInventoryPath(ctx); err != nil {
			return nil, fmt.Errorf("find datastore %s: %w", name, err)
		}
		d.found[name] = ds
		return ds, nil
	}
	return nil, fmt.Errorf("datastore %q %w", name, errNoDatastore)
}

var errNoDatastore = errors.New("does not exist (or is not visible to this VM)")

func allDatastores(ctx context.Context, c *vim25.Client) ([]types.ManagedObjectReference, error) {
	return containerRefs(ctx, c, "Datastore")
}

// containerRefs lists every managed object of a kind in the inventory.
func containerRefs(ctx context.Context, c *vim25.Client, kind string) ([]types.ManagedObjectReference, error) {
	m := view.NewManager(c)
	v, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{kind}, true)
	if err != nil {
		return nil, err
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	return v.Find(ctx, []string{kind}, nil)
}
