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
	"strings"
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

// acquireLock takes the VM's lock on the target. A lock left by a run that
// crashed (a dead process on this host, or older than StaleLockAge) is
// broken, and so is any lock with breakLock; every break is logged.
func acquireLock(r *runtime.Run, t transports.Transport, vmDir, set string, breakLock bool) (*targetLock, error) {
	ctx := r.Context()
	p := vmDir + "/" + LockName
	if old, err := readLock(ctx, t, p); err == nil {
		reason := ""
		switch {
		case breakLock:
			reason = "break_lock=true was given"
		case old.Host == hostname && !alive(old.PID):
			reason = fmt.Sprintf("its process %d on this host is gone", old.PID)
		case time.Since(old.Started) > StaleLockAge:
			reason = fmt.Sprintf("it is older than %v", StaleLockAge)
		}
		if reason == "" {
			return nil, &runtime.Error{Code: runtime.CodeConflict, Path: p, Message: fmt.Sprintf(
				"another vmlua run (host %s, pid %d, since %s, set %s) is backing up this VM to this target. "+
					"Wait for it; if it crashed, remove the lock file or pass break_lock=true", old.Host, old.PID, old.Started.Format(time.RFC3339), old.Set)}
		}
		r.Log.Warn("breaking the backup lock of an earlier run", "lock", p, "reason", reason, "lock_host", old.Host, "lock_pid", old.PID, "lock_started", old.Started.Format(time.RFC3339), "lock_set", old.Set)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, &runtime.Error{Code: runtime.CodeTransport, Path: p, Message: fmt.Sprintf("cannot read the lock file: %v", err), Err: err}
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	info := lockInfo{Token: hex.EncodeToString(b), Host: hostname, PID: os.Getpid(), Started: time.Now().UTC(), Set: set}
	body, _ := json.Marshal(info)
	if err := t.MkdirAll(ctx, vmDir); err != nil {
		return nil, &runtime.Error{Code: runtime.CodeTransport, Path: vmDir, Message: fmt.Sprintf("cannot create the VM's folder on the target: %v", err), Err: err}
	}
	if _, err := transports.Upload(ctx, t, p, strings.NewReader(string(body)), transports.UploadOptions{ExpectedSize: int64(len(body))}); err != nil {
		return nil, &runtime.Error{Code: runtime.CodeTransport, Path: p, Message: fmt.Sprintf("cannot write the lock file: %v", err), Err: err}
	}
	if !transports.IsDryRun(t) {
		// two runs that started together: the last writer wins, the other sees it
		if got, err := readLock(ctx, t, p); err != nil || got.Token != info.Token {
			return nil, &runtime.Error{Code: runtime.CodeConflict, Path: p, Message: "another vmlua run took the lock at the same moment; try again later"}
		}
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
