package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// CleanupStack holds the undo actions a run registered (the vm module
// registers a commit for every REDO it adds). When the run ends — normally,
// by error, by timeout or by a signal — the actions still registered run in
// reverse order, each with a fresh, bounded context, so that the run's own
// cancellation does not stop them.
type CleanupStack struct {
	mu    sync.Mutex
	items []*CleanupItem
}

// CleanupItem is one registered action.
type CleanupItem struct {
	Name  string // what it undoes, for the log: "commit REDO of scsi0:0 on DB01"
	fn    func(ctx context.Context) error
	stack *CleanupStack
	done  bool
}

// Push registers fn. The returned item is Released when the action is no
// longer needed (the script committed the REDO itself).
func (s *CleanupStack) Push(name string, fn func(ctx context.Context) error) *CleanupItem {
	s.mu.Lock()
	defer s.mu.Unlock()
	it := &CleanupItem{Name: name, fn: fn, stack: s}
	s.items = append(s.items, it)
	return it
}

// Release removes the item without running it (nothing when the cleanup
// has already taken it).
func (it *CleanupItem) Release() {
	if it != nil {
		it.claim()
	}
}

// Pending lists the names of the actions still registered, oldest first.
func (s *CleanupStack) Pending() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, it := range s.items {
		out = append(out, it.Name)
	}
	return out
}

// Run executes every pending action, newest first. Each gets its own
// context bounded by perAction (and by the overall deadline of ctx, which
// should not be the run's cancelled context). Every action runs even if an
// earlier one failed; the errors are joined. An action runs once: Run
// takes it off the stack before it starts it, so a second Run, a Release
// or a Run.RunCleanup (from a goroutine still running, such as a call the
// run abandoned) finds it gone. An action that
// does not return when its context ends is left running after a further
// perAction (at most overrunMax) and reported as failed: the cleanup of
// the others, and the end of the run, do not wait for it.
func (s *CleanupStack) Run(ctx context.Context, log *slog.Logger, perAction time.Duration) error {
	var errs []error
	for {
		s.mu.Lock()
		n := len(s.items)
		if n == 0 {
			s.mu.Unlock()
			break
		}
		it := s.items[n-1]
		s.items = s.items[:n-1]
		it.done = true
		s.mu.Unlock()

		log.Warn("cleanup: the script left this undone; vmlua does it now", "action", it.Name)
		start := time.Now()
		err := runBounded(ctx, it.fn, perAction)
		if err != nil {
			log.Error("cleanup failed", "action", it.Name, "error", err)
			errs = append(errs, fmt.Errorf("cleanup %q: %w", it.Name, err))
			continue
		}
		log.Info("cleanup done", "action", it.Name, "took", time.Since(start).Round(time.Millisecond).String())
	}
	return errors.Join(errs...)
}

// overrunMax bounds how long Run waits for an action that ignores its
// context's end.
const overrunMax = 30 * time.Second

// errOverrun is the error of a cleanup action that did not return when
// its context ended.
var errOverrun = errors.New("the action did not return when its time was up; vmlua stopped waiting for it")

// runBounded runs fn with a context bounded by d, and returns its error,
// or errOverrun when fn is still running min(d, overrunMax) after its
// context ended.
func runBounded(ctx context.Context, fn func(context.Context) error, d time.Duration) error {
	actx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("internal error: %v", p)
			}
		}()
		done <- fn(actx)
	}()
	select {
	case err := <-done:
		return err
	case <-actx.Done():
	}
	over := time.NewTimer(min(d, overrunMax))
	defer over.Stop()
	select {
	case err := <-done:
		return err
	case <-over.C:
		return fmt.Errorf("%w (%v)", errOverrun, context.Cause(actx))
	}
}
