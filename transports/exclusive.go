package transports

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"
)

// ExclusiveCreator is an optional interface of a transport that can create
// a small file only where nothing exists yet, atomically on its server: of
// any number of concurrent CreateExclusive calls for one path, from this
// machine or others, exactly one succeeds and every other fails with an
// error for which errors.Is(err, fs.ErrExist) is true. The file appears
// with all of data or not at all, so a reader never sees it half written.
// Lock files are taken with it (modules/backup/sets). Every registered
// transport implements it with what its protocol guarantees; its
// Scheme.Exclusive says how. Callers use the CreateExclusive function,
// which finds the implementation under the run's wrappers.
//
// A caller that retries (the Retry wrapper does on a transient error) must
// be ready to find its own file: when the reply to a successful first try
// is lost, the second try fails with fs.ErrExist. Put something into data
// that tells the file apart (a lock's random token).
type ExclusiveCreator interface {
	CreateExclusive(ctx context.Context, p string, data []byte) error
}

// ErrNoExclusiveCreate: neither the transport nor any under its wrappers
// implements ExclusiveCreator.
var ErrNoExclusiveCreate = errors.New("the transport cannot create a file exclusively")

// CreateExclusive creates p holding data on t only if nothing exists at p
// (see ExclusiveCreator), through t's wrappers (retry, concurrency limit,
// dry run) down to the transport that implements it.
func CreateExclusive(ctx context.Context, t Transport, p string, data []byte) error {
	x, ok := As[ExclusiveCreator](t)
	if !ok {
		return Permanent(fmt.Errorf("create %s exclusively on %s: %w", p, t.URL(), ErrNoExclusiveCreate))
	}
	return x.CreateExclusive(ctx, p, data)
}

func (r *retrying) CreateExclusive(ctx context.Context, p string, data []byte) error {
	return r.do(ctx, "create exclusively", p, func() error { return CreateExclusive(ctx, r.t, p, data) })
}

func (l *limited) CreateExclusive(ctx context.Context, p string, data []byte) error {
	if err := l.acquire(ctx); err != nil {
		return err
	}
	defer l.release()
	return CreateExclusive(ctx, l.t, p, data)
}

// CreateExclusive pretends: it fails as the real one would when p exists
// (on the target or among the files the dry run pretended to write), and
// otherwise logs what it would write and remembers it.
func (d *dryRun) CreateExclusive(ctx context.Context, p string, data []byte) error {
	c, err := CleanPath(p)
	if err != nil {
		return err
	}
	if _, ok := d.pretend(c); ok {
		return fmt.Errorf("dry run: %s exists: %w", p, fs.ErrExist)
	}
	if _, err := d.Transport.Stat(ctx, c); err == nil {
		return fmt.Errorf("%s exists: %w", p, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	d.mu.Lock()
	d.files[c] = int64(len(data))
	d.mu.Unlock()
	d.log.Info("would write", "path", c, "bytes", len(data), "exclusive", true)
	return nil
}

// GuardStale is how old a guard of CreateExclusiveGuarded must be,
// on the server's clock, to be taken for one a crashed client left. The
// guard is held for a few round trips; one left by a crash blocks its
// name for this long.
const GuardStale = 5 * time.Minute

// guardMarker ends the name of CreateExclusiveGuarded's guards.
const guardMarker = ".vmlua-guard"

// CreateExclusiveGuarded implements CreateExclusive for a transport whose
// server makes some object exclusively (fails with fs.ErrExist when
// anything is at its name: FTP's MKD, SMB's FILE_CREATE, vSphere's
// MakeDirectory, NFS's SYMLINK) but can neither create a file nor rename
// one onto a name without replacing what is there. It writes data under a
// temporary name (TempName), makes the guard ".<name>.vmlua-guard" next to
// p with guard (only one client holds it at a time) and, holding it,
// renames the temporary file onto p if nothing is at p; then it removes
// the guard (Remove: an empty folder or a symbolic link). Every creator
// of p goes through the guard, so no two can rename onto it.
//
// A guard left by a crashed client is removed once it is GuardStale old,
// measured against the temporary file just written (both times are the
// server's, from one listing, so clock skew does not matter). Two clients
// that find the same stale guard at once could both remove it; that needs
// a crash inside the guard's few round trips and is not guarded against.
func CreateExclusiveGuarded(ctx context.Context, t Transport, p string, data []byte, guard func(ctx context.Context, name string) error) error {
	c, err := CleanPath(p)
	if err != nil {
		return err
	}
	if c == "" {
		return fmt.Errorf("create the transport's root exclusively: a file name is needed")
	}
	dir, name := path.Split(c)
	g := dir + "." + strings.TrimLeft(name, ".") + guardMarker
	tmp := TempName(c)
	if err := WriteNew(ctx, t, tmp, data); err != nil {
		return fmt.Errorf("create %s exclusively: %w", c, err)
	}
	defer RemoveQuietly(ctx, t, tmp) // gone after the rename
	if err := guard(ctx, g); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s exclusively: make the guard %s: %w", c, g, err)
		}
		if !guardStale(ctx, t, dir, g, tmp) {
			return fmt.Errorf("%s: another client is creating it at this moment (its guard %s is there; if no client is, it is removed once %v old): %w", c, g, GuardStale, fs.ErrExist)
		}
		if err := t.Remove(ctx, g); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("create %s exclusively: remove the stale guard %s: %w", c, g, err)
		}
		if err := guard(ctx, g); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s: another client is creating it at this moment: %w", c, err)
			}
			return fmt.Errorf("create %s exclusively: make the guard %s: %w", c, g, err)
		}
	}
	defer RemoveQuietly(ctx, t, g)
	if _, err := t.Stat(ctx, c); err == nil {
		return fmt.Errorf("%s exists: %w", c, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("create %s exclusively: %w", c, err)
	}
	if err := t.Rename(ctx, tmp, c); err != nil {
		return fmt.Errorf("create %s exclusively: %w", c, err)
	}
	return nil
}

