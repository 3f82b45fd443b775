package vsim

import (
	"fmt"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// SetDatastoreSpace is a test control: the named datastore reports
// capacity and free bytes (summary and info), as a nearly full target
// datastore would; vcsim reports 1 TiB per host mounting it. A
// RefreshDatastore call recomputes vcsim's figures.
func (s *Sim) SetDatastoreSpace(name string, capacity, free int64) error {
	var ds *simulator.Datastore
	for _, ref := range s.reg.All("Datastore") {
		if d, ok := ref.(*simulator.Datastore); ok && d.Name == name {
			ds = d
		}
	}
	if ds == nil {
		return fmt.Errorf("vsim: no datastore %s", name)
	}
	s.bgContext().WithLock(ds, func() {
		ds.Summary.Capacity, ds.Summary.FreeSpace = capacity, free
		if info, ok := ds.Info.(types.BaseDatastoreInfo); ok {
			info.GetDatastoreInfo().FreeSpace = free
		}
	})
	return nil
}
