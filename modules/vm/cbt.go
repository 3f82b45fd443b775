package vm

import (
	"fmt"
	"strings"

	"github.com/vmlua/vmlua/internal/taskwait"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/vim25/types"
)

// Changed block tracking done safely.
//
// VMware's KB 1020128 (Broadcom 320557, "Changed Block Tracking (CBT) on
// virtual machines") requires a VM to have no snapshot when tracking is
// enabled, for a clean start; KB 2139574 ("Resetting Changed Block
// Tracking for VMware vSphere virtual machines") resets tracking that
// may have gone wrong (KB 2090639, KB 2136854) by switching it off, a
// snapshot create and delete (the stun-unstun cycle that makes a running
// VM take the reconfiguration), and switching it on again. The VDDK
// Programming Guide ("Enable Changed Block Tracking") says a powered-on VM
// takes a CBT reconfiguration only after such a cycle, so the reset ends
// with a second one: tracking is active when it returns.

// CBTEnabled reports whether changed block tracking is on in the VM's
// configuration (as of the last refresh).
func (v *VM) CBTEnabled() bool {
	c := v.MO().Config
	return c != nil && c.ChangeTrackingEnabled != nil && *c.ChangeTrackingEnabled
}

// SnapshotNames lists the names of every snapshot of the VM's tree (as
// of the last refresh), depth first.
func (v *VM) SnapshotNames() []string {
	s := v.MO().Snapshot
	if s == nil {
		return nil
	}
	var out []string
	var walk func([]types.VirtualMachineSnapshotTree)
	walk = func(ts []types.VirtualMachineSnapshotTree) {
		for _, t := range ts {
			out = append(out, t.Name)
			walk(t.ChildSnapshotList)
		}
	}
	walk(s.RootSnapshotList)
	return out
}

// CBTBlockedBySnapshots says why changed block tracking must not be
// switched on now ("" when it may): the VM has snapshots.
func (v *VM) CBTBlockedBySnapshots() string {
	names := v.SnapshotNames()
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf("the VM has %d snapshot(s) (%s), and VMware supports switching changed block tracking on only on a VM without snapshots (KB 1020128); remove them, then run cbt_reset (vmlua cbt-reset)", len(names), quoteList(names, 3))
}

// quoteList is up to max names quoted and joined, "and N more" after.
func quoteList(names []string, max int) string {
	var q []string
	for i, n := range names {
		if i == max {
			q = append(q, fmt.Sprintf("and %d more", len(names)-max))
			break
		}
		q = append(q, fmt.Sprintf("%q", n))
	}
	return strings.Join(q, ", ")
}

// EnableCBT switches changed block tracking on; refused (invalid_state)
// while the VM has snapshots.
func (v *VM) EnableCBT(r *runtime.Run) error {
	if why := v.CBTBlockedBySnapshots(); why != "" {
		return &runtime.Error{Code: runtime.CodeInvalidState, VM: v.Name(), Message: "cannot switch changed block tracking on: " + why}
	}
	return v.setCBT(r, true)
}

// setCBT reconfigures changeTrackingEnabled and reads the VM again.
func (v *VM) setCBT(r *runtime.Run, on bool) error {
	ctx := r.Context()
	state := map[bool]string{true: "on", false: "off"}[on]
	if r.DryRunAction("switch changed block tracking "+state, "vm", v.Name()) {
		return nil
	}
	task, err := v.Obj.Reconfigure(ctx, types.VirtualMachineConfigSpec{ChangeTrackingEnabled: types.NewBool(on)})
	if err == nil {
		err = taskwait.Done(ctx, task)
	}
	if err != nil {
		return vsphereErr(err, v.Name(), "switch changed block tracking "+state)
	}
	_ = v.Refresh(ctx) // done; a failed read of it is the next call's to report
	return nil
}

// snapshotCycle is a stun-unstun cycle of a running VM: a snapshot of
// vmlua's own (a REDO log on its first disk that takes one, so that the
// run's cleanup removes it whatever happens) created and removed again.
func (v *VM) snapshotCycle(r *runtime.Run) error {
	if v.Power() != "on" {
		return nil // a powered-off VM takes the reconfiguration at its next power-on
	}
	var disk string
	for _, d := range v.Disks() {
		if !d.Independent && d.RDM != "physical" {
			disk = d.ID
			break
		}
	}
	if disk == "" {
		return nil // no disk to track
	}
	if _, err := v.AddRedo(r, disk, RedoOptions{}); err != nil {
		return err
	}
	_, err := v.Commit(r, disk, 0, true)
	return err
}

// ResetCBT resets the VM's changed block tracking (KB 2139574): off, a
// snapshot cycle, on, a snapshot cycle. The disks get change ids of a new
// epoch, so the next incremental backup of the VM is a full (it cannot
// build on a change id of the old tracking). Refused (invalid_state) while
// the VM has snapshots: tracking could not be switched on again.
func (v *VM) ResetCBT(r *runtime.Run) error {
	if err := v.Refresh(r.Context()); err != nil {
		return err
	}
	if why := v.CBTBlockedBySnapshots(); why != "" {
		return &runtime.Error{Code: runtime.CodeInvalidState, VM: v.Name(), Message: "cannot reset changed block tracking: " + why}
	}
	was := v.CBTEnabled()
	r.Log.Info("cbt_reset: resetting changed block tracking (off, snapshot cycle, on, snapshot cycle; KB 2139574)", "vm", v.Name(), "was_on", was)
	steps := []func() error{
		func() error { return v.setCBT(r, false) },
		func() error { return v.snapshotCycle(r) },
		func() error { return v.setCBT(r, true) },
		func() error { return v.snapshotCycle(r) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	r.Log.Info("cbt_reset: changed block tracking reset; the next incremental backup of the VM is a full", "vm", v.Name())
	return nil
}
