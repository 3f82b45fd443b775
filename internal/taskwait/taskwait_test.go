package taskwait_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vmlua/vmlua/internal/taskwait"
)

// calls counts the SOAP methods a client sends.
type calls struct {
	soap.RoundTripper
	mu sync.Mutex
	n  map[string]int
}

func (c *calls) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	c.mu.Lock()
	c.n[fmt.Sprintf("%T", req)]++
	c.mu.Unlock()
	return c.RoundTripper.RoundTrip(ctx, req, res)
}

func (c *calls) count(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n["*methods."+method+"Body"]
}

func TestWait(t *testing.T) {
	cases := []struct {
		name    string
		delayMs int // simulator delay of the task: longer than every probe
		run     func(ctx context.Context, v *object.VirtualMachine) (*object.Task, error)
		fault   types.BaseMethodFault // nil: the task succeeds
		check   func(t *testing.T, info *types.TaskInfo)
		waited  bool // the collector's wait was needed
	}{
		{name: "a short task is read, not waited for",
			run: func(ctx context.Context, v *object.VirtualMachine) (*object.Task, error) {
				return v.CreateSnapshot(ctx, "s1", "", false, false)
			},
			check: func(t *testing.T, info *types.TaskInfo) {
				if ref, ok := info.Result.(types.ManagedObjectReference); !ok || ref.Type != "VirtualMachineSnapshot" {
					t.Errorf("result %#v, want the snapshot", info.Result)
				}
			}},
		{name: "a failed task returns its fault",
			run: func(ctx context.Context, v *object.VirtualMachine) (*object.Task, error) {
				return v.PowerOn(ctx) // it is on already
			},
			fault: &types.InvalidPowerState{}},
		{name: "a long task is waited for",
			delayMs: 100,
			run: func(ctx context.Context, v *object.VirtualMachine) (*object.Task, error) {
				return v.CreateSnapshot(ctx, "s2", "", false, false)
			},
			check: func(t *testing.T, info *types.TaskInfo) {
				if info.State != types.TaskInfoStateSuccess {
					t.Errorf("state %s", info.State)
				}
			},
			waited: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			simulator.Test(func(ctx context.Context, c *vim25.Client) {
				cl := &calls{RoundTripper: c.RoundTripper, n: map[string]int{}}
				c.RoundTripper = cl
				simulator.TaskDelay.MethodDelay = map[string]int{"CreateSnapshotEx": tc.delayMs}
				defer func() { simulator.TaskDelay.MethodDelay = nil }()
				v, err := find.NewFinder(c).VirtualMachine(ctx, "DC0_H0_VM0")
				if err != nil {
					t.Fatal(err)
				}
				cl.mu.Lock()
				cl.n = map[string]int{} // the finder's calls are not the wait's
				cl.mu.Unlock()
				tk, err := tc.run(ctx, v)
				if err != nil {
					t.Fatal(err)
				}
				info, err := taskwait.Wait(ctx, tk)
				if tc.fault != nil {
					var te task.Error
					if !errors.As(err, &te) || fmt.Sprintf("%T", te.Fault()) != fmt.Sprintf("%T", tc.fault) {
						t.Fatalf("error %v (%T), want a task.Error with %T", err, err, tc.fault)
					}
				} else if err != nil {
					t.Fatal(err)
				}
				if tc.check != nil {
					tc.check(t, info)
				}
				if got := cl.count("CreatePropertyCollector") > 0; got != tc.waited {
					t.Errorf("waited in a property collector: %v, want %v (calls %v)", got, tc.waited, cl.n)
				}
				if n := cl.count("RetrievePropertiesEx"); !tc.waited && (n < 1 || n > len(taskwait.Probes)) {
					t.Errorf("%d RetrieveProperties calls, want 1 to %d probes", n, len(taskwait.Probes))
				}
			})
		})
	}
}

func TestWaitStopsWithItsContext(t *testing.T) {
	simulator.Test(func(ctx context.Context, c *vim25.Client) {
		simulator.TaskDelay.MethodDelay = map[string]int{"CreateSnapshotEx": 300}
		v, err := find.NewFinder(c).VirtualMachine(ctx, "DC0_H0_VM0")
		if err != nil {
			t.Fatal(err)
		}
		tk, err := v.CreateSnapshot(ctx, "s", "", false, false)
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err = taskwait.Wait(cctx, tk)
		// the task runs on: it has read the delay once it is done
		if _, werr := tk.WaitForResult(ctx, nil); werr != nil {
			t.Error(werr)
		}
		simulator.TaskDelay.MethodDelay = nil
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	})
}
