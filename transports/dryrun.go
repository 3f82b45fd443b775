package transports

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"sync"
	"time"
)

// DryRun returns a Transport that reads from t but writes nothing: MkdirAll,
// Rename, Remove and Create are logged ("would ...") and succeed without
// touching the target. So that an Upload can run through, it remembers the
// files it pretended to write (name and size only — memory stays small) and
// answers Stat, Rename and Remove for them; reading one back fails.
func DryRun(t Transport, log *slog.Logger) Transport {
	if log == nil {
		log = slog.Default()
	}
	return &dryRun{Transport: t, log: log.With("dry_run", true, "target", t.URL()), files: map[string]int64{}}
}

// IsDryRun reports whether t is, or wraps, a DryRun transport.
func IsDryRun(t Transport) bool {
	_, ok := As[*dryRun](t)
	return ok
}

type dryRun struct {
	Transport
	log   *slog.Logger
	mu    sync.Mutex
	files map[string]int64 // pretend files, by clean path
}

var _ Transport = (*dryRun)(nil)

func (d *dryRun) Unwrap() Transport { return d.Transport }

func (d *dryRun) pretend(p string) (int64, bool) {
	c, err := CleanPath(p)
	if err != nil {
		return 0, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.files[c]
	return n, ok
}

func (d *dryRun) Stat(ctx context.Context, p string) (FileInfo, error) {
	if n, ok := d.pretend(p); ok {
		return FileInfo{Name: path.Base(p), Size: n, ModTime: time.Now()}, nil
	}
	return d.Transport.Stat(ctx, p)
}

func (d *dryRun) Open(ctx context.Context, p string, off int64) (io.ReadCloser, error) {
	if _, ok := d.pretend(p); ok {
		return nil, fmt.Errorf("dry run: %s was not really written, it cannot be read back", p)
	}
	return d.Transport.Open(ctx, p, off)
}

func (d *dryRun) MkdirAll(ctx context.Context, p string) error {
	if _, err := CleanPath(p); err != nil {
		return err
	}
	d.log.Info("would create directory", "path", p)
	return nil
}

func (d *dryRun) Rename(ctx context.Context, from, to string) error {
	cf, err := CleanPath(from)
	if err != nil {
		return err
	}
	ct, err := CleanPath(to)
	if err != nil {
		return err
	}
	d.mu.Lock()
	n, ok := d.files[cf]
	if ok {
		delete(d.files, cf)
		d.files[ct] = n
	}
	d.mu.Unlock()
	if !ok {
		if _, err := d.Transport.Stat(ctx, from); err != nil {
			return fmt.Errorf("dry run: rename %s: %w", from, err)
		}
	}
	if ok && IsTemp(cf) {
		d.log.Info("would write", "path", ct, "bytes", n)
	} else {
		d.log.Info("would rename", "from", from, "to", to)
	}
	return nil
}

func (d *dryRun) Remove(ctx context.Context, p string) error {
	c, err := CleanPath(p)
	if err != nil {
		return err
	}
	d.mu.Lock()
	_, ok := d.files[c]
	delete(d.files, c)
	d.mu.Unlock()
	if !ok {
		if _, err := d.Transport.Stat(ctx, p); err != nil {
			return fmt.Errorf("dry run: remove %s: %w", p, err)
		}
		d.log.Info("would remove", "path", p)
	}
	return nil
}

func (d *dryRun) Create(ctx context.Context, p string) (Writer, error) {
	c, err := CleanPath(p)
	if err != nil {
		return nil, err
	}
	if c == "" {
		return nil, fmt.Errorf("dry run: create the root directory: %w", fs.ErrInvalid)
	}
	return &dryWriter{d: d, path: c}, nil
}

type dryWriter struct {
	d    *dryRun
	path string
	n    int64
	done bool
}

func (w *dryWriter) Write(b []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("dry run: write to %s after Close", w.path)
	}
	w.n += int64(len(b))
	return len(b), nil
}

func (w *dryWriter) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	w.d.mu.Lock()
	w.d.files[w.path] = w.n
	w.d.mu.Unlock()
	if !IsTemp(w.path) {
		w.d.log.Info("would write", "path", w.path, "bytes", w.n)
	} else {
		w.d.log.Debug("would write temporary", "path", w.path, "bytes", w.n)
	}
	return nil
}

func (w *dryWriter) Abort() error { w.done = true; return nil }
