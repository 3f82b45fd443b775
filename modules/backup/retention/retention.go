package retention

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Policy is what to keep. Zero fields keep nothing by that rule; a zero
// Policy keeps only the newest complete set.
type Policy struct {
	Last, Daily, Weekly, Monthly, Yearly int
}

// Empty reports whether no rule is set.
func (p Policy) Empty() bool { return p == Policy{} }

func (p Policy) String() string {
	var parts []string
	for _, x := range []struct {
		n    int
		name string
	}{{p.Last, "last"}, {p.Daily, "daily"}, {p.Weekly, "weekly"}, {p.Monthly, "monthly"}, {p.Yearly, "yearly"}} {
		if x.n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", x.name, x.n))
		}
	}
	return strings.Join(parts, " ")
}

// Set is one backup set as retention sees it.
type Set struct {
	ID       string
	Time     time.Time
	Complete bool
	// Parent is, for an incremental, the id of the set it applies on: a
	// kept set keeps its whole chain.
	Parent string
}

// Decision is what happens to one set, and why.
type Decision struct {
	Set    Set
	Keep   bool
	Reason string
}

type bucket struct {
	name  string
	count *int
	key   func(time.Time) int
	last  int
}

// Apply decides for every set (any order in, newest first out).
func Apply(sets []Set, p Policy) []Decision {
	s := append([]Set{}, sets...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].Time.After(s[j].Time) })
	last, daily, weekly, monthly, yearly := p.Last, p.Daily, p.Weekly, p.Monthly, p.Yearly
	buckets := []*bucket{
		{name: "last", count: &last, key: func(time.Time) int { return -1 }, last: -2},
		{name: "daily", count: &daily, key: func(t time.Time) int { y, m, d := t.Date(); return y*10000 + int(m)*100 + d }, last: -1},
		{name: "weekly", count: &weekly, key: func(t time.Time) int { y, w := t.ISOWeek(); return y*100 + w }, last: -1},
		{name: "monthly", count: &monthly, key: func(t time.Time) int { y, m, _ := t.Date(); return y*100 + int(m) }, last: -1},
		{name: "yearly", count: &yearly, key: func(t time.Time) int { return t.Year() }, last: -1},
	}
	var newestComplete *Set
	for i := range s {
		if s[i].Complete {
			newestComplete = &s[i]
			break
		}
	}
	out := make([]Decision, 0, len(s))
	for i := range s {
		set := s[i]
		d := Decision{Set: set}
		switch {
		case !set.Complete:
			if newestComplete == nil || !set.Time.Before(newestComplete.Time) {
				d.Keep, d.Reason = true, "incomplete, but not older than the newest complete set (it may still be running)"
			} else {
				d.Reason = "incomplete, older than the newest complete set"
			}
		default:
			var why []string
			for _, b := range buckets {
				if *b.count <= 0 {
					continue
				}
				k := b.key(set.Time.UTC())
				if b.name == "last" || k != b.last {
					b.last = k
					*b.count--
					why = append(why, b.name)
				}
			}
			if newestComplete != nil && set.ID == newestComplete.ID && len(why) == 0 {
				why = append(why, "newest complete set (always kept)")
			}
			if len(why) > 0 {
				d.Keep, d.Reason = true, strings.Join(why, ", ")
			} else {
				d.Reason = "no rule keeps it (" + p.String() + ")"
			}
		}
		out = append(out, d)
	}
	// a kept set keeps every set its point needs (its chain), newest first
	byID := map[string]int{}
	for i, d := range out {
		byID[d.Set.ID] = i
	}
	for i := range out {
		if !out[i].Keep {
			continue
		}
		for p, n := out[i].Set.Parent, 0; p != "" && n < len(out); n++ {
			j, ok := byID[p]
			if !ok {
				break
			}
			if !out[j].Keep {
				out[j].Keep, out[j].Reason = true, "needed by "+out[i].Set.ID+" (its chain)"
			}
			p = out[j].Set.Parent
		}
	}
	return out
}
