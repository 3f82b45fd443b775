package runtime

import "context"

// CleanupContext is the context a cleanup action runs on: not the run's
// (a --timeout, SIGINT or SIGTERM cancels that one, and the undo must still
// happen), but a context of its own that keeps the run's values and ends
// after the run's cleanup timeout (Options.CleanupTimeout). The run's end
// gives every pending action such a context; RunCleanup gives one to an
// action a module runs on its normal path.
func (r *Run) CleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.opts.Context), r.opts.CleanupTimeout)
}

// RunCleanup runs a registered cleanup action now and unregisters it, on
// CleanupContext: the same guarantee as at the run's end, whatever ended
// the work it undoes (an error, the timeout, a signal). A module whose own
// code path does the undo (v:backup powering the VM on again after
// power_off=true) calls it instead of releasing the item and redoing the
// work with the run's context, which may already be cancelled. An item
// already run, being run, or released does nothing and returns nil: each
// action runs once.
func (r *Run) RunCleanup(it *CleanupItem) error {
	if it == nil || !it.claim() {
		return nil
	}
	ctx, cancel := r.CleanupContext()
	defer cancel()
	return it.fn(ctx)
}

// claim takes the item off its stack for running it; false when it was
// already run, is being run, or was released.
func (it *CleanupItem) claim() bool {
	s := it.stack
	s.mu.Lock()
	defer s.mu.Unlock()
	if it.done {
		return false
	}
	it.done = true
	items := s.items[:0]
	for _, x := range s.items {
		if x != it {
			items = append(items, x)
		}
	}
	s.items = items
	return true
}
