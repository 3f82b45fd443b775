package vm_test

import (
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// answerFails makes the next AnswerVM call fail with fault.
func answerFails(fault types.BaseMethodFault) func(e *simtest.Env) {
	return func(e *simtest.Env) {
		e.Sim.AddFaultRule(&simulator.FaultInjectionRule{MethodName: "AnswerVM", ObjectType: "*", ObjectName: "*",
			FaultType: simulator.FaultTypeCustom, Fault: fault, Probability: 1, Enabled: true, MaxCount: 1})
	}
}

// TestAnswerQuestion: v:answer_question answers through vm.Answer — one
// log line, nothing in a dry run — and a question that is no longer
// pending is invalid_state whether the script's table is stale or
// vSphere says so, while any other fault is vsphere.
func TestAnswerQuestion(t *testing.T) {
	cases := []struct {
		name, script    string
		dryRun          bool
		arm             func(e *simtest.Env)
		wantCode        string // "" for no error
		wantMsg         string
		wantAnswer      int // the index the question was answered with, -1 for none
		wantLog, wantBy string
	}{
		{name: "a script answers by label and the answer is logged", script: `v:answer_question(q, "Cancel")`,
			wantAnswer: 1, wantLog: "answered a question", wantBy: "script"},
		{name: "a script answers by index", script: `v:answer_question(q, 0)`,
			wantAnswer: 0, wantLog: "answered a question", wantBy: "script"},
		{name: "a dry run answers nothing and says what it would answer", script: `v:answer_question(q, 1)`, dryRun: true,
			wantAnswer: -1, wantLog: "dry run: would answer a question", wantBy: "script"},
		{name: "a stale question table is invalid_state", script: `v:answer_question({id = "_vmx0"}, 0)`,
			wantCode: "invalid_state", wantMsg: "no longer pending", wantAnswer: -1},
		{name: "a choice the question does not have is invalid_argument", script: `v:answer_question(q, 2)`,
			wantCode: "invalid_argument", wantMsg: "not an index of this question's 2 choices", wantAnswer: -1},
		{name: "a question vSphere says was answered meanwhile is invalid_state", script: `v:answer_question(q, 0)`,
			arm: answerFails(&types.InvalidArgument{InvalidProperty: "questionId"}), wantCode: "invalid_state", wantMsg: "no longer pending", wantAnswer: -1},
		{name: "a question answered at the same moment by someone else is invalid_state", script: `v:answer_question(q, 0)`,
			arm: answerFails(&types.ConcurrentAccess{}), wantCode: "invalid_state", wantMsg: "no longer pending", wantAnswer: -1},
		{name: "another fault answering is vsphere", script: `v:answer_question(q, 0)`,
			arm: answerFails(&types.SystemError{Reason: "the host is busy"}), wantCode: "vsphere", wantMsg: "could not answer question", wantAnswer: -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 1 << 20})
			q, err := e.Sim.Ask("DB01", "Retry or cancel?", "Retry", "Cancel")
			if err != nil {
				t.Fatal(err)
			}
			if tc.arm != nil {
				tc.arm(e)
			}
			err, recs := e.Run(t, `local v = require("vm").open("name:DB01"); local q = assert(v:pending_question()); `+tc.script,
				simtest.RunOptions{DryRun: tc.dryRun})
			switch {
			case tc.wantCode == "" && err != nil:
				t.Fatalf("error = %v, want none\n%s", err, recs)
			case tc.wantCode != "" && (code(err) != tc.wantCode || !strings.Contains(err.Error(), tc.wantMsg)):
				t.Fatalf("error = %v (code %q), want %s containing %q\n%s", err, code(err), tc.wantCode, tc.wantMsg, recs)
			}
			got := -1
			select {
			case <-q.Answered():
				got, _ = q.Wait(t.Context())
			default:
			}
			if got != tc.wantAnswer {
				t.Errorf("answered with %d, want %d\n%s", got, tc.wantAnswer, recs)
			}
			if tc.wantLog != "" {
				l := recs.Find(tc.wantLog)
				if len(l) != 1 || l[0]["vm"] != "DB01" || l[0]["question"] != q.ID || l[0]["by"] != tc.wantBy {
					t.Errorf("%q lines = %v, want one for DB01's question by %s\n%s", tc.wantLog, l, tc.wantBy, recs)
				}
			}
		})
	}
}
