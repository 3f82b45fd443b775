package bwlimit

import (
	"context"
	"sync"
	"time"
)

// FakeClock is a Clock for tests that moves only when told or waited on:
// Until sets it to the latest time waited for (and returns at once), so
// after streams ran through a bucket on it the clock reads when the last
// wait ended, whatever the streams' interleaving. Safe for concurrent use.
type FakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewFakeClock returns a fake clock reading t.
func NewFakeClock(t time.Time) *FakeClock { return &FakeClock{now: t} }

// Now is the fake time.
func (c *FakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// Until moves the clock to t when t is later.
func (c *FakeClock) Until(ctx context.Context, t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
	return ctx.Err()
}

// Advance moves the clock by d.
func (c *FakeClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// Set moves the clock to t.
func (c *FakeClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }
