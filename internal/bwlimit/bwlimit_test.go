package bwlimit

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in       string
		up, down Rate
		err      bool
	}{
		{"10M", 10 << 20, 10 << 20, false},
		{"512", 512 << 10, 512 << 10, false}, // a bare number is KiB/s, as in rclone
		{"512k", 512 << 10, 512 << 10, false},
		{"100B", 100, 100, false},
		{"1G", 1 << 30, 1 << 30, false},
		{"1.5M", 3 << 19, 3 << 19, false},
		{"10MiB", 10 << 20, 10 << 20, false},
		{"10Mi", 10 << 20, 10 << 20, false},
		{"off", 0, 0, false},
		{"0", 0, 0, false},
		{"10M:100K", 10 << 20, 100 << 10, false},
		{"off:1M", 0, 1 << 20, false},
		{"", 0, 0, true},
		{"bad", 0, 0, true},
		{"1000X", 0, 0, true},
		{"-1M", 0, 0, true},
		{"25:00,1M", 0, 0, true},
		{"08:0,1M", 0, 0, true},
		{"Xyz-08:00,1M", 0, 0, true},
		{"08:00,bad", 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			s, err := Parse(tc.in)
			if (err != nil) != tc.err {
				t.Fatalf("Parse(%q) error %v, want error %v", tc.in, err, tc.err)
			}
			if err != nil {
				return
			}
			if got := s.At(time.Now()); got.Up != tc.up || got.Down != tc.down {
				t.Errorf("Parse(%q) = %d:%d, want %d:%d", tc.in, got.Up, got.Down, tc.up, tc.down)
			}
		})
	}
}

func TestTimetableAt(t *testing.T) {
	// 2026-12-07 is a Monday.
	at := func(day int, hhmm string) time.Time {
		m, err := ParseClock(hhmm)
		if err != nil {
			t.Fatal(err)
		}
		return time.Date(2026, 12, 7+day, m/60, m%60, 30, 0, time.Local)
	}
	daily := "08:00,512K 12:00,10M 23:00,off"
	weekly := "Mon-08:00,1M Sat-00:00,off"
	cases := []struct {
		sched string
		t     time.Time
		want  Rate
	}{
		{daily, at(0, "07:00"), 0}, // before the day's first entry: the evening's off still holds
		{daily, at(0, "08:00"), 512 << 10},
		{daily, at(0, "11:59"), 512 << 10},
		{daily, at(0, "12:00"), 10 << 20},
		{daily, at(2, "22:59"), 10 << 20},
		{daily, at(2, "23:00"), 0},
		{"08:00,512K;23:00,off", at(1, "09:00"), 512 << 10}, // semicolons separate entries too
		{weekly, at(0, "07:59"), 0},                         // Monday before 08:00: Saturday's off
		{weekly, at(0, "08:00"), 1 << 20},
		{weekly, at(3, "03:00"), 1 << 20}, // Thursday
		{weekly, at(5, "12:00"), 0},       // Saturday
		{weekly, at(6, "23:59"), 0},       // Sunday
		{"Mon-08:00,1M 09:00,2M", at(0, "08:30"), 1 << 20},
		{"Mon-08:00,1M 09:00,2M", at(1, "08:30"), 2 << 20}, // Tuesday: Monday's 09:00 still holds
	}
	for _, tc := range cases {
		s, err := Parse(tc.sched)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.At(tc.t).Up; got != tc.want {
			t.Errorf("%q at %s: %d, want %d", tc.sched, tc.t.Format("Mon 15:04"), got, tc.want)
		}
	}
}

