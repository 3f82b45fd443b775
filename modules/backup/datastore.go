package backup

import (
	"context"

	"github.com/vmlua/vmlua/internal/datastore"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

// dsPath splits "[ds] dir/file" into its datastore and path.
func dsPath(p string) (ds, rel string) { return datastore.Split(p) }

// datastores finds datastores by name for one backup (internal/datastore).
type datastores = datastore.Finder

// datastoreOf returns the datastore named name among refs (or, with refs
// nil, anywhere in the inventory), with its inventory path set (needed for
// /folder URLs).
func datastoreOf(ctx context.Context, c *vim25.Client, refs []types.ManagedObjectReference, name string) (*object.Datastore, error) {
	return datastore.NewFinder(c).Get(ctx, refs, name)
}
