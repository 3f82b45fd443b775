package host

import (
	"sync"

	"github.com/vmlua/vmlua/runtime"
)

// dryMaintenance is what a dry run's enter_maintenance and
// exit_maintenance did, per host moref: nothing changed on the host, but
// the rest of the dry run sees the host as the real run would (a dry
// restore after a dry enter_maintenance finds the host in maintenance
// mode and goes on to its other checks).
type dryMaintenance struct {
	mu sync.Mutex
	m  map[string]bool
}

var dryMaintKey = runtime.NewKey[*dryMaintenance]("host.dry_maintenance")

func dryMaintOf(r *runtime.Run) *dryMaintenance {
	return dryMaintKey.Init(r, func() *dryMaintenance { return &dryMaintenance{m: map[string]bool{}} })
}

// setDryMaint records that the dry run put the host in (on) or out of
// maintenance mode.
func setDryMaint(r *runtime.Run, h *Host, on bool) {
	d := dryMaintOf(r)
	d.mu.Lock()
	d.m[h.Ref.Value] = on
	d.mu.Unlock()
	h.Maint = on
}

// overlay applies, in a dry run, the maintenance state the dry run left
// to hosts just read from vSphere.
func overlay(r *runtime.Run, hs ...*Host) {
	if !r.DryRun {
		return
	}
	d := dryMaintOf(r)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, h := range hs {
		if on, ok := d.m[h.Ref.Value]; ok {
			h.Maint = on
		}
	}
}

// refresh re-reads the host as the run sees it: from vSphere, with the
// dry run's maintenance state on top.
func (h *Host) refresh(r *runtime.Run) error {
	if err := h.Refresh(r.Context()); err != nil {
		return err
	}
	overlay(r, h)
	return nil
}
