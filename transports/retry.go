package transports

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"time"
)

var errNotExist = fs.ErrNotExist

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as not worth retrying; transports use it for failures
// the standard sentinels do not cover (a bad URL, an unsupported feature).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// RetryOptions tune Retry. Zero fields take the defaults shown.
type RetryOptions struct {
	Attempts int           // total tries per call; default 5
	Initial  time.Duration // first back-off; default 500ms
	Max      time.Duration // back-off ceiling; default 30s
	Logger   *slog.Logger  // each retry is logged at Warn; default slog.Default()
}

func (o RetryOptions) withDefaults() RetryOptions {
	if o.Attempts < 1 {
		o.Attempts = 5
	}
	if o.Initial <= 0 {
		o.Initial = 500 * time.Millisecond
	}
	if o.Max <= 0 {
		o.Max = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Retry returns a Transport that retries each failing call with exponential
// back-off and jitter, up to opts.Attempts tries, unless the error is
// permanent (Classify: not found, exists, not a regular file, permission,
// no space, invalid name, auth, ...) or ctx is done: a permanent error is
// returned at once, after one call. Create and Open are retried until
// they return a stream; bytes already written to a stream are not replayed
// (retry a whole Upload for that, from a re-readable source).
func Retry(t Transport, opts RetryOptions) Transport {
	return &retrying{t: t, o: opts.withDefaults()}
}

type retrying struct {
	t Transport
	o RetryOptions
}

var _ Transport = (*retrying)(nil)

// Do runs f up to opts.Attempts times with back-off while it fails with a
// transient error. The last error is returned, annotated with the count.
func Do(ctx context.Context, opts RetryOptions, what string, f func() error) error {
	o := opts.withDefaults()
	delay := o.Initial
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || IsPermanent(err) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w: %w", what, ctx.Err(), err)
		}
		if attempt >= o.Attempts {
			return fmt.Errorf("%s: giving up after %d attempts: %w", what, attempt, err)
		}
		// full jitter in [delay/2, delay)
		d := delay/2 + rand.N(delay/2+1)
		o.Logger.Warn("transport call failed, retrying", "op", what, "attempt", attempt, "of", o.Attempts, "in", d, "err", err)
		tm := time.NewTimer(d)
		select {
		case <-ctx.Done():
			tm.Stop()
			return fmt.Errorf("%s: %w (while waiting to retry after: %v)", what, ctx.Err(), err)
		case <-tm.C:
		}
		delay = min(delay*2, o.Max)
	}
}

func (r *retrying) do(ctx context.Context, op, p string, f func() error) error {
	return Do(ctx, r.o, op+" "+p, f)
}

func (r *retrying) Unwrap() Transport { return r.t }
func (r *retrying) URL() string       { return r.t.URL() }
func (r *retrying) Close() error      { return r.t.Close() }

func (r *retrying) Stat(ctx context.Context, p string) (fi FileInfo, err error) {
	err = r.do(ctx, "stat", p, func() (e error) { fi, e = r.t.Stat(ctx, p); return })
	return
}

func (r *retrying) List(ctx context.Context, p string) (l []FileInfo, err error) {
	err = r.do(ctx, "list", p, func() (e error) { l, e = r.t.List(ctx, p); return })
	return
}

func (r *retrying) MkdirAll(ctx context.Context, p string) error {
	return r.do(ctx, "mkdir", p, func() error { return r.t.MkdirAll(ctx, p) })
}

func (r *retrying) Rename(ctx context.Context, from, to string) error {
	return r.do(ctx, "rename", from+" -> "+to, func() error { return r.t.Rename(ctx, from, to) })
}

func (r *retrying) Remove(ctx context.Context, p string) error {
	return r.do(ctx, "remove", p, func() error { return r.t.Remove(ctx, p) })
}

func (r *retrying) Create(ctx context.Context, p string) (w Writer, err error) {
	err = r.do(ctx, "create", p, func() (e error) { w, e = r.t.Create(ctx, p); return })
	return
}

func (r *retrying) Open(ctx context.Context, p string, off int64) (rc io.ReadCloser, err error) {
	err = r.do(ctx, "open", p, func() (e error) { rc, e = r.t.Open(ctx, p, off); return })
	return
}
