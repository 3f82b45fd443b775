package eventually

import (
	"context"
	"testing"
	"time"
)

// margin is how long before go test's -timeout a wait gives up, so that the
// test reports what it was waiting for.
const margin = 30 * time.Second

// Context returns a context that ends shortly before the test binary's
// -timeout (never, without one). Use it for calls that block until an event
// (property waits, process waits) instead of a context.WithTimeout budget.
func Context(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if dl, ok := deadline(t); ok {
		ctx, cancel = context.WithDeadline(context.Background(), dl)
	}
	t.Cleanup(cancel)
	return ctx
}

// True polls cond, every few milliseconds growing to 100 ms, until it holds;
// when the test binary is about to time out it fails the test with what it
// was waiting for.
func True(t testing.TB, what string, cond func() bool) {
	t.Helper()
	dl, bounded := deadline(t)
	pause := 2 * time.Millisecond
	for !cond() {
		if bounded && time.Now().After(dl) {
			t.Fatalf("gave up waiting (go test -timeout is near): %s", what)
		}
		time.Sleep(pause)
		if pause < 100*time.Millisecond {
			pause *= 2
		}
	}
}

// Done waits for ch to deliver or close, failing the test with what it was
// waiting for when the test binary is about to time out.
func Done[T any](t testing.TB, what string, ch <-chan T) T {
	t.Helper()
	ctx := Context(t)
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("gave up waiting (go test -timeout is near): %s", what)
	}
	var zero T
	return zero
}

func deadline(t testing.TB) (time.Time, bool) {
	d, ok := t.(interface{ Deadline() (time.Time, bool) })
	if !ok {
		return time.Time{}, false
	}
	dl, ok := d.Deadline()
	if !ok {
		return time.Time{}, false
	}
	return dl.Add(-margin), true
}
