package vm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/vim25/types"
)

// An orphan is a REDO log (a vmlua-redo-* snapshot) that no live run
// holds: its run was killed (SIGKILL, the OOM killer, a crash, a reboot)
// before its cleanup could commit it. What counts as one, from what its
// description says of its owner (lease.go):
//
//   - never this run's own, nor one added with keep=true;
//   - made on this machine (same host name): an orphan when the machine
//     has restarted since (another boot id), when its pid is this
//     process's and its run has ended, or when no process has its pid;
//     never while that process runs;
//   - made on another machine: an orphan only once its lease has expired
//     by vSphere's clock (a description without a lease, from an older
//     vmlua: legacyLease after its creation); never while the lease runs,
//     nor when vSphere's time cannot be read.
//
// Force (vmlua cleanup --force) takes every one of these but this run's
// own and the kept ones, with a warning for each whose owner may be alive:
// a backup still reading from it then fails the disk (FrozenDisk.Check).

// orphan is a vmlua snapshot and why it is, or is not, an orphan.
type orphan struct {
	ref    types.ManagedObjectReference
	name   string
	desc   string
	why    string // what makes it one, or what keeps it alive
	forced bool   // its owner may be alive: committed only by force
}

// verdict is what the run decides about a vmlua snapshot.
type verdict int

const (
	notOrphan verdict = iota // this run's, or kept: never touched
	alive                    // its owner may still be running
	orphaned
)

// judge decides about a snapshot whose description says o, at vSphere's
// time now (nowOK false: it could not be read).
func (cy *cycle) judge(o owner, now time.Time, nowOK bool) (verdict, string) {
	switch {
	case o.run == cy.runID:
		return notOrphan, "this run's"
	case o.keep:
		return notOrphan, "added with keep=true"
	case o.host != "" && o.host == cy.host:
		switch {
		case o.boot != "" && bootID != "" && o.boot != bootID:
			return orphaned, "made on this machine before it restarted"
		case o.pid == os.Getpid():
			if _, live := liveRuns.Load(o.run); live {
				return alive, "a run of this process that is still running"
			}
			return orphaned, "made by a run of this process that has ended"
		case o.pid > 0 && pidAlive(o.pid):
			return alive, fmt.Sprintf("process %d on this machine still runs", o.pid)
		case o.pid > 0:
			return orphaned, fmt.Sprintf("process %d on this machine is gone", o.pid)
		}
		return alive, "its description names no process"
	case !o.lease.IsZero():
		switch {
		case !nowOK:
			return alive, fmt.Sprintf("made on %s; vSphere's time cannot be read to tell whether its lease (until %s) has expired", orDash(o.host), o.lease.Format(time.RFC3339))
		case now.After(o.lease):
			return orphaned, fmt.Sprintf("made on %s, whose lease expired at %s", orDash(o.host), o.lease.Format(time.RFC3339))
		}
		return alive, fmt.Sprintf("made on %s, which renews its lease (until %s)", orDash(o.host), o.lease.Format(time.RFC3339))
	case !o.created.IsZero() && nowOK && now.Sub(o.created) > legacyLease:
		return orphaned, fmt.Sprintf("made on %s by a vmlua without leases, %s ago", orDash(o.host), now.Sub(o.created).Truncate(time.Minute))
	}
	return alive, fmt.Sprintf("made on %s by a vmlua without leases, less than %v ago (or at an unknown time)", orDash(o.host), legacyLease)
}

// pidAlive reports whether a process has the pid (one this user may not
// signal exists too).
func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// orphans sorts the VM's vmlua snapshots (as of the last refresh) into
// the orphans, and those left alone because their owner may be alive;
// with force, the latter are orphans too (forced).
func (v *VM) orphans(ctx context.Context, cy *cycle, force bool) (out, held []orphan) {
	s := v.MO().Snapshot
	if !hasVMLuaSnapshot(s) {
		return nil, nil
	}
	now, nowOK := v.c.serverNow(ctx)
	var walk func([]types.VirtualMachineSnapshotTree)
	walk = func(ts []types.VirtualMachineSnapshotTree) {
		for _, t := range ts {
			if strings.HasPrefix(t.Name, SnapshotPrefix) {
				verdict, why := cy.judge(parseOwner(t.Description), now, nowOK)
				o := orphan{ref: t.Snapshot, name: t.Name, desc: t.Description, why: why}
				switch {
				case verdict == orphaned:
					out = append(out, o)
				case verdict == alive && force:
					o.forced = true
					out = append(out, o)
				case verdict == alive:
					held = append(held, o)
				}
			}
			walk(t.ChildSnapshotList)
		}
	}
	walk(s.RootSnapshotList)
	return out, held
}

// reportOrphans logs, once per VM and run, the REDOs a killed run left.
func (c *Conn) reportOrphans(ctx context.Context, v *VM) {
	if c.run == nil {
		return
	}
	os, _ := v.orphans(ctx, cycleOf(c.run), false)
	if len(os) == 0 {
		return
	}
	c.mu.Lock()
	seen := c.warned[v.Ref.Value]
	c.warned[v.Ref.Value] = true
	c.mu.Unlock()
	if seen {
		return
	}
	for _, o := range os {
		c.run.Log.Warn("found a REDO log (snapshot) left by an earlier vmlua run that did not finish; vm.cleanup_orphans() commits it", "vm", v.Name(), "snapshot", o.name, "why", o.why)
	}
}

// Cleaned is an orphaned REDO log that CleanupOrphans committed (or, in a
// dry run, would have).
type Cleaned struct {
	VM, Moref, Snapshot string
	// Forced: its owner may have been alive; committed by OrphanOptions.Force.
	Forced bool
}

