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

// Release removes the item without running it.
func (it *CleanupItem) Release() {
	if it == nil {
		return
	}
	it.stack.mu.Lock()
	defer it.stack.mu.Unlock()
	it.done = true
	items := it.stack.items[:0]
	for _, x := range it.stack.items {
		if x != it {
			items = append(items, x)
		}
	}
	it.stack.items = items
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
// earlier one failed; the errors are joined.
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
		actx, cancel := context.WithTimeout(ctx, perAction)
		start := time.Now()
		err := it.fn(actx)
		cancel()
		if err != nil {
			log.Error("cleanup failed", "action", it.Name, "error", err)
			errs = append(errs, fmt.Errorf("cleanup %q: %w", it.Name, err))
			continue
		}
		log.Info("cleanup done", "action", it.Name, "took", time.Since(start).Round(time.Millisecond).String())
	}
	return errors.Join(errs...)
}
