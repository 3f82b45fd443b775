package runtime_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vmlua/vmlua/runtime"
)

// TestRunCleanupRunsOnAContextOfItsOwn: an action a module runs itself
// (RunCleanup) after the run was cancelled or timed out gets a live,
// bounded context, as at the run's end; it runs once, and the run's end
// does not run it again.
func TestRunCleanupRunsOnAContextOfItsOwn(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(cancel context.CancelFunc)
		opts func(*runtime.Options)
	}{
		{"the run was cancelled (SIGINT, SIGTERM)", func(cancel context.CancelFunc) { cancel() }, nil},
		{"the run timed out", nil, func(o *runtime.Options) { o.Timeout = time.Nanosecond }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent, cancel := context.WithCancel(context.Background())
			defer cancel()
			o := runtime.Options{Context: parent, CleanupTimeout: time.Hour}
			if tc.opts != nil {
				tc.opts(&o)
			}
			r := newRun(t, o)
			if tc.stop != nil {
				tc.stop(cancel)
			}
			<-r.Context().Done()
			runs := 0
			var seen error
			var deadline bool
			it := r.Cleanup.Push("power on VM X", func(ctx context.Context) error {
				runs++
				seen = ctx.Err()
				_, deadline = ctx.Deadline()
				return nil
			})
			if err := r.RunCleanup(it); err != nil {
				t.Fatal(err)
			}
			if seen != nil || !deadline {
				t.Errorf("the action ran on a context with error %v, deadline %v; want a live one with a deadline", seen, deadline)
			}
			if err := r.RunCleanup(it); err != nil || runs != 1 {
				t.Errorf("a second RunCleanup ran it again (%d runs, %v)", runs, err)
			}
			if p := r.Cleanup.Pending(); len(p) != 0 {
				t.Errorf("the action is still pending after it ran: %q", p)
			}
			r.Close()
			if runs != 1 {
				t.Errorf("the run's end ran the action again: %d runs", runs)
			}
		})
	}
}

// TestRunCleanupReturnsTheActionsError and does nothing for a released item.
func TestRunCleanupReturnsTheActionsError(t *testing.T) {
	r := newRun(t, runtime.Options{})
	boom := errors.New("boom")
	it := r.Cleanup.Push("a", func(context.Context) error { return boom })
	if err := r.RunCleanup(it); !errors.Is(err, boom) {
		t.Errorf("RunCleanup = %v, want the action's error", err)
	}
	ran := false
	rel := r.Cleanup.Push("b", func(context.Context) error { ran = true; return nil })
	rel.Release()
	if err := r.RunCleanup(rel); err != nil || ran {
		t.Errorf("a released item ran (%v, %v)", ran, err)
	}
}
