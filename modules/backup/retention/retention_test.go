package retention

import (
	"reflect"
	"testing"
	"time"
)

// day returns a set taken on 2026-01-01 plus n days at hour h.
func day(n, h int, complete bool) Set {
	t := time.Date(2026, 1, 1, h, 0, 0, 0, time.UTC).AddDate(0, 0, n)
	return Set{ID: t.Format("0102T15"), Time: t, Complete: complete}
}

func kept(ds []Decision) []string {
	var out []string
	for _, d := range ds {
		if d.Keep {
			out = append(out, d.Set.ID)
		}
	}
	return out
}

// series is one complete set a day at 02:00 for n days from 2026-01-01.
func series(n int) []Set {
	var s []Set
	for i := 0; i < n; i++ {
		s = append(s, day(i, 2, true))
	}
	return s
}

func TestRetentionGoldenTable(t *testing.T) {
	for _, tc := range []struct {
		name string
		sets []Set
		p    Policy
		want []string // kept, newest first
	}{
		{"keep=3 keeps the three newest", series(5), Policy{Last: 3}, []string{"0105T02", "0104T02", "0103T02"}},
		{"keep larger than the sets keeps them all", series(2), Policy{Last: 9}, []string{"0102T02", "0101T02"}},
		{"an empty policy keeps only the newest complete set", series(3), Policy{}, []string{"0103T02"}},
		{"daily keeps the newest set of each day", []Set{day(0, 1, true), day(0, 9, true), day(1, 1, true), day(1, 9, true), day(2, 5, true)}, Policy{Daily: 2}, []string{"0103T05", "0102T09"}},
		{"weekly keeps one per ISO week", series(21), Policy{Weekly: 3}, []string{"0121T02", "0118T02", "0111T02"}},
		{"monthly keeps the newest of each month", series(70), Policy{Monthly: 3}, []string{"0311T02", "0228T02", "0131T02"}},
		{"yearly keeps one per year", []Set{day(0, 1, true), day(200, 1, true), day(400, 1, true)}, Policy{Yearly: 5}, []string{"0205T01", "0720T01"}},
		{"rules combine: a set kept by several rules counts for each", series(10), Policy{Last: 2, Weekly: 2}, []string{"0110T02", "0109T02", "0104T02"}},
		{"the newest complete set survives a policy that keeps nothing else", []Set{day(0, 1, true), day(1, 1, true)}, Policy{Yearly: 0}, []string{"0102T01"}},
		{"incomplete sets are never counted and go when older than the newest complete", []Set{day(0, 1, true), day(1, 1, false), day(2, 1, true), day(3, 1, true)}, Policy{Last: 2}, []string{"0104T01", "0103T01"}},
		{"an incomplete set newer than the newest complete one stays", []Set{day(0, 1, true), day(1, 1, true), day(2, 1, false)}, Policy{Last: 1}, []string{"0103T01", "0102T01"}},
		{"only incomplete sets: all stay", []Set{day(0, 1, false), day(1, 1, false)}, Policy{Last: 1}, []string{"0102T01", "0101T01"}},
		{"the only good set is kept even when it is old and many failed after", []Set{day(0, 1, true), day(1, 1, false), day(2, 1, false)}, Policy{Daily: 0, Last: 0}, []string{"0103T01", "0102T01", "0101T01"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := kept(Apply(tc.sets, tc.p))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("kept %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEveryDecisionHasAReason(t *testing.T) {
	for _, d := range Apply(series(10), Policy{Last: 2, Monthly: 1}) {
		if d.Reason == "" {
			t.Errorf("%s: no reason", d.Set.ID)
		}
	}
}

// chain makes a series of n daily sets where the sets with full[i] true
// are fulls and each other set is an incremental of the one before.
func chain(full ...bool) []Set {
	s := series(len(full))
	for i := range s {
		if !full[i] {
			s[i].Parent = s[i-1].ID
		}
	}
	return s
}

func TestRetentionKeepsTheChainsOfKeptSets(t *testing.T) {
	F, I := true, false
	for _, tc := range []struct {
		name string
		sets []Set
		p    Policy
		want []string
	}{
		{"keeping the newest incremental keeps its full and every incremental between",
			chain(F, I, I, I), Policy{Last: 1}, []string{"0104T02", "0103T02", "0102T02", "0101T02"}},
		{"an older chain no kept set needs goes",
			chain(F, I, I, F, I), Policy{Last: 2}, []string{"0105T02", "0104T02"}},
		{"a kept incremental of an older chain keeps that chain's full",
			chain(F, I, I, F, I), Policy{Last: 1, Daily: 4}, []string{"0105T02", "0104T02", "0103T02", "0102T02", "0101T02"}},
		{"a kept full does not keep the incrementals of the chain before it",
			chain(F, I, I, F), Policy{Last: 1}, []string{"0104T02"}},
		{"a chain whose parent is already gone keeps what is left",
			[]Set{{ID: "x", Time: series(2)[1].Time, Complete: true, Parent: "gone"}}, Policy{Last: 1}, []string{"x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := Apply(tc.sets, tc.p)
			if got := kept(ds); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("kept %v, want %v", got, tc.want)
			}
			for _, d := range ds {
				if d.Reason == "" {
					t.Errorf("%s: no reason", d.Set.ID)
				}
			}
		})
	}
}