// TestStreamsSharingABucketTogetherKeepToItsRate: several writers in
// parallel share one bucket; the bytes they pass take (total - one
// second's burst) / rate on the bucket's clock, whatever their interleaving.
func TestStreamsSharingABucketTogetherKeepToItsRate(t *testing.T) {
	const rate = 1 << 20
	cases := []struct {
		name    string
		streams int
		each    int
	}{
		{"one stream", 1, 8 << 20},
		{"four streams in parallel", 4, 3 << 20},
		{"sixteen streams of odd sizes", 16, 777_777},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Date(2026, 12, 7, 22, 0, 0, 0, time.Local)
			c := NewFakeClock(start)
			s, _ := Parse("1M")
			b := NewBucket(s, Up, c)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var got int64
			for range tc.streams {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var out bytes.Buffer
					w := NewWriter(context.Background(), &out, b)
					// writes of 1 MiB, as the backup's spans are
					for left := tc.each; left > 0; left -= 1 << 20 {
						if _, err := w.Write(make([]byte, min(left, 1<<20))); err != nil {
							t.Error(err)
						}
					}
					mu.Lock()
					got += int64(out.Len())
					mu.Unlock()
				}()
			}
			wg.Wait()
			total := int64(tc.streams * tc.each)
			if got != total || b.Taken() != total {
				t.Fatalf("%d bytes written, %d counted, want %d", got, b.Taken(), total)
			}
			want := time.Duration(float64(total-rate) / rate * float64(time.Second))
			if took := c.Now().Sub(start); took < want-time.Millisecond || took > want+time.Millisecond {
				t.Errorf("%d bytes at 1 MiB/s took %v on the bucket's clock, want %v", total, took, want)
			}
		})
	}
}

// TestAnIdleBucketRefillsToOneSecondOnly: after a pause, a stream may
// burst one second's worth, no more.
func TestAnIdleBucketRefillsToOneSecondOnly(t *testing.T) {
	start := time.Date(2026, 12, 7, 22, 0, 0, 0, time.Local)
	c := NewFakeClock(start)
	s, _ := Parse("100K")
	b := NewBucket(s, Up, c)
	_ = b.Take(context.Background(), 100<<10) // the full bucket
	c.Advance(time.Hour)
	at := c.Now()
	_ = b.Take(context.Background(), 300<<10)
	if took := c.Now().Sub(at); took != 2*time.Second {
		t.Errorf("300K after an idle hour at 100K/s took %v, want 2s (one second of burst, not an hour's)", took)
	}
}

// TestTheTimetableAppliesToRunningStreams: the rate is read at each take,
// so "off" at night lets bytes through without waiting and the day's
// rate paces them.
func TestTheTimetableAppliesToRunningStreams(t *testing.T) {
	s, err := Parse("08:00,1M 23:00,off")
	if err != nil {
		t.Fatal(err)
	}
	c := NewFakeClock(time.Date(2026, 12, 7, 23, 30, 0, 0, time.Local))
	b := NewBucket(s, Down, c)
	r := NewReader(context.Background(), bytes.NewReader(make([]byte, 50<<20)), b)
	if n, _ := io.Copy(io.Discard, r); n != 50<<20 || !c.Now().Equal(time.Date(2026, 12, 7, 23, 30, 0, 0, time.Local)) {
		t.Errorf("at 23:30 (off) 50 MiB read as %d bytes and waited until %v; want no wait", n, c.Now())
	}
	day := time.Date(2026, 12, 8, 9, 0, 0, 0, time.Local)
	c.Set(day)
	r = NewReader(context.Background(), bytes.NewReader(make([]byte, 5<<20)), b)
	io.Copy(io.Discard, r)
	if took := c.Now().Sub(day); took < 4*time.Second-time.Millisecond || took > 4*time.Second+time.Millisecond {
		t.Errorf("at 09:00 (1M) 5 MiB took %v, want 4s", took)
	}
}

// TestUploadAndDownloadKeepTheirOwnRates: "UP:DOWN" gives each direction
// its rate.
func TestUploadAndDownloadKeepTheirOwnRates(t *testing.T) {
	s, _ := Parse("1M:off")
	start := time.Date(2026, 12, 7, 9, 0, 0, 0, time.Local)
	c := NewFakeClock(start)
	NewBucket(s, Down, c).Take(context.Background(), 10<<20)
	if !c.Now().Equal(start) {
		t.Errorf("a download waited with the download rate off")
	}
	NewBucket(s, Up, c).Take(context.Background(), 3<<20)
	if took := c.Now().Sub(start); took != 2*time.Second {
		t.Errorf("a 3 MiB upload at 1M took %v, want 2s", took)
	}
}

// TestAWaitEndsWithTheContext: a cancelled run does not wait for tokens.
func TestAWaitEndsWithTheContext(t *testing.T) {
	s, _ := Parse("1B")
	b := NewBucket(s, Up, nil) // the wall clock: a wait of days
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Take(ctx, 1<<20); err == nil {
		t.Fatal("a take needing 12 days of tokens returned nil with the context cancelled")
	}
}
