package sets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/vmlua/vmlua/internal/capread"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// LockName is the lock file in a VM's folder on a target.
const LockName = ".vmlua-lock"

// StaleLockAge is the age after which a lock from another host is taken
// to belong to a crashed run: twice the default run timeout.
const StaleLockAge = 2 * runtime.DefaultTimeout

// lockInfo is the content of a lock file.
type lockInfo struct {
	Token   string    `json:"token"`
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	Set     string    `json:"set"`
}

type targetLock struct {
	t     transports.Transport
	path  string
	token string
	r     *runtime.Run
}

var hostname, _ = os.Hostname()

// BreakName is the marker a run creates, exclusively, next to the lock
// while it breaks a stale one: only the run holding it may judge the lock
// again and remove it.
const BreakName = LockName + ".break"

// breakMarkerStale is the age after which a break marker is taken to be
// left by a run that crashed while breaking a lock (which takes seconds).
const breakMarkerStale = 10 * time.Minute

// maxLockTries bounds acquireLock's loop: each try creates the lock, or
// finds it held, or breaks a stale one and tries again.
const maxLockTries = 4

// acquireLock takes the VM's lock on the target with the transport's
// exclusive create (transports.CreateExclusive: of runs that start
// together exactly one gets it, on every transport). A lock left by a run
// that crashed (a dead process on this host, or older than StaleLockAge)
// is broken, and so is any lock with breakLock; every break is logged and
// made under BreakName, so that two runs never break the same lock and
// none removes a lock a third run has just taken.
func acquireLock(r *runtime.Run, t transports.Transport, vmDir, set string, breakLock bool) (*targetLock, error) {
	ctx := r.Context()
	p := vmDir + "/" + LockName
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	info := lockInfo{Token: hex.EncodeToString(b), Host: hostname, PID: os.Getpid(), Started: time.Now().UTC(), Set: set}
	body, _ := json.Marshal(info)
	if err := t.MkdirAll(ctx, vmDir); err != nil {
		return nil, &runtime.Error{Code: runtime.CodeTransport, Path: vmDir, Message: fmt.Sprintf("cannot create the VM's folder on the target: %v", err), Err: err}
	}
	if transports.IsDryRun(t) {
		return dryRunLock(r, t, p, body, info, breakLock)
	}
	for try := 1; try <= maxLockTries; try++ {
		err := transports.CreateExclusive(ctx, t, p, body)
		if err == nil {
			return &targetLock{t: t, path: p, token: info.Token, r: r}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, &runtime.Error{Code: runtime.CodeTransport, Path: p, Message: fmt.Sprintf("cannot create the lock file: %v", err), Err: err}
		}
		old, err := readLock(ctx, t, p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // released meanwhile, or still being made by the run that got it
		}
		if err != nil {
			return nil, &runtime.Error{Code: runtime.CodeTransport, Path: p, Message: fmt.Sprintf("cannot read the lock file: %v", err), Err: err}
		}
		if old.Token == info.Token {
			// ours: a create that was retried after its reply was lost
			return &targetLock{t: t, path: p, token: info.Token, r: r}, nil
		}
		reason := staleReason(old, breakLock)
		if reason == "" {
			return nil, heldError(p, old)
		}
		if err := breakStale(r, t, vmDir, p, old, reason, body); err != nil {
			return nil, err
		}
	}
	return nil, &runtime.Error{Code: runtime.CodeConflict, Path: p, Message: fmt.Sprintf(
		"other vmlua runs took the lock at the same moment (it changed hands %d times while this run tried); try again later", maxLockTries)}
}

// staleReason says why old may be broken, or "" when it is held.
func staleReason(old lockInfo, breakLock bool) string {
	switch {
	case breakLock:
		return "break_lock=true was given"
	case old.Host == hostname && !alive(old.PID):
		return fmt.Sprintf("its process %d on this host is gone", old.PID)
	case time.Since(old.Started) > StaleLockAge:
		return fmt.Sprintf("it is older than %v", StaleLockAge)
	}
	return ""
}

func heldError(p string, old lockInfo) error {
	return &runtime.Error{Code: runtime.CodeConflict, Path: p, Message: fmt.Sprintf(
		"another vmlua run (host %s, pid %d, since %s, set %s) is backing up this VM to this target. "+
			"Wait for it; if it crashed, remove the lock file or pass break_lock=true", old.Host, old.PID, old.Started.Format(time.RFC3339), old.Set)}
}

