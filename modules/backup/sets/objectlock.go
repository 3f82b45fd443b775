package sets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/retention"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// Locker is t's object lock (transports.Retainer) when t was opened with
// a lock mode (s3:// object_lock=), else nil.
func Locker(t transports.Transport) transports.Retainer {
	r, ok := transports.As[transports.Retainer](t)
	if !ok || r.RetentionMode() == "" {
		return nil
	}
	return r
}

// LockDate is the date a set made at started is locked until on a target
// with object lock: the date its retention keeps it at the earliest
// (retention.KeepUntil), and at least the target's minimum (lock_days=).
// A zero time when neither gives one.
func LockDate(started time.Time, p retention.Policy, min time.Duration) time.Time {
	until := retention.KeepUntil(started, p)
	if min > 0 {
		if m := started.UTC().Add(min); m.After(until) {
			until = m
		}
	}
	return until
}

// CheckLockable refuses, before a backup starts, one to a target with
// object lock whose retention gives no date to lock its set until: an
// operator who asked for immutable sets must not get unlocked ones.
func CheckLockable(t transports.Transport, p retention.Policy) error {
	l := Locker(t)
	if l == nil {
		return nil
	}
	if LockDate(time.Now(), p, l.MinRetention()).IsZero() {
		return runtime.Errorf(runtime.CodeInvalidArg, "the target locks its sets (object_lock=%s) but nothing says until when: "+
			"give the retention the sets are pruned with as policy={daily=, weekly=, monthly=, yearly=} (keep=N alone gives no date: N sets may come at any pace), "+
			"or a minimum with the target's lock_days= option", l.RetentionMode())
	}
	return nil
}

// LockSet locks every file of the complete set id until the date its
// retention keeps it (LockDate), and extends the lock of every set of its
// chain (the sets an incremental needs) to at least that date. It does
// nothing on a target without object lock, and only logs in a dry run.
// It returns the date (zero when nothing was locked).
func LockSet(r *runtime.Run, t transports.Transport, cat *catalog.Catalog, p retention.Policy) (time.Time, error) {
	l := Locker(t)
	if l == nil {
		return time.Time{}, nil
	}
	until := LockDate(cat.Started, p, l.MinRetention())
	if until.IsZero() {
		return time.Time{}, CheckLockable(t, p)
	}
	if !until.After(time.Now()) {
		return time.Time{}, nil // the policy already lets it go
	}
	if r.DryRun || transports.IsDryRun(t) {
		r.Log.Info("dry run: would lock the set", "set", cat.ID, "until", until.Format(time.RFC3339), "mode", l.RetentionMode())
		return until, nil
	}
	ctx := r.Context()
	chain, err := ChainOf(ctx, t, cat)
	if err != nil {
		chain = []*catalog.Catalog{cat}
	}
	for _, c := range chain {
		if err := lockFiles(ctx, t, l, c.ID, until); err != nil {
			return time.Time{}, &runtime.Error{Code: runtime.CodeTransport, Path: c.ID, Message: fmt.Sprintf("cannot lock the set until %s (object lock, %s mode): %v", until.Format(time.RFC3339), l.RetentionMode(), err), Err: err}
		}
	}
	r.Log.Info("backup: set locked", "set", cat.ID, "until", until.Format(time.RFC3339), "mode", l.RetentionMode(), "chain", len(chain))
	return until, nil
}

// lockFiles locks the files of set id until until, leaving a lock that
// ends later as it is (a lock is only ever extended).
func lockFiles(ctx context.Context, t transports.Transport, l transports.Retainer, id string, until time.Time) error {
	fis, err := t.List(ctx, id)
	if err != nil {
		return err
	}
	for _, fi := range fis {
		if fi.IsDir || fi.Name == catalog.ProgressName {
			continue
		}
		p := id + "/" + fi.Name
		cur, _, err := l.RetainedUntil(ctx, p)
		if err != nil {
			return err
		}
		if !cur.Before(until) {
			continue
		}
		if err := l.Retain(ctx, p, until); err != nil {
			return err
		}
	}
	return nil
}

// LockedUntil is the latest date a file of set id is locked until on t,
// and its mode; a zero time when none is locked or t has no object lock.
// Prune asks it before removing a set, whatever lock mode the transport
// was opened with (the host that prunes need not lock).
func LockedUntil(ctx context.Context, t transports.Transport, id string) (time.Time, string, error) {
	l, ok := transports.As[transports.Retainer](t)
	if !ok {
		return time.Time{}, "", nil
	}
	fis, err := t.List(ctx, id)
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, "", nil
	}
	if err != nil {
		return time.Time{}, "", err
	}
	var until time.Time
	var mode string
	for _, fi := range fis {
		if fi.IsDir {
			continue
		}
		u, m, err := l.RetainedUntil(ctx, id+"/"+fi.Name)
		if err != nil {
			return time.Time{}, "", err
		}
		if u.After(until) {
			until, mode = u, m
		}
	}
	return until, mode, nil
}
