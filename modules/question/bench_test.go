package question_test

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/simtest"

	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/question"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/vim25/soap"
)

// counting counts SOAP round trips.
type counting struct {
	rt soap.RoundTripper
	n  atomic.Int64
}

func (c *counting) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	c.n.Add(1)
	return c.rt.RoundTrip(ctx, req, res)
}

// BenchmarkWatchLatency: one watcher (the Go core of 'vmlua answer') over
// an inventory of 100 or 1,000 VMs; each iteration raises a single-choice
// question on another VM and waits for the answer. Reports the time from
// the question appearing to its answer (p50, p99) and the API round trips
// per question, which should not grow with the inventory.
func BenchmarkWatchLatency(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("vms=%d", n), func(b *testing.B) {
			e := simtest.Start(b, vsim.Options{VMs: n, DiskSize: 64 << 10, WriteRate: 0.001})
			readyc := make(chan struct{}, 1)
			recs := &simtest.Records{Hook: func(msg string, _ map[string]any) {
				if msg == "question watch ready: every pending question was read" {
					readyc <- struct{}{}
				}
			}}
			r, err := runtime.New(runtime.Options{Logger: slog.New(recs), Modules: []*runtime.Module{vm.Module},
				Endpoints: map[string]runtime.Endpoint{"sim": e.Endpoint}, DefaultEndpoint: "sim"})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			c, err := vm.Connect(r, "")
			if err != nil {
				b.Fatal(err)
			}
			cnt := &counting{rt: c.Client.RoundTripper}
			c.Client.RoundTripper = cnt
			a := &question.Answerer{Run: r, Client: c.Client}
			w := &question.Watcher{Client: c.Client, Log: r.Log, Handle: a.Handle}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			<-readyc
			lat := make([]time.Duration, 0, b.N)
			calls0 := cnt.n.Load()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				name := fmt.Sprintf("VM%d", i%n+1)
				t0 := time.Now()
				q, err := e.Sim.Ask(name, "Continue?", "OK")
				if err != nil {
					b.Fatal(err)
				}
				<-q.Answered()
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			// let the update that clears the last question arrive
			time.Sleep(100 * time.Millisecond)
			calls := cnt.n.Load() - calls0
			cancel()
			<-done
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(calls)/float64(b.N), "calls/question")
		})
	}
}
