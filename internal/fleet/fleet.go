package fleet

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Item is one VM to run a job for.
type Item struct {
	UUID       string // stable identity (BIOS or instance UUID) for sharding
	Name       string
	Ref        string // moref, handed to the job
	Host       string
	Datastores []string
}

// Limits bound concurrency; 0 means no limit (Jobs 0 means one per CPU
// would be surprising for backups: the default is 4).
type Limits struct {
	Jobs         int
	PerHost      int
	PerDatastore int
	// Closed, when set, is asked before each job starts: once it returns
	// an error (the backup window closed), no job starts any more, those
	// running go on to their end, and every item not started gets that
	// error as its result.
	Closed func() error
}

// Result is one job's outcome.
type Result struct {
	Item  Item
	Err   error
	Start time.Time
	Took  time.Duration
}

// Stats are what the scheduler observed (the proof that limits held).
type Stats struct {
	MaxRunning      int
	MaxPerHost      map[string]int
	MaxPerDatastore map[string]int
}

// ParseShard parses "i/n" (1-based i).
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	if ok {
		i, err = strconv.Atoi(a)
		if err == nil {
			n, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || n < 1 || i < 1 || i > n {
		return 0, 0, fmt.Errorf("--shard %q: want i/n with 1 <= i <= n, e.g. 2/3", s)
	}
	return i, n, nil
}

// Shard returns the items of shard i of n (1-based), chosen by a hash of
// the UUID: the same VM always lands in the same shard, whatever else the
// inventory holds.
func Shard(items []Item, i, n int) []Item {
	if n <= 1 {
		return items
	}
	var out []Item
	for _, it := range items {
		h := fnv.New32a()
		h.Write([]byte(strings.ToLower(it.UUID)))
		if int(h.Sum32()%uint32(n)) == i-1 {
			out = append(out, it)
		}
	}
	return out
}

// Run runs job once per item within the limits and returns the results in
// the items' order. A cancelled ctx stops starting new jobs; those not
// started get ctx's error.
func Run(ctx context.Context, items []Item, lim Limits, job func(ctx context.Context, it Item) error) ([]Result, Stats) {
	if lim.Jobs <= 0 {
		lim.Jobs = 4
	}
	s := &sched{lim: lim, host: map[string]int{}, ds: map[string]int{},
		stats: Stats{MaxPerHost: map[string]int{}, MaxPerDatastore: map[string]int{}}}
	s.cond = sync.NewCond(&s.mu)
	results := make([]Result, len(items))
	pending := make([]bool, len(items))
	for i := range items {
		pending[i] = true
		results[i].Item = items[i]
	}
	stop := context.AfterFunc(ctx, func() { s.mu.Lock(); s.cond.Broadcast(); s.mu.Unlock() })
	defer stop()
	var wg sync.WaitGroup
	left := len(items)
	first := 0 // items before it have all started
	s.mu.Lock()
	for left > 0 {
		if ctx.Err() != nil {
			for i, p := range pending {
				if p {
					results[i].Err = ctx.Err()
					pending[i] = false
					left--
				}
			}
			break
		}
		started := false
		for first < len(items) && !pending[first] {
			first++
		}
		if s.lim.Closed != nil && s.running < s.lim.Jobs {
			if err := s.lim.Closed(); err != nil {
				for i, p := range pending {
					if p {
						results[i].Err = err
						pending[i] = false
						left--
					}
				}
				break
			}
		}
		// From the first pending item, and no further once every job slot
		// is taken: a scan of every item per start made a fleet O(N²).
		for i := first; i < len(items) && s.running < s.lim.Jobs; i++ {
			if !pending[i] || !s.fits(items[i]) {
				continue
			}
			pending[i] = false
			left--
			s.take(items[i])
			started = true
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				start := time.Now()
				err := job(ctx, items[i])
				results[i].Start, results[i].Took, results[i].Err = start, time.Since(start), err
				s.mu.Lock()
				s.give(items[i])
				s.cond.Broadcast()
				s.mu.Unlock()
			}(i)
		}
		if !started && left > 0 {
			s.cond.Wait()
		}
	}
	s.mu.Unlock()
	wg.Wait()
	return results, s.stats
}

type sched struct {
	lim     Limits
	mu      sync.Mutex
	cond    *sync.Cond
	running int
	host    map[string]int
	ds      map[string]int
	stats   Stats
}

func (s *sched) fits(it Item) bool {
	if s.running >= s.lim.Jobs {
		return false
	}
	if s.lim.PerHost > 0 && s.host[it.Host] >= s.lim.PerHost {
		return false
	}
	if s.lim.PerDatastore > 0 {
		for _, d := range it.Datastores {
			if s.ds[d] >= s.lim.PerDatastore {
				return false
			}
		}
	}
	return true
}

func (s *sched) take(it Item) {
	s.running++
	s.host[it.Host]++
	s.stats.MaxRunning = max(s.stats.MaxRunning, s.running)
	s.stats.MaxPerHost[it.Host] = max(s.stats.MaxPerHost[it.Host], s.host[it.Host])
	for _, d := range it.Datastores {
		s.ds[d]++
		s.stats.MaxPerDatastore[d] = max(s.stats.MaxPerDatastore[d], s.ds[d])
	}
}

func (s *sched) give(it Item) {
	s.running--
	s.host[it.Host]--
	for _, d := range it.Datastores {
		s.ds[d]--
	}
}
