package fleet

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkScheduler: the scheduler's own cost per VM (the job does
// nothing), with and without per-host limits. It should not grow with the
// fleet (a scan of every pending item per started job made it O(N²)).
func BenchmarkScheduler(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, lim := range []Limits{{Jobs: 4}, {Jobs: 8, PerHost: 2, PerDatastore: 4}} {
			b.Run(fmt.Sprintf("vms=%d/perhost=%d", n, lim.PerHost), func(b *testing.B) {
				its := items(n, 16)
				for b.Loop() {
					Run(context.Background(), its, lim, func(context.Context, Item) error { return nil })
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/vm")
			})
		}
	}
}
