package transports

import (
	"context"
	"fmt"
	"io"
	"sync"
)

// Wrapper is implemented by the wrappers in this package so callers can
// reach the transport underneath (for optional interfaces).
type Wrapper interface {
	Unwrap() Transport
}

// Limit returns a Transport that lets at most n operations run on t at once
// (restic's sema): every call holds a slot for its duration, and a Writer
// from Create or a reader from Open holds one until it is closed or
// aborted. Use one Limit per target to cap connections to it. n < 1 means 1.
func Limit(t Transport, n int) Transport {
	return LimitWith(t, NewSlots(n))
}

// Slots is a semaphore that several Limit wrappers can share, so that the
// transports of several runs opened on one target count together.
type Slots chan struct{}

// NewSlots returns n slots (n < 1 means 1).
func NewSlots(n int) Slots {
	if n < 1 {
		n = 1
	}
	return make(Slots, n)
}

// LimitWith is Limit with shared slots.
func LimitWith(t Transport, s Slots) Transport {
	return &limited{t: t, sem: s}
}

// TargetLimits hands out shared slots per target: a fleet run's
// --per-target cap. Safe for concurrent use.
type TargetLimits struct {
	n  int
	mu sync.Mutex
	m  map[string]Slots
}

// NewTargetLimits caps every target at n concurrent operations.
func NewTargetLimits(n int) *TargetLimits { return &TargetLimits{n: n, m: map[string]Slots{}} }

// Wrap limits t with the slots of target key (e.g. "sftp://nas:22").
func (l *TargetLimits) Wrap(t Transport, key string) Transport {
	l.mu.Lock()
	s, ok := l.m[key]
	if !ok {
		s = NewSlots(l.n)
		l.m[key] = s
	}
	l.mu.Unlock()
	return LimitWith(t, s)
}

type limited struct {
	t   Transport
	sem Slots
}

var _ Transport = (*limited)(nil)

func (l *limited) acquire(ctx context.Context) error {
	select {
	case l.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for a free slot on %s: %w", l.t.URL(), ctx.Err())
	}
}

func (l *limited) release() { <-l.sem }

func (l *limited) Unwrap() Transport { return l.t }
func (l *limited) URL() string       { return l.t.URL() }
func (l *limited) Close() error      { return l.t.Close() }

func (l *limited) Stat(ctx context.Context, p string) (FileInfo, error) {
	if err := l.acquire(ctx); err != nil {
		return FileInfo{}, err
	}
	defer l.release()
	return l.t.Stat(ctx, p)
}

func (l *limited) List(ctx context.Context, p string) ([]FileInfo, error) {
	if err := l.acquire(ctx); err != nil {
		return nil, err
	}
	defer l.release()
	return l.t.List(ctx, p)
}

func (l *limited) MkdirAll(ctx context.Context, p string) error {
	if err := l.acquire(ctx); err != nil {
		return err
	}
	defer l.release()
	return l.t.MkdirAll(ctx, p)
}

func (l *limited) Rename(ctx context.Context, from, to string) error {
	if err := l.acquire(ctx); err != nil {
		return err
	}
	defer l.release()
	return l.t.Rename(ctx, from, to)
}

func (l *limited) Remove(ctx context.Context, p string) error {
	if err := l.acquire(ctx); err != nil {
		return err
	}
	defer l.release()
	return l.t.Remove(ctx, p)
}

func (l *limited) Create(ctx context.Context, p string) (Writer, error) {
	if err := l.acquire(ctx); err != nil {
		return nil, err
	}
	w, err := l.t.Create(ctx, p)
	if err != nil {
		l.release()
		return nil, err
	}
	return &limitedWriter{Writer: w, release: sync.OnceFunc(l.release)}, nil
}

func (l *limited) Open(ctx context.Context, p string, offset int64) (io.ReadCloser, error) {
	if err := l.acquire(ctx); err != nil {
		return nil, err
	}
	r, err := l.t.Open(ctx, p, offset)
	if err != nil {
		l.release()
		return nil, err
	}
	return &limitedReader{ReadCloser: r, release: sync.OnceFunc(l.release)}, nil
}

type limitedWriter struct {
	Writer
	release func()
}

func (w *limitedWriter) Close() error { defer w.release(); return w.Writer.Close() }
func (w *limitedWriter) Abort() error { defer w.release(); return w.Writer.Abort() }

type limitedReader struct {
	io.ReadCloser
	release func()
}

func (r *limitedReader) Close() error { defer r.release(); return r.ReadCloser.Close() }
