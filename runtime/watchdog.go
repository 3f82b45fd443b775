package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultStopGrace is how long a run waits, once its context ended
// (--timeout, SIGINT/SIGTERM, the memory limit), for the script to stop
// before it gives up on it (Options.StopGrace). The interpreter stops a
// script between two instructions and vmlua's Go calls honour the
// context, so a script normally stops at once; the grace only runs out
// when a call is stuck in work that never looks at the context. It is
// long enough for a module to finish undoing its own work (removing a
// partial set), short enough that a stuck run still commits its REDOs
// within a minute of the signal.
const DefaultStopGrace = 30 * time.Second

// ErrAbandoned is in the cause of the error a run returns when its script
// did not stop within the grace after the run's context ended: the run
// ran the cleanup stack without waiting for the script, whose goroutine
// was left behind (errors.Is(err, runtime.ErrAbandoned)).
var ErrAbandoned = errors.New("the script did not stop: vmlua ran the cleanup without waiting for it")

// execWatched runs the script on a goroutine of its own and waits for it,
// or, once the run's context has ended, for at most the stop grace. When
// the grace runs out the script is abandoned: its goroutine keeps the Lua
// state (and closes it if it ever returns), the open progress trackers are
// ended, and execWatched returns the error of the stop (timeout, signal)
// with ErrAbandoned in its cause. Nothing of the run is then touched from
// the script's goroutine by the caller, which runs the cleanup stack: the
// guarantee does not depend on the interpreter noticing the context.
func (r *Run) execWatched(name, src string) error {
	L := r.NewState()
	done := make(chan error, 1)
	go func() {
		err := r.exec(L, name, src)
		L.Close()
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-r.ctx.Done():
	}
	grace := time.NewTimer(r.opts.StopGrace)
	defer grace.Stop()
	select {
	case err := <-done:
		return err
	case <-grace.C:
	}
	r.Log.Error("the script did not stop within the grace after the run was stopped: it is stuck in a call that does not check the run's context; vmlua runs the cleanup without waiting for it",
		"grace", r.opts.StopGrace.String(), "reason", context.Cause(r.ctx).Error())
	r.prog.abandon()
	se := r.stopError()
	se.Message += fmt.Sprintf("; it did not stop within %v and was abandoned, and vmlua ran the cleanup without it", r.opts.StopGrace)
	se.Cause = errors.Join(se.Cause, ErrAbandoned)
	return se
}

// stopError is the *ScriptError of a run whose context ended: timeout,
// cancellation, the memory limit, or script.exit.
func (r *Run) stopError() *ScriptError {
	se := &ScriptError{Code: CodeCanceled, Cause: context.Canceled}
	cause := context.Cause(r.ctx)
	var ec *exitCause
	switch {
	case cause == nil:
		se.Message = "the script was stopped"
	case errors.As(cause, &ec):
		se.Code, se.Message, se.Cause = "exit", "script.exit", nil
	case errors.Is(cause, errTimeout):
		se.Code, se.Cause = CodeTimeout, context.DeadlineExceeded
		se.Message = fmt.Sprintf("the script was stopped: it ran longer than its --timeout of %v", r.opts.Timeout)
	case errors.Is(cause, errMemory):
		se.Code, se.Cause = CodeSandbox, cause
		se.Message = fmt.Sprintf("the script was stopped: the process used more than the memory limit of %d MiB", r.limits.MemoryBytes>>20)
	default:
		se.Message = "the script was stopped: " + cause.Error()
	}
	return se
}

// runProgress is the run's view of Options.Progress: it remembers the
// trackers still open, so that a script abandoned in the middle of an
// operation does not leave a progress bar the CLI would wait for.
type runProgress struct {
	p    Progress
	mu   sync.Mutex
	open map[*runTracker]bool
	gone bool // abandoned: new trackers start ended
}

func newRunProgress(p Progress) *runProgress {
	return &runProgress{p: p, open: map[*runTracker]bool{}}
}

func (rp *runProgress) Start(name string, total int64) Tracker {
	t := &runTracker{rp: rp, t: rp.p.Start(name, total)}
	rp.mu.Lock()
	gone := rp.gone
	if !gone {
		rp.open[t] = true
	}
	rp.mu.Unlock()
	if gone {
		t.Done(ErrAbandoned)
	}
	return t
}

// abandon ends every tracker still open, with ErrAbandoned.
func (rp *runProgress) abandon() {
	rp.mu.Lock()
	rp.gone = true
	open := make([]*runTracker, 0, len(rp.open))
	for t := range rp.open {
		open = append(open, t)
	}
	rp.mu.Unlock()
	for _, t := range open {
		t.Done(ErrAbandoned)
	}
}

type runTracker struct {
	rp   *runProgress
	t    Tracker
	once sync.Once
}

func (t *runTracker) Add(n int64) { t.t.Add(n) }

func (t *runTracker) Done(err error) {
	t.once.Do(func() {
		t.rp.mu.Lock()
		delete(t.rp.open, t)
		t.rp.mu.Unlock()
		t.t.Done(err)
	})
}