// breakStale removes the stale lock old at p, holding the break marker:
// under it, the lock is read again and removed only if it is still old (a
// run that broke it first may have taken it anew meanwhile). A marker left
// by a crash is removed once breakMarkerStale old.
func breakStale(r *runtime.Run, t transports.Transport, vmDir, p string, old lockInfo, reason string, body []byte) error {
	ctx := r.Context()
	m := vmDir + "/" + BreakName
	err := transports.CreateExclusive(ctx, t, m, body)
	if errors.Is(err, fs.ErrExist) {
		mk, rerr := readLock(ctx, t, m)
		if rerr == nil && time.Since(mk.Started) > breakMarkerStale {
			r.Log.Warn("removing the marker of a lock break that did not finish", "marker", m, "marker_host", mk.Host, "marker_pid", mk.PID, "marker_started", mk.Started.Format(time.RFC3339))
			if err := t.Remove(ctx, m); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return &runtime.Error{Code: runtime.CodeTransport, Path: m, Message: fmt.Sprintf("cannot remove the marker of an unfinished lock break: %v", err), Err: err}
			}
			return nil
		}
		if errors.Is(rerr, fs.ErrNotExist) {
			return nil // that break is over: judge the lock again
		}
		return &runtime.Error{Code: runtime.CodeConflict, Path: p, Message: fmt.Sprintf(
			"another vmlua run is breaking the stale lock of this VM at this moment (%s is there); try again later", m)}
	}
	if err != nil {
		return &runtime.Error{Code: runtime.CodeTransport, Path: m, Message: fmt.Sprintf("cannot create the lock break marker: %v", err), Err: err}
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := t.Remove(cctx, m); err != nil && !errors.Is(err, fs.ErrNotExist) {
			r.Log.Error("cannot remove the lock break marker; the next run removes it after a while", "marker", m, "error", err)
		}
	}()
	cur, err := readLock(ctx, t, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &runtime.Error{Code: runtime.CodeTransport, Path: p, Message: fmt.Sprintf("cannot read the lock file: %v", err), Err: err}
	}
	if cur.Token != old.Token {
		return nil // taken anew since it was judged: judge it again
	}
	r.Log.Warn("breaking the backup lock of an earlier run", "lock", p, "reason", reason, "lock_host", old.Host, "lock_pid", old.PID, "lock_started", old.Started.Format(time.RFC3339), "lock_set", old.Set)
	if err := t.Remove(ctx, p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return &runtime.Error{Code: runtime.CodeTransport, Path: p, Message: fmt.Sprintf("cannot remove the stale lock file: %v", err), Err: err}
	}
	return nil
}

// dryRunLock judges the lock as acquireLock would and writes nothing: a
// held lock is a conflict, a stale one is said to be broken.
func dryRunLock(r *runtime.Run, t transports.Transport, p string, body []byte, info lockInfo, breakLock bool) (*targetLock, error) {
	ctx := r.Context()
	old, err := readLock(ctx, t, p)
	switch {
	case err == nil:
		reason := staleReason(old, breakLock)
		if reason == "" {
			return nil, heldError(p, old)
		}
		r.Log.Warn("would break the backup lock of an earlier run", "lock", p, "reason", reason, "lock_host", old.Host, "lock_pid", old.PID, "lock_started", old.Started.Format(time.RFC3339), "lock_set", old.Set)
	case errors.Is(err, fs.ErrNotExist):
		if err := transports.CreateExclusive(ctx, t, p, body); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, &runtime.Error{Code: runtime.CodeTransport, Path: p, Message: fmt.Sprintf("cannot create the lock file: %v", err), Err: err}
		}
	default:
		return nil, &runtime.Error{Code: runtime.CodeTransport, Path: p, Message: fmt.Sprintf("cannot read the lock file: %v", err), Err: err}
	}
	return &targetLock{t: t, path: p, token: info.Token, r: r}, nil
}

func readLock(ctx context.Context, t transports.Transport, p string) (lockInfo, error) {
	rc, err := t.Open(ctx, p, 0)
	if err != nil {
		return lockInfo{}, err
	}
	defer rc.Close()
	b, err := capread.ReadAll(rc, 64<<10)
	if errors.Is(err, capread.ErrTooLarge) {
		return lockInfo{Host: "?", Started: time.Time{}}, nil // not a lock vmlua wrote: treat as very old
	}
	if err != nil {
		return lockInfo{}, err
	}
	var l lockInfo
	if err := json.Unmarshal(b, &l); err != nil {
		return lockInfo{Host: "?", Started: time.Time{}}, nil // unreadable: treat as very old
	}
	return l, nil
}

// release removes the lock if it is still ours, even after cancellation.
func (l *targetLock) release() {
	if l == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(l.r.Context()), 30*time.Second)
	defer cancel()
	if transports.IsDryRun(l.t) {
		_ = l.t.Remove(ctx, l.path) // the pretended lock, so the run can take it again
		return
	}
	got, err := readLock(ctx, l.t, l.path)
	if err != nil || got.Token != l.token {
		l.r.Log.Warn("the backup lock was taken over by another run; leaving it", "lock", l.path)
		return
	}
	if err := l.t.Remove(ctx, l.path); err != nil {
		l.r.Log.Error("cannot remove the backup lock; the next run will break it", "lock", l.path, "error", err)
	}
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// AcquireLock takes the lock of a folder of sets on the target (a host's
// configuration sets use it as a VM's do) and returns its release.
func AcquireLock(r *runtime.Run, t transports.Transport, dir, set string, breakLock bool) (func(), error) {
	l, err := acquireLock(r, t, dir, set, breakLock)
	if err != nil {
		return nil, err
	}
	return sync.OnceFunc(l.release), nil
}
