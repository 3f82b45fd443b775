package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"github.com/vmlua/vmlua/internal/oneline"
	"github.com/vmlua/vmlua/runtime"
	"golang.org/x/term"
)

// Sink renders progress to one writer.
type Sink struct {
	out      io.Writer
	terminal bool
	every    time.Duration // plain mode: at most one line per operation per interval
	now      func() time.Time

	mu sync.Mutex
	p  *mpb.Progress
}

// Options tune a Sink; zero values are defaults.
type Options struct {
	// Terminal forces bar rendering on or off; nil detects it from out.
	Terminal *bool
	// Every is how often plain mode prints a line per operation (default
	// 10 s); the first and last lines are always printed.
	Every time.Duration
	// Now is the clock (tests).
	Now func() time.Time
}

// New returns a Sink writing to out.
func New(out io.Writer, o Options) *Sink {
	s := &Sink{out: out, every: o.Every, now: o.Now}
	if s.every == 0 {
		s.every = 10 * time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	if o.Terminal != nil {
		s.terminal = *o.Terminal
	} else if f, ok := out.(*os.File); ok {
		s.terminal = term.IsTerminal(int(f.Fd()))
	}
	return s
}

var _ runtime.Progress = (*Sink)(nil)

// Terminal reports whether the sink draws bars.
func (s *Sink) Terminal() bool { return s.terminal }

// Start begins an operation of total bytes (-1 when unknown). The name
// holds text from vSphere and scripts (a VM's name): its control
// characters are escaped, so that it stays one line.
func (s *Sink) Start(name string, total int64) runtime.Tracker {
	name = oneline.Escape(name)
	if s.terminal {
		return s.startBar(name, total)
	}
	t := &lineTracker{s: s, name: name, total: total, start: s.now()}
	t.last = t.start
	s.printf("%s: started (%s)\n", name, sizeOrUnknown(total))
	return t
}

// Wait waits for the bars to be drawn one last time; call it before the
// program prints its summary.
func (s *Sink) Wait() {
	s.mu.Lock()
	p := s.p
	s.p = nil
	s.mu.Unlock()
	if p != nil {
		p.Wait()
	}
}

func (s *Sink) printf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.out, format, args...)
}

func (s *Sink) startBar(name string, total int64) runtime.Tracker {
	s.mu.Lock()
	if s.p == nil {
		s.p = mpb.New(mpb.WithOutput(s.out), mpb.WithWidth(40), mpb.WithRefreshRate(150*time.Millisecond), mpb.WithAutoRefresh())
	}
	p := s.p
	s.mu.Unlock()
	// A bar made with total 0 never completes by itself: only Done says
	// whether the operation succeeded (all bytes sent is not success yet).
	bar := p.AddBar(0,
		mpb.PrependDecorators(
			decor.Name(name, decor.WC{W: len(name) + 1, C: decor.DindentRight}),
			decor.Counters(decor.SizeB1024(0), "% .1f / % .1f", decor.WCSyncWidth),
		),
		mpb.AppendDecorators(
			decor.OnAbort(decor.OnComplete(decor.Percentage(decor.WCSyncSpace), " done"), " failed"),
			decor.AverageSpeed(decor.SizeB1024(0), " % .1f", decor.WCSyncSpace),
		),
	)
	if total > 0 {
		bar.SetTotal(total, false)
	}
	return &barTracker{bar: bar, total: total, start: s.now(), now: s.now}
}

type barTracker struct {
	bar   *mpb.Bar
	total int64
	start time.Time
	now   func() time.Time
	mu    sync.Mutex
	n     int64
	done  bool
}

func (t *barTracker) Add(n int64) {
	t.mu.Lock()
	t.n += n
	t.mu.Unlock()
	t.bar.IncrInt64(n)
}

func (t *barTracker) Done(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return
	}
	t.done = true
	if err != nil {
		t.bar.Abort(false)
		return
	}
	t.bar.SetTotal(t.n, true)
}

type lineTracker struct {
	s     *Sink
	name  string
	total int64
	start time.Time

	mu   sync.Mutex
	n    int64
	last time.Time
	done bool
}

func (t *lineTracker) Add(n int64) {
	t.mu.Lock()
	t.n += n
	now := t.s.now()
	print := now.Sub(t.last) >= t.s.every
	if print {
		t.last = now
	}
	cur := t.n
	t.mu.Unlock()
	if print {
		t.s.printf("%s: %s%s, %s\n", t.name, size(cur), percent(cur, t.total), rate(cur, now.Sub(t.start)))
	}
}

func (t *lineTracker) Done(err error) {
	t.mu.Lock()
	if t.done {
		t.mu.Unlock()
		return
	}
	t.done = true
	cur := t.n
	took := t.s.now().Sub(t.start)
	t.mu.Unlock()
	if err != nil {
		t.s.printf("%s: failed after %s and %s: %s\n", t.name, size(cur), took.Round(time.Millisecond), oneline.Escape(err.Error()))
		return
	}
	t.s.printf("%s: done, %s in %s (%s)\n", t.name, size(cur), took.Round(time.Millisecond), rate(cur, took))
}

func sizeOrUnknown(n int64) string {
	if n < 0 {
		return "size unknown"
	}
	return size(n)
}

// size renders bytes in binary units: "32.0 MiB".
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func percent(n, total int64) string {
	if total <= 0 {
		return ""
	}
	return fmt.Sprintf(" of %s (%d%%)", size(total), n*100/total)
}

func rate(n int64, d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return size(int64(float64(n)/d.Seconds())) + "/s"
}

// Size renders a byte count the way progress lines do (for summaries).
func Size(n int64) string { return size(n) }
