package bwlimit

import (
	"context"
	"sync"
	"time"
)

// Clock is where a Bucket reads the time and waits: the wall clock
// (System) in a run, a fake one in tests.
type Clock interface {
	Now() time.Time
	// Until waits until the clock reads t, or until ctx is done.
	Until(ctx context.Context, t time.Time) error
}

// System is the wall clock, in local time (a timetable's times are local).
var System Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Until(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Direction says which rate of a Pair a bucket keeps to.
type Direction int

const (
	Up   Direction = iota // bytes sent to a target (uploads)
	Down                  // bytes read from a target (downloads)
)

// Bucket is a token bucket: it holds up to one second of the current rate
// in tokens (one a byte), refilled at the rate; a stream takes a token per
// byte and waits for those the bucket lacks. Every stream sharing a
// Bucket draws from the same tokens, so together they keep to the rate.
// The rate is looked up in the schedule at each take, so a timetable's
// change applies to streams already running. Safe for concurrent use.
type Bucket struct {
	sched Schedule
	dir   Direction
	clock Clock

	mu     sync.Mutex
	tokens float64 // may be negative: bytes taken and not yet paid for
	last   time.Time
	rate   Rate // at last
	taken  int64
}

// NewBucket returns a full bucket keeping to dir's rate of sched on clock
// (nil: System).
func NewBucket(sched Schedule, dir Direction, clock Clock) *Bucket {
	if clock == nil {
		clock = System
	}
	return &Bucket{sched: sched, dir: dir, clock: clock}
}

// Schedule is the schedule the bucket keeps to.
func (b *Bucket) Schedule() Schedule { return b.sched }

func (b *Bucket) rateAt(t time.Time) Rate {
	p := b.sched.At(t)
	if b.dir == Down {
		return p.Down
	}
	return p.Up
}

// reserve takes n tokens and returns when the caller may go on: the zero
// time when the bucket held them or no limit applies now.
func (b *Bucket) reserve(n int) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock.Now()
	b.taken += int64(n)
	rate := b.rateAt(now)
	if rate <= 0 {
		// no limit now: the bucket starts full when one applies again
		b.rate, b.last, b.tokens = 0, now, 0
		return time.Time{}
	}
	if b.rate > 0 && !b.last.IsZero() {
		if el := now.Sub(b.last); el > 0 {
			b.tokens += el.Seconds() * float64(b.rate) // refilled at the rate that held
		}
	} else {
		b.tokens = float64(rate) // a limit that starts: a full bucket
	}
	b.rate = rate
	b.tokens = min(b.tokens, float64(rate))
	b.last = now
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return time.Time{}
	}
	return now.Add(time.Duration(-b.tokens / float64(rate) * float64(time.Second)))
}

// Take takes n tokens, waiting (on the bucket's clock) for those the
// bucket lacks; it returns early with ctx's error when ctx is done.
func (b *Bucket) Take(ctx context.Context, n int) error {
	if b == nil || n <= 0 {
		return nil
	}
	if t := b.reserve(n); !t.IsZero() {
		return b.clock.Until(ctx, t)
	}
	return ctx.Err()
}

// Taken is how many bytes passed the bucket so far.
func (b *Bucket) Taken() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.taken
}
