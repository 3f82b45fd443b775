package sets

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/vmlua/vmlua/modules/backup/retention"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// PruneResult is what Prune decided and did.
type PruneResult struct {
	Decisions []retention.Decision // newest first
	Removed   []string             // set ids removed (or that would be, in dry run)
	// Skipped is set when nothing was pruned because the VM's latest
	// backup in this run failed.
	Skipped bool
	// Locked are the sets the policy drops that object lock keeps: left
	// alone, each until its date (their Decision says kept, and why).
	Locked []LockedSet
}

// LockedSet is a set prune left because its files are locked.
type LockedSet struct {
	ID    string
	Until time.Time
	Mode  string // governance, compliance
}

// Prune removes the VM's sets that the policy does not keep. It does
// nothing for a VM whose latest backup in this run failed (ghettoVCB
// issue #51: a failing VM must not rotate its good sets away), and only
// lists with dryRun (or in a dry run). A set whose files are locked
// (object lock, transports.Retainer) is never removed, nor tried: it is
// kept, the reason saying until when, and listed in Locked.
func Prune(r *runtime.Run, t transports.Transport, vmName string, p retention.Policy, dryRun bool) (PruneResult, error) {
	var res PruneResult
	if Failed(r, vmName) {
		r.Log.Warn("prune: the VM's latest backup in this run failed; nothing is pruned", "vm", vmName)
		res.Skipped = true
		return res, nil
	}
	sets, err := List(r.Context(), t, vmName)
	if err != nil {
		return res, TargetError(err, t.URL())
	}
	var in []retention.Set
	for _, s := range sets {
		rs := retention.Set{ID: s.ID, Time: s.Time, Complete: s.Complete}
		if s.Catalog != nil {
			rs.Parent = s.Catalog.Parent
		}
		in = append(in, rs)
	}
	res.Decisions = retention.Apply(in, p)
	dry := dryRun || r.DryRun
	for i, d := range res.Decisions {
		if d.Keep {
			continue
		}
		until, mode, err := LockedUntil(r.Context(), t, d.Set.ID)
		if err != nil {
			return res, &runtime.Error{Code: runtime.CodeTransport, VM: vmName, Path: d.Set.ID, Message: "cannot read the set's object lock: " + err.Error(), Err: err}
		}
		if until.After(time.Now()) {
			res.Decisions[i].Keep = true
			res.Decisions[i].Reason = fmt.Sprintf("locked until %s (object lock, %s mode): the retention drops it (%s), prune removes it after that date",
				until.UTC().Format(time.RFC3339), mode, d.Reason)
			res.Locked = append(res.Locked, LockedSet{ID: d.Set.ID, Until: until, Mode: mode})
			r.Log.Info("prune: locked, left until its date", "vm", vmName, "set", d.Set.ID, "until", until.UTC().Format(time.RFC3339), "mode", mode)
			continue
		}
		res.Removed = append(res.Removed, d.Set.ID)
		if dry {
			r.Log.Info("prune: would remove", "vm", vmName, "set", d.Set.ID, "reason", d.Reason)
			continue
		}
		if err := RemoveAll(r.Context(), t, d.Set.ID); err != nil {
			msg := "cannot remove the set: " + err.Error()
			if errors.Is(err, fs.ErrPermission) && !errors.Is(err, transports.ErrLocked) {
				msg += "; these credentials may not delete on this target (an append-only target refuses the backup host's): prune with credentials that may, from the host that holds them (vmlua prune --credentials NAME)"
			}
			return res, &runtime.Error{Code: runtime.CodeTransport, VM: vmName, Path: d.Set.ID, Message: msg, Err: err}
		}
		r.Log.Info("prune: removed", "vm", vmName, "set", d.Set.ID, "reason", d.Reason)
	}
	return res, nil
}
