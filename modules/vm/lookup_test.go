package vm_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
)

// apiCount counts a session's SOAP calls by method, and the objects the
// property reads returned (a scan of the inventory returns every VM in one
// call: counting calls alone would not see it).
type apiCount struct {
	rt      soap.RoundTripper
	client  *vim25.Client
	mu      sync.Mutex
	calls   map[string]int
	objects int
}

func (c *apiCount) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	err := c.rt.RoundTrip(ctx, req, res)
	name := strings.TrimSuffix(reflect.TypeOf(req).Elem().Name(), "Body")
	n := 0
	switch b := res.(type) {
	case *methods.RetrievePropertiesExBody:
		if b.Res != nil && b.Res.Returnval != nil {
			n = len(b.Res.Returnval.Objects)
		}
	case *methods.RetrievePropertiesBody:
		if b.Res != nil {
			n = len(b.Res.Returnval)
		}
	case *methods.ContinueRetrievePropertiesExBody:
		if b.Res != nil {
			n = len(b.Res.Returnval.Objects)
		}
	}
	c.mu.Lock()
	c.calls[name]++
	c.objects += n
	c.mu.Unlock()
	return err
}

func (c *apiCount) reset() (calls map[string]int, objects int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls, objects = c.calls, c.objects
	c.calls, c.objects = map[string]int{}, 0
	return calls, objects
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func describe(m map[string]int) string {
	var s []string
	for k, v := range m {
		s = append(s, fmt.Sprintf("%s×%d", k, v))
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

// fleetSession is a pooled session (as `vmlua run --each` has) whose calls
// are counted, and a function that runs a script the way a fleet run does.
func fleetSession(t testing.TB, e *simtest.Env) (*apiCount, func(script string, args ...string) error) {
	pool := vm.NewPool()
	t.Cleanup(func() { pool.Close(context.Background()) })
	opts := runtime.Options{Logger: slog.New(slog.DiscardHandler), Modules: all.Modules(),
		Endpoints: map[string]runtime.Endpoint{"sim": e.Endpoint}, DefaultEndpoint: "sim",
	}
	vm.SharePool(&opts, pool)
	planner, err := runtime.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := vm.Connect(planner, "")
	if err != nil {
		t.Fatal(err)
	}
	planner.Close()
	cnt := &apiCount{rt: c.Client.RoundTripper, client: c.Client, calls: map[string]int{}}
	c.Client.RoundTripper = cnt
	return cnt, func(script string, args ...string) error {
		o := opts
		o.Args = args
		r, err := runtime.New(o)
		if err != nil {
			return err
		}
		return r.ExecString("open.lua", script)
	}
}

// TestOpenByMorefReadsOneVM: the fleet's per-VM vm.open("moref:...") reads
// that VM (and its host and datastores), whatever the size of the
// inventory: the calls and the objects read per open are the same with 10
// and with 200 VMs. (A scan of the inventory per open made fleet runs
// O(N²): 190 ms per VM at 1,000 VMs.) Planning reads the VMs once, in a
// constant number of calls.
func TestOpenByMorefReadsOneVM(t *testing.T) {
	const script = `local v = require("vm").open(arg.vm); assert(v.name == arg.vm_name)`
	type cost struct {
		calls, objects int
		desc           string
	}
	per := map[int]cost{}
	plan := map[int]cost{}
	for _, n := range []int{10, 200} {
		e := simtest.Start(t, vsim.Options{VMs: n, DiskSize: 64 << 10, WriteRate: 0.001})
		cnt, run := fleetSession(t, e)
		r, err := runtime.New(runtime.Options{Logger: slog.New(slog.DiscardHandler), Modules: all.Modules(),
			Endpoints: map[string]runtime.Endpoint{"sim": e.Endpoint}, DefaultEndpoint: "sim"})
		if err != nil {
			t.Fatal(err)
		}
		c, err := vm.Connect(r, "")
		if err != nil {
			t.Fatal(err)
		}
		c.Client.RoundTripper = cnt // the planner's own session, counted too
		spec, _ := vm.ParseSpec("name:VM*")
		cnt.reset()
		items, err := c.FleetItems(context.Background(), spec)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != n {
			t.Fatalf("%d VMs planned, want %d", len(items), n)
		}
		calls, objs := cnt.reset()
		plan[n] = cost{total(calls), objs, describe(calls)}
		const k = 5
		for _, it := range items[:k] {
			if err := run(script, "vm=moref:"+it.Ref, "vm_name="+it.Name); err != nil {
				t.Fatal(err)
			}
		}
		calls, objs = cnt.reset()
		per[n] = cost{total(calls) / k, objs / k, describe(calls)}
		t.Logf("%d VMs: planning %d calls (%s), %d objects; per VM run %d calls, %d objects (%d runs: %s)",
			n, plan[n].calls, plan[n].desc, plan[n].objects, per[n].calls, per[n].objects, k, per[n].desc)
	}
	if per[200] != per[10] && (per[200].calls > per[10].calls || per[200].objects > per[10].objects) {
		t.Errorf("a fleet run's vm.open costs more with 200 VMs (%d calls, %d objects) than with 10 (%d calls, %d objects): it scans the inventory",
			per[200].calls, per[200].objects, per[10].calls, per[10].objects)
	}
	if per[200].objects > 10 {
		t.Errorf("a fleet run's vm.open read %d objects with 200 VMs, want a handful", per[200].objects)
	}
	if plan[200].objects >= 2*200 {
		t.Errorf("planning read %d objects with 200 VMs: the VMs more than once", plan[200].objects)
	}
	if plan[200].calls > plan[10].calls {
		t.Errorf("planning made %d calls with 200 VMs, %d with 10: calls per VM", plan[200].calls, plan[10].calls)
	}
}

// TestFleetRunsReuseConnections: the runs of a fleet share the pooled
// session's connections: 40 vm.open, 4 at a time, dial at most a few TLS
// connections (before, each VM's properties answer closed its connection,
// as govmomi leaves the end of a chunked response unread, and the
// next call paid a new TCP and TLS handshake on both sides).
func TestFleetRunsReuseConnections(t *testing.T) {
	const script = `local v = require("vm").open(arg.vm); assert(v.name == arg.vm_name)`
	const vms, jobs = 40, 4
	e := simtest.Start(t, vsim.Options{VMs: vms, DiskSize: 64 << 10, WriteRate: 0.001})
	cnt, run := fleetSession(t, e)
	var c *vm.Conn
	r, err := runtime.New(runtime.Options{Logger: slog.New(slog.DiscardHandler), Modules: all.Modules(),
		Endpoints: map[string]runtime.Endpoint{"sim": e.Endpoint}, DefaultEndpoint: "sim"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if c, err = vm.Connect(r, ""); err != nil {
		t.Fatal(err)
	}
	spec, _ := vm.ParseSpec("name:VM*")
	items, err := c.FleetItems(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	var dials atomic.Int64
	tr := cnt.client.Client.DefaultTransport()
	dial := tr.DialTLSContext
	tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return dial(ctx, network, addr)
	}
	tr.CloseIdleConnections()
	var wg sync.WaitGroup
	sem := make(chan struct{}, jobs)
	for _, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := run(script, "vm=moref:"+it.Ref, "vm_name="+it.Name); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Without reuse it is one or more per run; with it, about jobs, and a
	// few more on a loaded machine (net/http drops a connection whose
	// request write was not confirmed within 50 ms).
	if n := dials.Load(); n > int64(len(items)/2) {
		t.Errorf("%d runs of vm.open, %d at a time, dialled %d connections: the connections are not reused", len(items), jobs, n)
	} else {
		t.Logf("%d runs, %d at a time: %d connections", len(items), jobs, n)
	}
}

// TestRefreshReadsTheVMOnly: a refresh reads the VM's properties in one
// call; the names of its host and datastores, read when the VM was opened,
// are read again only when it moves (a backup refreshes a VM eight times,
// and read them one call each every time).
func TestRefreshReadsTheVMOnly(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 64 << 10, WriteRate: 0.001})
	cnt, run := fleetSession(t, e)
	calls := map[int]map[string]int{}
	for _, n := range []int{0, 5} {
		cnt.reset()
		if err := run(`local v = require("vm").open("name:VM1")
			for i = 1, tonumber(arg.n) do v:refresh() end
			assert(v.host ~= "" and #v.datastores > 0, "host and datastores are named")`, fmt.Sprintf("n=%d", n)); err != nil {
			t.Fatal(err)
		}
		calls[n], _ = cnt.reset()
	}
	if d := total(calls[5]) - total(calls[0]); d != 5 || calls[5]["RetrievePropertiesEx"]-calls[0]["RetrievePropertiesEx"] != 5 {
		t.Errorf("5 refreshes made %d calls (%s, against %s without them), want 5 property reads", d, describe(calls[5]), describe(calls[0]))
	}
}
