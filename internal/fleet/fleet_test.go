package fleet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func items(n, hosts int) []Item {
	var out []Item
	for i := 0; i < n; i++ {
		out = append(out, Item{UUID: fmt.Sprintf("4211%04x-0000-0000-0000-%012x", i, i), Name: fmt.Sprintf("vm%03d", i),
			Host: fmt.Sprintf("esx%d", i%hosts), Datastores: []string{fmt.Sprintf("ds%d", i%3)}})
	}
	return out
}

func TestLimitsHold(t *testing.T) {
	cases := []struct {
		name string
		lim  Limits
	}{
		{"jobs only", Limits{Jobs: 5}},
		{"two per host", Limits{Jobs: 8, PerHost: 2}},
		{"one per datastore", Limits{Jobs: 8, PerDatastore: 1}},
		{"all three", Limits{Jobs: 6, PerHost: 3, PerDatastore: 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			its := items(40, 4)
			var mu sync.Mutex
			host, ds := map[string]int{}, map[string]int{}
			running, maxRunning := 0, 0
			var violations []string
			res, stats := Run(context.Background(), its, tc.lim, func(ctx context.Context, it Item) error {
				mu.Lock()
				running++
				host[it.Host]++
				ds[it.Datastores[0]]++
				maxRunning = max(maxRunning, running)
				if tc.lim.PerHost > 0 && host[it.Host] > tc.lim.PerHost {
					violations = append(violations, "host "+it.Host)
				}
				if tc.lim.PerDatastore > 0 && ds[it.Datastores[0]] > tc.lim.PerDatastore {
					violations = append(violations, "datastore "+it.Datastores[0])
				}
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
				mu.Lock()
				running--
				host[it.Host]--
				ds[it.Datastores[0]]--
				mu.Unlock()
				return nil
			})
			if len(violations) > 0 {
				t.Errorf("limits exceeded: %v", violations)
			}
			if maxRunning > tc.lim.Jobs || stats.MaxRunning > tc.lim.Jobs {
				t.Errorf("max running %d (stats %d), limit %d", maxRunning, stats.MaxRunning, tc.lim.Jobs)
			}
			for h, m := range stats.MaxPerHost {
				if tc.lim.PerHost > 0 && m > tc.lim.PerHost {
					t.Errorf("stats say host %s had %d", h, m)
				}
			}
			if len(res) != len(its) {
				t.Fatalf("%d results for %d items", len(res), len(its))
			}
			for i, r := range res {
				if r.Item.Name != its[i].Name || r.Err != nil {
					t.Errorf("result %d = %+v", i, r)
				}
			}
		})
	}
}

func TestOneFailureDoesNotStopTheOthers(t *testing.T) {
	its := items(10, 2)
	var ran atomic.Int32
	res, _ := Run(context.Background(), its, Limits{Jobs: 3}, func(ctx context.Context, it Item) error {
		ran.Add(1)
		if it.Name == "vm003" {
			return errors.New("boom")
		}
		return nil
	})
	if ran.Load() != 10 {
		t.Errorf("%d jobs ran, want 10", ran.Load())
	}
	for _, r := range res {
		if (r.Err != nil) != (r.Item.Name == "vm003") {
			t.Errorf("%s: err %v", r.Item.Name, r.Err)
		}
	}
}

func TestCancelStopsStartingJobs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	its := items(20, 1)
	var ran atomic.Int32
	res, _ := Run(ctx, its, Limits{Jobs: 1}, func(ctx context.Context, it Item) error {
		if ran.Add(1) == 3 {
			cancel()
		}
		return nil
	})
	if n := ran.Load(); n != 3 {
		t.Errorf("%d jobs ran after cancel at the third, want 3", n)
	}
	notStarted := 0
	for _, r := range res {
		if errors.Is(r.Err, context.Canceled) {
			notStarted++
		}
	}
	if notStarted != 17 {
		t.Errorf("%d jobs reported canceled, want 17", notStarted)
	}
}

func TestShardIsAStablePartition(t *testing.T) {
	its := items(1000, 5)
	seen := map[string]int{}
	for i := 1; i <= 3; i++ {
		part := Shard(its, i, 3)
		if len(part) < 250 || len(part) > 420 {
			t.Errorf("shard %d/3 has %d of 1000 VMs: not balanced", i, len(part))
		}
		for _, it := range part {
			seen[it.UUID]++
		}
	}
	if len(seen) != 1000 {
		t.Errorf("the shards cover %d of 1000 VMs", len(seen))
	}
	for u, n := range seen {
		if n != 1 {
			t.Errorf("%s is in %d shards", u, n)
		}
	}
	// Stable: the same VM stays in its shard when the inventory changes.
	a := Shard(its[:500], 2, 3)
	b := Shard(its, 2, 3)
	inB := map[string]bool{}
	for _, it := range b {
		inB[it.UUID] = true
	}
	for _, it := range a {
		if !inB[it.UUID] {
			t.Errorf("%s moved shard when the inventory grew", it.Name)
		}
	}
}

func TestParseShard(t *testing.T) {
	for _, s := range []string{"1/1", "2/3", "3/3"} {
		if _, _, err := ParseShard(s); err != nil {
			t.Errorf("ParseShard(%q): %v", s, err)
		}
	}
	for _, s := range []string{"0/3", "4/3", "1", "a/b", "1/0", ""} {
		if _, _, err := ParseShard(s); err == nil {
			t.Errorf("ParseShard(%q) accepted", s)
		}
	}
}

// TestNoJobStartsOnceClosedSaysSo: the window closes while the third job
// runs (each job moves the clock on an hour); that job runs to its end,
// and the items after it are not started, each with Closed's error.
func TestNoJobStartsOnceClosedSaysSo(t *testing.T) {
	closedErr := errors.New("the window closed")
	for _, jobs := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d jobs at once", jobs), func(t *testing.T) {
			var mu sync.Mutex
			hour := 0 // the clock: hours after the run started; the window closes at 3
			closed := func() error {
				mu.Lock()
				defer mu.Unlock()
				if hour >= 3 {
					return closedErr
				}
				return nil
			}
			its := items(10, 2)
			started := 0
			res, _ := Run(context.Background(), its, Limits{Jobs: jobs, Closed: closed}, func(ctx context.Context, it Item) error {
				mu.Lock()
				started++
				hour++
				mu.Unlock()
				return nil
			})
			if started != 3 && jobs == 1 {
				t.Errorf("%d jobs started, want 3 (one an hour until the close)", started)
			}
			var ran, refused int
			for _, r := range res {
				switch {
				case r.Err == nil:
					ran++
				case errors.Is(r.Err, closedErr):
					refused++
				default:
					t.Errorf("%s: %v", r.Item.Name, r.Err)
				}
			}
			if ran != started || ran+refused != len(its) || refused == 0 {
				t.Errorf("%d ran, %d refused, %d started, of %d", ran, refused, started, len(its))
			}
		})
	}
}
