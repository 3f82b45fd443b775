package retention

import "time"

// KeepUntil is the date until which p keeps a set made at t at the
// earliest, whatever sets come after it: the date an object lock (S3
// Object Lock) may hold the set's files to, so that the lock never
// outlives the policy. Each bucket rule keeps the newest set of its
// bucket (day, ISO week, month, year, in UTC) until that many newer
// buckets have a set; at the earliest, every bucket after t's has one,
// so rule daily=7 keeps a set of 2026-01-10 until 2026-01-17T00:00Z.
// The set then must still be the newest of its bucket: an earlier set of
// the same day is dropped as soon as a later one exists, whatever its
// lock says, and prune leaves it to its lock's date. Rule last=N gives
// no date (N sets may come at any pace): KeepUntil is the zero time when
// p has no bucket rule.
func KeepUntil(t time.Time, p Policy) time.Time {
	t = t.UTC()
	y, m, d := t.Date()
	var until time.Time
	later := func(u time.Time) {
		if u.After(until) {
			until = u
		}
	}
	if p.Daily > 0 {
		later(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).AddDate(0, 0, p.Daily))
	}
	if p.Weekly > 0 {
		wd := (int(t.Weekday()) + 6) % 7 // days since Monday: ISO weeks start on Monday
		later(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -wd+7*p.Weekly))
	}
	if p.Monthly > 0 {
		later(time.Date(y, m, 1, 0, 0, 0, 0, time.UTC).AddDate(0, p.Monthly, 0))
	}
	if p.Yearly > 0 {
		later(time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(p.Yearly, 0, 0))
	}
	return until
}
