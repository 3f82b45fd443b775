package vm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vmlua/vmlua/internal/taskwait"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// RemoveRetry bounds the retries of a failed snapshot removal (commit,
// cleanup, orphans): a REDO vmlua leaves behind grows until the datastore
// is full, so a transient fault (a busy host, a lock, a fault in the
// middle of a merge) is worth a few more tries.
var RemoveRetry = struct {
	Attempts int           // total tries
	Initial  time.Duration // first pause, doubled after each failure
}{Attempts: 4, Initial: 250 * time.Millisecond}

func (v *VM) logger() *slog.Logger {
	if v.c != nil && v.c.run != nil {
		return v.c.run.Log
	}
	return slog.Default()
}

// removeSnapshot removes a snapshot this run (or a killed earlier run)
// created and consolidates the disks, retrying with back-off while it
// fails. A snapshot already gone is success once the disks need no
// consolidation.
func removeSnapshot(ctx context.Context, v *VM, ref types.ManagedObjectReference, name string) error {
	delay := RemoveRetry.Initial
	for attempt := 1; ; attempt++ {
		err := removeSnapshotOnce(ctx, v, ref, name)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || attempt >= RemoveRetry.Attempts {
			return err
		}
		v.logger().Warn("removing a snapshot failed, retrying", "vm", v.Name(), "snapshot", name, "attempt", attempt, "of", RemoveRetry.Attempts, "in", delay, "err", err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return err
		}
		delay *= 2
	}
}

func removeSnapshotOnce(ctx context.Context, v *VM, ref types.ManagedObjectReference, name string) error {
	consolidate := true
	res, err := methods.RemoveSnapshot_Task(ctx, v.c.Client, &types.RemoveSnapshot_Task{This: ref, RemoveChildren: false, Consolidate: &consolidate})
	if err == nil {
		_, err = taskwait.Wait(ctx, object.NewTask(v.c.Client, res.Returnval))
	}
	if err != nil && !IsFault[*types.ManagedObjectNotFound](err) && !IsFault[types.ManagedObjectNotFound](err) {
		// A merge that failed half-way may have dropped the snapshot and
		// left the disks on a delta: consolidating finishes it.
		if gone, cerr := v.consolidateIfNeeded(ctx, ref); cerr == nil && gone {
			return nil
		}
		return fmt.Errorf("remove snapshot %s of VM %s: %w", name, v.Name(), err)
	}
	if _, cerr := v.consolidateIfNeeded(ctx, ref); cerr != nil {
		return fmt.Errorf("remove snapshot %s of VM %s: the disks need consolidation, which failed: %w", name, v.Name(), cerr)
	}
	return nil
}

// consolidateIfNeeded runs ConsolidateVMDisks when the VM says its disks
// need it, and reports whether the snapshot ref is gone.
func (v *VM) consolidateIfNeeded(ctx context.Context, ref types.ManagedObjectReference) (gone bool, err error) {
	var m mo.VirtualMachine
	if err := v.Obj.Properties(ctx, v.Ref, []string{"runtime.consolidationNeeded", "snapshot"}, &m); err != nil {
		return false, err
	}
	gone = !hasSnapshot(m.Snapshot, ref)
	if !m.Runtime.ConsolidationNeeded {
		return gone, nil
	}
	v.logger().Warn("a snapshot removal left the VM's disks needing consolidation; consolidating them", "vm", v.Name())
	res, err := methods.ConsolidateVMDisks_Task(ctx, v.c.Client, &types.ConsolidateVMDisks_Task{This: v.Ref})
	if err != nil {
		return gone, err
	}
	_, err = taskwait.Wait(ctx, object.NewTask(v.c.Client, res.Returnval))
	return gone, err
}

func hasSnapshot(info *types.VirtualMachineSnapshotInfo, ref types.ManagedObjectReference) bool {
	if info == nil {
		return false
	}
	var walk func([]types.VirtualMachineSnapshotTree) bool
	walk = func(ts []types.VirtualMachineSnapshotTree) bool {
		for _, t := range ts {
			if t.Snapshot == ref || walk(t.ChildSnapshotList) {
				return true
			}
		}
		return false
	}
	return walk(info.RootSnapshotList)
}

// recoverCommit is called when a commit's RemoveSnapshot failed: unless the
// run is over or the VM waits on a question, it retries the removal (with
// consolidation) and returns nil when the REDO is merged after all, else
// the first error.
func (v *VM) recoverCommit(r *runtime.Run, target *redo, first error) error {
	var re *runtime.Error
	if r.Context().Err() != nil || (errors.As(first, &re) && re.Code == runtime.CodeQuestion) {
		return first
	}
	r.Log.Warn("removing a snapshot failed, retrying", "vm", v.Name(), "snapshot", target.name, "err", first)
	if err := removeSnapshot(r.Context(), v, target.ref, target.name); err != nil {
		return first
	}
	return nil
}

// removeLeftover removes the snapshot a failed CreateSnapshot task made
// anyway (a task can fail after its work is done).
func (v *VM) removeLeftover(ctx context.Context, r *runtime.Run, name string) {
	var m mo.VirtualMachine
	if err := v.Obj.Properties(ctx, v.Ref, []string{"snapshot"}, &m); err != nil || m.Snapshot == nil {
		return
	}
	var found *types.ManagedObjectReference
	var walk func([]types.VirtualMachineSnapshotTree)
	walk = func(ts []types.VirtualMachineSnapshotTree) {
		for _, t := range ts {
			if t.Name == name {
				ref := t.Snapshot
				found = &ref
			}
			walk(t.ChildSnapshotList)
		}
	}
	walk(m.Snapshot.RootSnapshotList)
	if found == nil {
		return
	}
	r.Log.Warn("add_redo failed after vSphere made the snapshot; removing it", "vm", v.Name(), "snapshot", name)
	if err := removeSnapshot(ctx, v, *found, name); err != nil {
		r.Log.Error("could not remove the snapshot a failed add_redo left; vm.cleanup_orphans() removes it later", "vm", v.Name(), "snapshot", name, "err", err)
	}
}
