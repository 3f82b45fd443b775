package question_test

import (
	"fmt"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// TestAWatchKeepsWatchingWhenAnAnswerFails: whether the handler or the
// policy decided, an answer vSphere refuses is logged and the watch goes
// on; a question answered by someone else meanwhile is skipped, one that
// vSphere would not let vmlua answer is still pending and counts as left
// ('vmlua answer --once' then exits 7).
func TestAWatchKeepsWatchingWhenAnAnswerFails(t *testing.T) {
	gone := &types.InvalidArgument{InvalidProperty: "questionId"}
	busy := &types.SystemError{Reason: "the host is busy"}
	cases := []struct {
		name     string
		handler  string // "" for the run's policy
		fault    types.BaseMethodFault
		wantLeft int
		wantLog  string
	}{
		{"the policy's answer to a question answered meanwhile is skipped", "", gone, 0, "could not answer a question: it is no longer pending"},
		{"the handler's answer to a question answered meanwhile is skipped", "function(v, q) return 0 end", gone, 0, "could not answer a question: it is no longer pending"},
		{"the policy's answer vSphere refuses leaves the question", "", busy, 1, "could not answer a question"},
		{"the handler's answer vSphere refuses leaves the question", "function(v, q) return 0 end", busy, 1, "could not answer a question"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := startSim(t, vsim.Options{VMs: 1})
			q := ask(t, e, "DB01", "Continue?", "OK")
			e.Sim.AddFaultRule(&simulator.FaultInjectionRule{MethodName: "AnswerVM", ObjectType: "*", ObjectName: "*",
				FaultType: simulator.FaultTypeCustom, Fault: tc.fault, Probability: 1, Enabled: true, MaxCount: 1})
			handler := ""
			if tc.handler != "" {
				handler = ", handler=" + tc.handler
			}
			err, recs := e.Run(t, fmt.Sprintf(`
				local res = require("question").watch{timeout=30, limit=1%s}
				assert(res.answered == 0 and res.left == %d, "answered " .. res.answered .. ", left " .. res.left)`, handler, tc.wantLeft),
				simtest.RunOptions{})
			if err != nil {
				t.Fatalf("%v\n%s", err, recs)
			}
			if l := recs.Find(tc.wantLog); len(l) != 1 || l[0]["question"] != q.ID || l[0]["choice"] != "OK" {
				t.Errorf("%q lines = %v, want one for %s with its choice\n%s", tc.wantLog, l, q.ID, recs)
			}
			if answered(q) != -1 {
				t.Errorf("the question was answered")
			}
		})
	}
}
