package question_test

import (
	"context"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"

	"github.com/vmlua/vmlua/internal/vsim"
)

// startSim starts a simulator with 1 MiB disks (the question tests start
// up to 1,000 VMs).
func startSim(t testing.TB, o vsim.Options) *simtest.Env {
	t.Helper()
	if o.DiskSize == 0 {
		o.DiskSize = 1 << 20
	}
	return simtest.Start(t, o)
}

func code(err error) string { return simtest.Code(err) }

// ask raises a question on a VM, failing the test if it cannot.
func ask(t *testing.T, e *simtest.Env, vmName, text string, choices ...string) *vsim.Question {
	t.Helper()
	q, err := e.Sim.Ask(vmName, text, choices...)
	if err != nil {
		t.Fatalf("Ask(%s): %v", vmName, err)
	}
	return q
}

// answered reports the index the question was answered with, or -1.
func answered(q *vsim.Question) int {
	select {
	case <-q.Answered():
		i, _ := q.Wait(context.Background())
		return i
	default:
		return -1
	}
}
