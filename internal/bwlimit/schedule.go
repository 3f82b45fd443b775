package bwlimit

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Rate is a limit in bytes per second; 0 means no limit.
type Rate int64

// Pair is an upload and a download rate.
type Pair struct {
	Up, Down Rate
}

// Slot is the pair of rates that applies from a time of day on: every day
// when Day is -1, else on that day of the week only.
type Slot struct {
	Day    int // time.Weekday, or -1 for every day
	Minute int // minutes after midnight
	Rates  Pair
}

// Schedule is a parsed --bwlimit: one slot for a plain rate, or a
// timetable. The zero Schedule limits nothing.
type Schedule struct {
	slots []Slot // by week minute; a plain rate is one slot at Day -1, 00:00
	text  string
}

var days = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// Parse reads a --bwlimit value: "10M", "off", "10M:1M", or a timetable
// of "[Day-]HH:MM,RATE" entries separated by spaces or semicolons.
func Parse(s string) (Schedule, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Schedule{}, fmt.Errorf("bwlimit: empty: give a rate such as 10M, off, or a timetable such as \"08:00,512K 23:00,off\"")
	}
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ';' || r == '\t' })
	if len(fields) == 1 && !strings.Contains(fields[0], ",") {
		p, err := parsePair(fields[0])
		if err != nil {
			return Schedule{}, fmt.Errorf("bwlimit %q: %w", s, err)
		}
		return Schedule{slots: []Slot{{Day: -1, Rates: p}}, text: s}, nil
	}
	var out []Slot
	for _, f := range fields {
		when, rate, ok := strings.Cut(f, ",")
		if !ok {
			return Schedule{}, fmt.Errorf("bwlimit %q: timetable entry %q: want [Day-]HH:MM,RATE such as 08:00,512K or Mon-23:00,off", s, f)
		}
		day := -1
		if d, hm, ok := strings.Cut(when, "-"); ok {
			day = -2
			for i, n := range days {
				if strings.EqualFold(d, n) || strings.EqualFold(d, time.Weekday(i).String()) {
					day = i
				}
			}
			if day == -2 {
				return Schedule{}, fmt.Errorf("bwlimit %q: day %q: want Mon, Tue, Wed, Thu, Fri, Sat or Sun", s, d)
			}
			when = hm
		}
		m, err := ParseClock(when)
		if err != nil {
			return Schedule{}, fmt.Errorf("bwlimit %q: %w", s, err)
		}
		p, err := parsePair(rate)
		if err != nil {
			return Schedule{}, fmt.Errorf("bwlimit %q: %w", s, err)
		}
		out = append(out, Slot{Day: day, Minute: m, Rates: p})
	}
	// An entry without a day holds on every day: one slot per day, as
	// rclone expands it, so that day-specific entries sort among them.
	var week []Slot
	for _, sl := range out {
		if sl.Day >= 0 {
			week = append(week, sl)
			continue
		}
		for d := range 7 {
			week = append(week, Slot{Day: d, Minute: sl.Minute, Rates: sl.Rates})
		}
	}
	sort.SliceStable(week, func(i, j int) bool { return weekMinute(week[i]) < weekMinute(week[j]) })
	return Schedule{slots: week, text: s}, nil
}

func weekMinute(s Slot) int { return s.Day*24*60 + s.Minute }

// ParseClock reads "HH:MM" (00:00 to 23:59) as minutes after midnight.
func ParseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, fmt.Errorf("time %q: want HH:MM from 00:00 to 23:59", s)
	}
	return hh*60 + mm, nil
}

// parsePair reads "RATE" or "UP:DOWN".
func parsePair(s string) (Pair, error) {
	up, down, two := strings.Cut(s, ":")
	u, err := ParseRate(up)
	if err != nil {
		return Pair{}, err
	}
	if !two {
		return Pair{Up: u, Down: u}, nil
	}
	d, err := ParseRate(down)
	if err != nil {
		return Pair{}, err
	}
	return Pair{Up: u, Down: d}, nil
}

// ParseRate reads one rate: "off", or a number with an optional suffix
// B, K, M, G, T or P (binary multiples, optionally followed by "i" and
// "B": 10M, 10Mi and 10MiB are all 10 MiB/s); a bare number is KiB/s, as
// in rclone. 0 and "off" mean no limit.
func ParseRate(s string) (Rate, error) {
	if strings.EqualFold(s, "off") {
		return 0, nil
	}
	num := strings.TrimRight(s, "BbIiKkMmGgTtPp")
	suffix := strings.ToLower(s[len(num):])
	suffix = strings.TrimSuffix(strings.TrimSuffix(suffix, "b"), "i")
	if suffix == "" && strings.HasSuffix(strings.ToLower(s), "b") {
		suffix = "b"
	}
	mult := map[string]float64{"": 1 << 10, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}[suffix]
	v, err := strconv.ParseFloat(num, 64)
	if mult == 0 || err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("rate %q: want a number of bytes per second with a suffix B, K, M, G, T or P (10M is 10 MiB/s; a bare number is KiB/s), or off", s)
	}
	return Rate(v * mult), nil
}

// String is the text the schedule was parsed from.
func (s Schedule) String() string {
	if s.text == "" {
		return "off"
	}
	return s.text
}

// IsZero reports whether the schedule never limits anything.
func (s Schedule) IsZero() bool {
	for _, sl := range s.slots {
		if sl.Rates.Up > 0 || sl.Rates.Down > 0 {
			return false
		}
	}
	return true
}

// At returns the rates that apply at t (in t's location, the local time
// for time.Now): the last slot at or before t in the week, else the
// week's last slot (the limit set late on Saturday still holds early on
// Sunday).
func (s Schedule) At(t time.Time) Pair {
	if len(s.slots) == 0 {
		return Pair{}
	}
	if len(s.slots) == 1 && s.slots[0].Day < 0 {
		return s.slots[0].Rates
	}
	now := int(t.Weekday())*24*60 + t.Hour()*60 + t.Minute()
	cur := s.slots[len(s.slots)-1]
	for _, sl := range s.slots {
		if weekMinute(sl) <= now {
			cur = sl
		}
	}
	return cur.Rates
}
