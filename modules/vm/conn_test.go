package vm_test

import (
	"context"
	"github.com/vmlua/vmlua/internal/simtest"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
)

// TestDroppedSessionIsReestablished: when vCenter drops the session in the
// middle of a run, the next call logs in again and the script goes on.
func TestDroppedSessionIsReestablished(t *testing.T) {
	e := simtest.Start(t, vsim.Options{})
	err, recs := e.Run(t, `
		local vm = require "vm"
		local v = vm.open("name:DB01")
		print("before")
		-- the test drops every session when it sees "before"
		v:refresh()
		assert(vm.open("name:VM1").name == "VM1")
	`, simtest.RunOptions{Hook: func(msg string, a map[string]any) {
		if msg == "before" {
			if n, err := e.Sim.DropSessions(context.Background()); err != nil || n == 0 {
				t.Errorf("DropSessions = %d, %v", n, err)
			}
		}
	}})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	if len(recs.Find("the vSphere session was lost; logged in again")) == 0 {
		t.Errorf("the re-login was not logged:\n%s", recs)
	}
}

// TestPoolSharesOneSessionBetweenRuns: runs given a pool reuse its session
// and do not log it out when they end; the pool's owner does.
func TestPoolSharesOneSessionBetweenRuns(t *testing.T) {
	e := simtest.Start(t, vsim.Options{})
	pool := vm.NewPool()
	for i := 0; i < 3; i++ {
		err, recs := e.Run(t, `assert(require("vm").open("name:VM1"))`, simtest.RunOptions{Mod: func(o *runtime.Options) {
			o.Shared = map[string]any{vm.PoolKey: pool}
		}})
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, recs)
		}
	}
	if err := pool.Close(context.Background()); err != nil {
		t.Errorf("pool.Close: %v (the runs must not have logged the pooled session out)", err)
	}
}

// TestARunLeavesNoConnectionBehind: a run that logs in by itself logs out,
// stops its keep-alive and closes its idle connections when it ends, so
// repeated runs do not pile up goroutines (each idle HTTP connection holds
// two until the transport's 90 s idle timeout).
func TestARunLeavesNoConnectionBehind(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1})
	run := func() {
		if err, recs := e.Run(t, `assert(require("vm").open("name:VM1"))`, simtest.RunOptions{}); err != nil {
			t.Fatalf("%v\n%s", err, recs)
		}
	}
	run() // warm up: the simulator's own goroutines, caches
	settle := func() int {
		n := goruntime.NumGoroutine()
		for i := 0; i < 50; i++ { // bounded: up to 1 s for goroutines to end
			time.Sleep(20 * time.Millisecond)
			if m := goruntime.NumGoroutine(); m == n {
				break
			} else {
				n = m
			}
		}
		return n
	}
	before := settle()
	for i := 0; i < 10; i++ {
		run()
	}
	if after := settle(); after > before+4 {
		t.Errorf("goroutines grew from %d to %d over 10 runs: a run leaves connections behind", before, after)
	}
}