// guardStale reports whether guard is GuardStale older than tmp, both
// from one listing of dir. A listing that fails (go-nfs fails to list a
// folder whose files are being removed) says nothing: not stale.
func guardStale(ctx context.Context, t Transport, dir, guard, tmp string) bool {
	l, err := t.List(ctx, strings.TrimSuffix(dir, "/"))
	if err != nil {
		return false
	}
	var g, now time.Time
	for _, fi := range l {
		switch fi.Name {
		case path.Base(guard):
			g = fi.ModTime
		case path.Base(tmp):
			now = fi.ModTime
		}
	}
	if now.IsZero() {
		now = time.Now()
	}
	return !g.IsZero() && now.Sub(g) > GuardStale
}

// WriteNew writes the small data to p, a fresh name (TempName's), with
// the raw Create, and checks the size the server reports; on failure
// nothing is left at p. It is the first step of an exclusive create: the
// content is complete before it is put into place.
//
// The data is in memory, so a transient failure (vCenter's /folder proxy
// answers 500 now and then under load, a host 503) is retried whole, with
// WriteNewRetry's back-off: an exclusive create reaches the transport
// itself (As), under any Retry wrapper, and a backup must not fail on
// one refused lock upload.
func WriteNew(ctx context.Context, t Transport, p string, data []byte) error {
	return Do(ctx, WriteNewRetry, "write "+p, func() error { return writeNewOnce(ctx, t, p, data) })
}

// WriteNewRetry is WriteNew's back-off.
var WriteNewRetry = RetryOptions{Attempts: 5, Initial: 200 * time.Millisecond, Max: 3 * time.Second}

func writeNewOnce(ctx context.Context, t Transport, p string, data []byte) error {
	w, err := t.Create(ctx, p)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return err
	}
	if err := w.Close(); err != nil {
		RemoveQuietly(ctx, t, p)
		return err
	}
	fi, err := t.Stat(ctx, p)
	if err == nil && fi.Size != int64(len(data)) {
		err = fmt.Errorf("%s: the target holds %d bytes, %d were sent", p, fi.Size, len(data))
	}
	if err != nil {
		RemoveQuietly(ctx, t, p)
	}
	return err
}

// removeQuietly removes p, best effort, even when ctx is done.
func RemoveQuietly(ctx context.Context, t Transport, p string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_ = t.Remove(ctx, p)
}
