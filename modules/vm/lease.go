package vm

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// Leases. Every REDO log (snapshot) a run adds says in its description who
// made it — the run id, the pid, the host name and the boot id of the
// machine — and holds a lease: the time, by vSphere's clock, until which
// the run promises to be alive. While the run lives it renews the lease
// every LeaseRenew (RenameSnapshot, same name, new description) to
// LeaseLength from then. Another machine's cleanup (orphans.go) commits
// the REDO log only once the lease has expired, so a backup running on
// one machine is never cut short by `vmlua cleanup` on another. Times
// are vSphere's (ServiceInstance.CurrentTime), not the machines': backup
// hosts whose clocks disagree still agree on the lease.

// LeaseLength and LeaseRenew time the lease of a run's REDO logs.
// LeaseLength is how long after its last renewal a REDO log of another
// machine is taken for a killed run's; LeaseRenew how often a live run
// renews it: six renewals may fail in a row (a busy vCenter, a snapshot
// operation holding the VM) before the lease runs out. A killed run's
// REDO log grows at most LeaseLength before another machine may commit it.
// Variables so that tests can shorten them.
var (
	LeaseLength = 30 * time.Minute
	LeaseRenew  = 5 * time.Minute
)

// legacyLease is the lease of a REDO log whose description has none (made
// by a vmlua from before leases): counted from its creation, longer than
// the default --timeout (12 h) so that such a run is surely over.
const legacyLease = 24 * time.Hour

// This process's identity, as its REDO logs' descriptions say it.
var (
	hostname, _ = os.Hostname()
	bootID      = readBootID()
)

// readBootID is the kernel's id of this boot ("" where there is none): a
// REDO log of this host from another boot was made by a process that is
// gone, whatever now runs under its pid.
func readBootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// liveRuns holds the ids of the runs of this process that have not ended:
// a REDO log with this process's pid is alive only while its run is.
var liveRuns sync.Map

// description is the text of a REDO log's snapshot description: the
// owner's fields (parseOwner reads them; values hold no space, the free
// text after them no '='), then what to do with it.
func (cy *cycle) description(keep bool, created, lease time.Time) string {
	return fmt.Sprintf("vmlua REDO log: run=%s pid=%d host=%s boot=%s created=%s lease=%s keep=%t. "+
		"While the run lives it renews the lease (vSphere's clock) every %v and commits this REDO log when it ends; "+
		"found with its lease expired, the run was killed: 'vmlua cleanup' commits it.",
		cy.runID, os.Getpid(), orDash(cy.host), orDash(bootID), created.UTC().Format(time.RFC3339), lease.UTC().Format(time.RFC3339), keep, LeaseRenew)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// owner is what a vmlua snapshot's description says of the run that made it.
type owner struct {
	run, host, boot string // "" when not said
	pid             int    // 0 when not said
	keep            bool
	created         time.Time // zero when not said
	lease           time.Time // zero: a description from before leases
}

// parseOwner reads the fields of a description (description, and the
// older form without boot and lease).
func parseOwner(desc string) owner {
	var o owner
	seen := map[string]bool{}
	for _, tok := range strings.Fields(desc) {
		k, v, ok := strings.Cut(tok, "=")
		if !ok || seen[k] {
			continue
		}
		seen[k] = true
		if v == "-" {
			continue
		}
		switch k {
		case "run":
			o.run = v
		case "pid":
			o.pid, _ = strconv.Atoi(v)
		case "host":
			o.host = v
		case "boot":
			o.boot = v
		case "created":
			o.created, _ = time.Parse(time.RFC3339, v)
		case "lease":
			o.lease, _ = time.Parse(time.RFC3339, v)
		case "keep":
			o.keep = strings.TrimSuffix(v, ".") == "true"
		}
	}
	return o
}

// serverNow is vSphere's time (ok false when it cannot be read and was
// never read: then it is this machine's). The offset to this machine's
// clock is read at most every LeaseRenew.
func (c *Conn) serverNow(ctx context.Context) (time.Time, bool) {
	c.mu.Lock()
	off, at := c.clockOffset, c.clockAt
	c.mu.Unlock()
	if !at.IsZero() && time.Since(at) < LeaseRenew {
		return time.Now().Add(off), true
	}
	t, err := methods.GetCurrentTime(ctx, c.Client)
	if err != nil || t == nil {
		if !at.IsZero() {
			return time.Now().Add(off), true
		}
		return time.Now(), false
	}
	c.mu.Lock()
	c.clockOffset, c.clockAt = time.Until(*t), time.Now()
	c.mu.Unlock()
	return *t, true
}

// startLeases starts renewing the leases of the run's REDO logs, once per
// run; the run's end (Close) stops it, after the run's cleanup committed
// them.
func (cy *cycle) startLeases(r *runtime.Run) {
	cy.mu.Lock()
	defer cy.mu.Unlock()
	if cy.stopLeases != nil || cy.closed {
		return
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	done := make(chan struct{})
	cy.stopLeases, cy.leasesDone = cancel, done
	every := LeaseRenew
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				cy.renewLeases(ctx, r)
			}
		}
	}()
}

// Close ends the run's REDO bookkeeping: the lease renewal stops, and the
// run no longer counts as alive.
func (cy *cycle) Close(context.Context) error {
	cy.mu.Lock()
	cy.closed = true
	stop, done := cy.stopLeases, cy.leasesDone
	cy.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	liveRuns.Delete(cy.runID)
	return nil
}

// renewLeases renews the lease of every REDO log the run still holds. A
// REDO log that is gone although the run did not commit it was removed by
// someone else: it is marked lost (and reported) once.
func (cy *cycle) renewLeases(ctx context.Context, r *runtime.Run) {
	cy.mu.Lock()
	var held []*redo
	for _, x := range cy.vms {
		for _, s := range x.snaps {
			if !s.dry && !s.keep && !s.lost && !s.removing {
				held = append(held, s)
			}
		}
	}
	cy.mu.Unlock()
	for _, s := range held {
		cctx, cancel := context.WithTimeout(ctx, LeaseRenew)
		err := cy.renew(cctx, s)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
		case IsFault[*types.ManagedObjectNotFound](err) || IsFault[types.ManagedObjectNotFound](err):
			cy.mu.Lock()
			lost := !s.removing
			s.lost = lost
			cy.mu.Unlock()
			if lost {
				r.Log.Error("a REDO log (snapshot) of this run is gone although the run still holds it: someone removed it (an administrator, or 'vmlua cleanup --force' on another machine); a disk read from it is refused",
					"vm", s.vm.Name(), "snapshot", s.name)
			}
		default:
			r.Log.Warn("could not renew the lease of a REDO log; trying again later", "vm", s.vm.Name(), "snapshot", s.name, "in", LeaseRenew.String(), "error", err)
		}
	}
}

// renew moves the REDO log's lease to LeaseLength from now.
func (cy *cycle) renew(ctx context.Context, s *redo) error {
	now, _ := s.vm.c.serverNow(ctx)
	_, err := methods.RenameSnapshot(ctx, s.vm.c.Client, &types.RenameSnapshot{This: s.ref, Name: s.name, Description: cy.description(false, s.created, now.Add(LeaseLength))})
	return err
}
