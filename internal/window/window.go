package window

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vmlua/vmlua/internal/bwlimit"
)

// Window is a span of the day, from Start to End (minutes after midnight,
// local time); End before Start crosses midnight.
type Window struct {
	Start, End int
}

// Parse reads "HH:MM-HH:MM" ("22:00-06:00").
func Parse(s string) (Window, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return Window{}, fmt.Errorf("window %q: want START-END in local time, e.g. 22:00-06:00 (it may cross midnight)", s)
	}
	start, err := bwlimit.ParseClock(strings.TrimSpace(a))
	if err != nil {
		return Window{}, fmt.Errorf("window %q: start: %w", s, err)
	}
	end, err := bwlimit.ParseClock(strings.TrimSpace(b))
	if err != nil {
		return Window{}, fmt.Errorf("window %q: end: %w", s, err)
	}
	if start == end {
		return Window{}, fmt.Errorf("window %q: starts and ends at the same time; give no window for all day", s)
	}
	return Window{Start: start, End: end}, nil
}

func (w Window) String() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", w.Start/60, w.Start%60, w.End/60, w.End%60)
}

// at is the time of day m minutes after the midnight that starts t's day,
// in t's location.
func at(t time.Time, m int) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, m/60, m%60, 0, 0, t.Location())
}

// Occurrence returns the window's occurrence that holds t, and whether one
// does; when none does, from is the next time the window opens.
func (w Window) Occurrence(t time.Time) (from, until time.Time, in bool) {
	// the occurrences that start yesterday, today and tomorrow
	for d := -1; d <= 1; d++ {
		day := t.AddDate(0, 0, d)
		from = at(day, w.Start)
		until = at(day, w.End)
		if w.End < w.Start {
			until = at(day.AddDate(0, 0, 1), w.End)
		}
		if !t.Before(from) && t.Before(until) {
			return from, until, true
		}
		if t.Before(from) {
			return from, until, false
		}
	}
	return from, until, false
}

// Gate says whether a run may still start new work: yes while the window
// occurrence it started in holds. Safe for concurrent use.
type Gate struct {
	w     Window
	now   func() time.Time
	start time.Time
	until time.Time // the end of the occurrence the run started in
	in    bool      // the run started inside the window
	next  time.Time // when not in: when the window opens

	mu      sync.Mutex
	refused int
}

// NewGate returns the gate of a run starting now (now() read once here,
// then at each Closed); now nil is time.Now.
func NewGate(w Window, now func() time.Time) *Gate {
	if now == nil {
		now = time.Now
	}
	g := &Gate{w: w, now: now, start: now()}
	from, until, in := w.Occurrence(g.start)
	g.in, g.until, g.next = in, until, from
	return g
}

// Now reads the gate's clock.
func (g *Gate) Now() time.Time { return g.now() }

// Window is the gate's window.
func (g *Gate) Window() Window { return g.w }

// ClosedError says why work was not started: the window closed, or the
// run started outside it. A fleet reports it as not_started, and the run
// ends with exit status 7 (partial).
type ClosedError struct {
	Window Window
	// Until is when the window closed; zero when the run started outside
	// it (Opens is then when it would have opened).
	Until, Opens time.Time
}

func (e *ClosedError) Error() string {
	if e.Until.IsZero() {
		return fmt.Sprintf("not started: the run began outside its window %s (it opens at %s)", e.Window, e.Opens.Format("15:04 Mon"))
	}
	return fmt.Sprintf("not started: the window %s closed at %s", e.Window, e.Until.Format("15:04 Mon"))
}

// Closed returns nil while new work may start, else a *ClosedError
// saying why not.
func (g *Gate) Closed() error {
	if g == nil {
		return nil
	}
	var err error
	if !g.in {
		err = &ClosedError{Window: g.w, Opens: g.next}
	} else if !g.now().Before(g.until) {
		err = &ClosedError{Window: g.w, Until: g.until}
	}
	if err != nil {
		g.mu.Lock()
		g.refused++
		g.mu.Unlock()
	}
	return err
}

// Refused is how many times Closed said no.
func (g *Gate) Refused() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refused
}
