package backup

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
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
	for _, ref := range refs {
		ds := object.NewDatastore(c, ref)
		var dm mo.Datastore
		if err := ds.Properties(ctx, ref, []string{"name"}, &dm); err != nil {
			return nil, fmt.Errorf("read datastore properties: %w", err)
		}
		if dm.Name == name {
			if err := ds.FindInventoryPath(ctx); err != nil {
				return nil, fmt.Errorf("find datastore %s: %w", name, err)
			}
			return ds, nil
		}
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

// readSmall downloads a small datastore file (descriptors, .vmx).
func readSmall(ctx context.Context, ds *object.Datastore, rel string) ([]byte, error) {
	rc, _, err := ds.Download(ctx, rel, &soap.DefaultDownload)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 16<<20+1))
	if err == nil && len(b) > 16<<20 {
		err = fmt.Errorf("%s is larger than 16 MiB: not a configuration file", rel)
	}
	return b, err
}