// OrphanOptions tune CleanupOrphansWith.
type OrphanOptions struct {
	// Force also commits the REDO logs whose owner may still be running
	// (another machine's with a running lease, a live process's on this
	// one), each with a warning: for an operator who knows the owner is
	// gone (vmlua cleanup --force).
	Force bool
}

// CleanupOrphans commits the orphaned vmlua snapshots of the VMs spec
// matches; with only, of those whose moref is in it. It reads the
// inventory once and opens only the VMs that have a vmlua snapshot. A VM
// whose cleanup fails does not stop the others; the first error is
// returned with everything that was done.
func (c *Conn) CleanupOrphans(r *runtime.Run, spec Spec, only map[string]bool) ([]Cleaned, error) {
	return c.CleanupOrphansWith(r, spec, only, OrphanOptions{})
}

// CleanupOrphansWith is CleanupOrphans with options.
func (c *Conn) CleanupOrphansWith(r *runtime.Run, spec Spec, only map[string]bool, o OrphanOptions) ([]Cleaned, error) {
	if spec.Kind == "moref" && only == nil {
		// one VM by reference: read it alone, not the inventory
		v, err := c.Open(r.Context(), spec, "moref:"+spec.Value)
		if err != nil || v == nil {
			return nil, err
		}
		return cleanupOrphansOf(r, []*VM{v}, o)
	}
	found, err := c.find(r.Context(), spec, "snapshot")
	if err != nil {
		return nil, err
	}
	var refs []types.ManagedObjectReference
	for _, x := range found {
		if (only == nil || only[x.Self.Value]) && hasVMLuaSnapshot(x.Snapshot) {
			refs = append(refs, x.Self)
		}
	}
	return sweepOrphans(r, o, len(refs), func(i int) (*VM, error) { return c.newVM(r.Context(), refs[i]) })
}

// CleanupOrphansOf is CleanupOrphans for VMs the script already holds:
// each is read again (one read per VM, not of the inventory).
func CleanupOrphansOf(r *runtime.Run, vms []*VM) ([]Cleaned, error) {
	return cleanupOrphansOf(r, vms, OrphanOptions{})
}

func cleanupOrphansOf(r *runtime.Run, vms []*VM, o OrphanOptions) ([]Cleaned, error) {
	return sweepOrphans(r, o, len(vms), func(i int) (*VM, error) { return vms[i], vms[i].Refresh(r.Context()) })
}

// sweepOrphans cleans up the n VMs get reads, one after the other, and
// gathers what was done; a VM that fails (to be read, or to be cleaned)
// does not stop the others, and the first error is returned.
func sweepOrphans(r *runtime.Run, o OrphanOptions, n int, get func(i int) (*VM, error)) ([]Cleaned, error) {
	var out []Cleaned
	var first error
	for i := range n {
		v, err := get(i)
		if err == nil {
			var done []Cleaned
			done, err = v.cleanupOrphans(r, o)
			out = append(out, done...)
		}
		first = cmp.Or(first, err)
	}
	return out, first
}

func hasVMLuaSnapshot(s *types.VirtualMachineSnapshotInfo) bool {
	if s == nil {
		return false
	}
	var walk func([]types.VirtualMachineSnapshotTree) bool
	walk = func(ts []types.VirtualMachineSnapshotTree) bool {
		for _, t := range ts {
			if strings.HasPrefix(t.Name, SnapshotPrefix) || walk(t.ChildSnapshotList) {
				return true
			}
		}
		return false
	}
	return walk(s.RootSnapshotList)
}

// CleanupOrphans commits every orphaned vmlua snapshot of the VM.
func (v *VM) CleanupOrphans(r *runtime.Run) ([]string, error) {
	done, err := v.cleanupOrphans(r, OrphanOptions{})
	var names []string
	for _, d := range done {
		names = append(names, d.Snapshot)
	}
	return names, err
}

func (v *VM) cleanupOrphans(r *runtime.Run, opt OrphanOptions) ([]Cleaned, error) {
	var done []Cleaned
	cy := cycleOf(r)
	orphans, held := v.orphans(r.Context(), cy, opt.Force)
	for _, o := range held {
		r.Log.Info("a vmlua REDO log (snapshot) is left alone: its owner may still be running", "vm", v.Name(), "snapshot", o.name, "why", o.why)
	}
	for _, o := range orphans {
		c := Cleaned{VM: v.Name(), Moref: v.Ref.Value, Snapshot: o.name, Forced: o.forced}
		if o.forced {
			r.Log.Warn("--force: committing a REDO log whose owner may still be running; a backup reading from it fails that disk", "vm", v.Name(), "snapshot", o.name, "owner", o.why)
		}
		if r.DryRunAction("commit an orphaned REDO log", "vm", v.Name(), "snapshot", o.name, "why", o.why) {
			cy.mu.Lock()
			x := cy.forVM(v.Ref.Value)
			if x.dryOrphans == nil {
				x.dryOrphans = map[string]bool{}
			}
			x.dryOrphans[o.name] = true
			cy.mu.Unlock()
			done = append(done, c)
			continue
		}
		if err := removeSnapshot(r.Context(), v, o.ref, o.name); err != nil {
			return done, &runtime.Error{Code: runtime.CodeVSphere, VM: v.Name(), Message: err.Error(), Err: err}
		}
		r.Log.Warn("committed an orphaned REDO log", "vm", v.Name(), "snapshot", o.name, "why", o.why)
		done = append(done, c)
	}
	if len(done) > 0 {
		_ = v.Refresh(r.Context())
	}
	return done, nil
}
