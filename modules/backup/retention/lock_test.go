package retention

import (
	"testing"
	"time"
)

func TestKeepUntilGoldenTable(t *testing.T) {
	at := time.Date(2026, 1, 14, 22, 30, 0, 0, time.UTC) // a Wednesday
	for _, tc := range []struct {
		name string
		p    Policy
		want string // "" for none
	}{
		{"daily=7 keeps it until the start of its day plus 7", Policy{Daily: 7}, "2026-01-21T00:00:00Z"},
		{"weekly=4 keeps it until the Monday of its week plus 4 weeks", Policy{Weekly: 4}, "2026-02-09T00:00:00Z"},
		{"monthly=12 keeps it until the first of its month plus 12", Policy{Monthly: 12}, "2027-01-01T00:00:00Z"},
		{"yearly=3 keeps it until the 1st of January of its year plus 3", Policy{Yearly: 3}, "2029-01-01T00:00:00Z"},
		{"rules combine: the latest date wins", Policy{Daily: 7, Weekly: 4, Monthly: 2}, "2026-03-01T00:00:00Z"},
		{"last=N alone gives no date", Policy{Last: 30}, ""},
		{"no rule gives no date", Policy{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := KeepUntil(at, tc.p)
			s := ""
			if !got.IsZero() {
				s = got.Format(time.RFC3339)
			}
			if s != tc.want {
				t.Errorf("KeepUntil(%s, %s) = %q, want %q", at.Format(time.RFC3339), tc.p, s, tc.want)
			}
		})
	}
}

// With one set a day, a set that stays the newest of its buckets (the
// last of its week for weekly=, of its month for monthly=) is dropped by
// Apply exactly from KeepUntil on: the lock never holds it past the
// policy, nor lets it go before. (An earlier set of its bucket is dropped
// sooner by the policy and stays locked until its date: prune leaves it
// and says so.)
func TestKeepUntilIsWhenApplyFirstDropsTheSetWithDailyBackups(t *testing.T) {
	sets := series(200)
	at := func(date string) int {
		for i, s := range sets {
			if s.Time.Format(time.DateOnly) == date {
				return i
			}
		}
		t.Fatalf("no set on %s", date)
		return 0
	}
	for _, c := range []struct {
		p     Policy
		dates []string
	}{
		{Policy{Daily: 7}, []string{"2026-01-11", "2026-02-15", "2026-03-19"}},
		{Policy{Weekly: 3}, []string{"2026-01-11", "2026-03-22"}},             // Sundays
		{Policy{Monthly: 2}, []string{"2026-01-31", "2026-02-28"}},            // month ends
		{Policy{Daily: 3, Weekly: 2}, []string{"2026-01-18", "2026-03-01"}},   // Sundays
		{Policy{Daily: 40, Monthly: 1}, []string{"2026-01-31", "2026-03-31"}}, // daily outlasts monthly
	} {
		for _, date := range c.dates {
			i := at(date)
			s := sets[i]
			until := KeepUntil(s.Time, c.p)
			var dropped time.Time
			for j := i; j < len(sets) && dropped.IsZero(); j++ {
				for _, d := range Apply(sets[:j+1], c.p) {
					if d.Set.ID == s.ID && !d.Keep {
						dropped = sets[j].Time
					}
				}
			}
			// the first backup on or after until is the one that drops it
			if dropped.Before(until) || dropped.Sub(until) >= 24*time.Hour {
				t.Errorf("%s: the set of %s is locked until %s but dropped by the backup of %s", c.p, date, until.Format(time.RFC3339), dropped.Format(time.RFC3339))
			}
		}
	}
}
