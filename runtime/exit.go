package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/vmlua/vmlua/internal/redact"
)

// Exit statuses of a run, as the vmlua command returns them
// (docs/operations.md has the table). A script chooses among them with
// script.status and script.exit; the others come from how the run ended.
const (
	ExitOK              = 0 // success
	ExitFailed          = 1 // the script failed
	ExitUsage           = 2 // bad flags or arguments, missing script
	ExitConfig          = 3 // the configuration lacks what the run needs
	ExitTimeout         = 4 // the run hit its --timeout
	ExitCanceled        = 5 // SIGINT/SIGTERM
	ExitNothingSelected = 6 // the selection matched no VM
	ExitPartial         = 7 // the run finished but left something out
	ExitBlocked         = 8 // vmlua doctor: something stands in the way of a backup
)

// ExitMax is the largest status a script may set by number (126 and up
// mean "not executable", "not found" and signals to a shell).
const ExitMax = 125

// statusNames are the named statuses a script may set.
var statusNames = []struct {
	name string
	code int
}{
	{"ok", ExitOK},
	{"failed", ExitFailed},
	{"nothing_selected", ExitNothingSelected},
	{"partial", ExitPartial},
}

// StatusNames lists the names script.status accepts, in order.
func StatusNames() []string {
	out := make([]string, len(statusNames))
	for i, s := range statusNames {
		out[i] = s.name
	}
	return out
}

// StatusCode returns the exit status of a status name.
func StatusCode(name string) (int, bool) {
	for _, s := range statusNames {
		if s.name == name {
			return s.code, true
		}
	}
	return 0, false
}

// StatusName names an exit status: "ok", "failed", "usage", "config",
// "timeout", "canceled", "nothing_selected", "partial", "blocked", or
// "status N".
func StatusName(code int) string {
	switch code {
	case ExitUsage:
		return "usage"
	case ExitConfig:
		return "config"
	case ExitTimeout:
		return "timeout"
	case ExitCanceled:
		return "canceled"
	case ExitBlocked:
		return "blocked"
	}
	for _, s := range statusNames {
		if s.code == code {
			return s.name
		}
	}
	return fmt.Sprintf("status %d", code)
}

// ExitError is what ExecFile returns when the script ended normally (or
// by script.exit) with a non-zero status it chose.
type ExitError struct {
	Status  int
	Message string // script.exit's message; "" when none
	Where   string // where script.exit was called, when it was
}

func (e *ExitError) Error() string {
	s := fmt.Sprintf("the script ended with status %s (%d)", StatusName(e.Status), e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Where != "" {
		s = e.Where + ": " + s
	}
	return s
}

// ExitStatus maps what ExecFile returned to the exit status of the run:
// 0 for nil, the script's own status for an *ExitError, 4 for a timeout,
// 5 for a cancellation, 3 for a configuration the run lacks, and 1 for any
// other failure.
func ExitStatus(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Status
	}
	var se *ScriptError
	if errors.As(err, &se) {
		switch se.Code {
		case CodeTimeout:
			return ExitTimeout
		case CodeCanceled:
			return ExitCanceled
		case CodeConfig:
			return ExitConfig
		}
	}
	return ExitFailed
}

// exitCause cancels the run's context when the script calls script.exit:
// the script stops at its next instruction (pcall cannot catch it), then
// the cleanup stack runs as after any other end.
type exitCause struct{ status int }

func (e *exitCause) Error() string { return "the script called script.exit" }

// outcome is what a script said about its own result.
type outcome struct {
	mu      sync.Mutex
	status  int
	set     bool
	message string
	where   string
	results []map[string]any
}

// SetStatus sets the exit status the run ends with if the script then
// returns normally (script.status).
func (r *Run) SetStatus(status int) {
	r.out.mu.Lock()
	r.out.status, r.out.set = status, true
	r.out.mu.Unlock()
}

// Status returns the status the script set and whether it set one.
func (r *Run) Status() (int, bool) {
	r.out.mu.Lock()
	defer r.out.mu.Unlock()
	return r.out.status, r.out.set
}

// Exit ends the script now with status (script.exit): the run's context is
// cancelled with a cause ExecString recognises, so the script stops at its
// next instruction whatever pcall it is in; the cleanup stack still runs.
// message, when not empty, is reported once (in the *ExitError, or logged
// when the status is 0).
func (r *Run) Exit(status int, message, where string) {
	r.out.mu.Lock()
	r.out.status, r.out.set = status, true
	r.out.message, r.out.where = redact.Text(message), where
	r.out.mu.Unlock()
	r.cancel(&exitCause{status})
}

// AddResult records one result row (script.result). Rows are flat: string
// keys, and string, number or boolean values; secrets are masked as in
// logs (a field named like a credential, a URL's password).
func (r *Run) AddResult(row map[string]any) {
	for k, v := range row {
		switch s, ok := v.(string); {
		case redact.Key(k) && v != "":
			row[k] = redact.Mask
		case ok:
			row[k] = redact.Text(s)
		}
	}
	r.out.mu.Lock()
	r.out.results = append(r.out.results, row)
	r.out.mu.Unlock()
}

// Results returns the rows the script recorded, in order.
func (r *Run) Results() []map[string]any {
	r.out.mu.Lock()
	defer r.out.mu.Unlock()
	return append([]map[string]any(nil), r.out.results...)
}

// exited reports whether the run's context ended because of script.exit.
func (r *Run) exited() bool {
	var ec *exitCause
	return errors.As(context.Cause(r.ctx), &ec)
}

// endStatus turns the script's own status into ExecString's result when
// the script did not fail otherwise.
func (r *Run) endStatus() error {
	r.out.mu.Lock()
	st, msg, where := r.out.status, r.out.message, r.out.where
	r.out.mu.Unlock()
	if st == ExitOK {
		if msg != "" {
			r.Log.Info(msg, "source", "script.exit")
		}
		return nil
	}
	return &ExitError{Status: st, Message: msg, Where: where}
}

// Stdout is where the script's print writes (Options.Stdout, or the
// process's standard output). Each print is one Write of a whole line, so
// runs sharing a writer that is safe for concurrent use (an *os.File) do
// not interleave within a line.
func (r *Run) Stdout() io.Writer { return r.stdout }

// printLine writes one print() line.
func (r *Run) printLine(parts []string) {
	line := redact.Text(strings.Join(parts, "\t"))
	_, _ = io.WriteString(r.stdout, line+"\n")
}
