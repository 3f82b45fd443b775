package window

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		err  bool
	}{
		{"22:00-06:00", "22:00-06:00", false},
		{" 01:30 - 05:15 ", "01:30-05:15", false},
		{"22:00", "", true},
		{"22:00-22:00", "", true},
		{"24:00-06:00", "", true},
		{"22:00-6", "", true},
	} {
		w, err := Parse(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("Parse(%q) error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if err == nil && w.String() != tc.want {
			t.Errorf("Parse(%q) = %s, want %s", tc.in, w, tc.want)
		}
	}
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// TestAGateClosesWhenTheWindowTheRunStartedInCloses: with 22:00-06:00 a
// run started at 23:00 may start work until 06:00 the next morning and
// not after, even once the window opens again at 22:00; a run started
// outside the window starts nothing.
func TestAGateClosesWhenTheWindowTheRunStartedInCloses(t *testing.T) {
	loc := time.FixedZone("site", 3600) // local time, whatever the machine's
	day := func(d, h, m int) time.Time { return time.Date(2026, 12, 7+d, h, m, 0, 0, loc) }
	cases := []struct {
		name        string
		window      string
		start, now  time.Time
		wantClosed  bool
		wantMessage string
	}{
		{"started before midnight, asked before midnight", "22:00-06:00", day(0, 23, 0), day(0, 23, 59), false, ""},
		{"started before midnight, asked after midnight", "22:00-06:00", day(0, 23, 0), day(1, 5, 59), false, ""},
		{"started before midnight, asked at the close", "22:00-06:00", day(0, 23, 0), day(1, 6, 0), true, "closed at 06:00 Tue"},
		{"started after midnight, asked before the close", "22:00-06:00", day(1, 1, 0), day(1, 5, 0), false, ""},
		{"started after midnight, asked after the close", "22:00-06:00", day(1, 1, 0), day(1, 7, 0), true, "closed at 06:00 Tue"},
		{"the window opens again the next evening: still closed", "22:00-06:00", day(0, 23, 0), day(1, 22, 30), true, "closed at 06:00 Tue"},
		{"started outside the window", "22:00-06:00", day(0, 12, 0), day(0, 12, 0), true, "began outside its window 22:00-06:00 (it opens at 22:00 Mon)"},
		{"a window within one day", "01:00-05:00", day(0, 1, 0), day(0, 4, 59), false, ""},
		{"a window within one day, closed", "01:00-05:00", day(0, 1, 0), day(0, 5, 0), true, "closed at 05:00 Mon"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Parse(tc.window)
			if err != nil {
				t.Fatal(err)
			}
			c := &clock{t: tc.start}
			g := NewGate(w, c.now)
			c.set(tc.now)
			err = g.Closed()
			var ce *ClosedError
			if got := errors.As(err, &ce); got != tc.wantClosed {
				t.Fatalf("Closed() = %v, want closed %v", err, tc.wantClosed)
			}
			if tc.wantClosed && !strings.Contains(err.Error(), tc.wantMessage) {
				t.Errorf("%q lacks %q", err, tc.wantMessage)
			}
		})
	}
}
