package vm

import (
	"context"

	"github.com/vmlua/vmlua/internal/fleet"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
)

// FleetItems resolves a specifier to the fleet scheduler's items: UUID,
// name, moref, host and datastores of every matching VM, with one read of
// the VMs (the look-up's) and one each of the hosts' and datastores' names,
// whatever the number of VMs.
func (c *Conn) FleetItems(ctx context.Context, spec Spec) ([]fleet.Item, error) {
	found, err := c.find(ctx, spec, "config.uuid", "runtime.host", "datastore")
	if err != nil || len(found) == 0 {
		return nil, err
	}
	m := view.NewManager(c.Client)
	v, err := m.CreateContainerView(ctx, c.Client.ServiceContent.RootFolder, []string{"HostSystem", "Datastore"}, true)
	if err != nil {
		return nil, vsphereErr(err, "", "list the inventory")
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	var hosts []mo.HostSystem
	if err := v.Retrieve(ctx, []string{"HostSystem"}, []string{"name"}, &hosts); err != nil {
		return nil, vsphereErr(err, "", "read the hosts")
	}
	var dss []mo.Datastore
	if err := v.Retrieve(ctx, []string{"Datastore"}, []string{"name"}, &dss); err != nil {
		return nil, vsphereErr(err, "", "read the datastores")
	}
	names := map[string]string{}
	for _, h := range hosts {
		names[h.Self.Value] = h.Name
	}
	for _, d := range dss {
		names[d.Self.Value] = d.Name
	}
	var out []fleet.Item
	for _, x := range found {
		it := fleet.Item{Name: x.Name, Ref: x.Self.Value}
		if x.Config != nil {
			it.UUID = x.Config.Uuid
		}
		if it.UUID == "" {
			it.UUID = x.Self.Value
		}
		if x.Runtime.Host != nil {
			it.Host = names[x.Runtime.Host.Value]
		}
		for _, d := range x.Datastore {
			it.Datastores = append(it.Datastores, names[d.Value])
		}
		out = append(out, it)
	}
	return out, nil
}
