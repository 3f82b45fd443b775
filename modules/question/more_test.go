package question_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/runtime"

	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/question"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// TestWatchStopsAHandlerThatNeverReturns: the watch's timeout stops the
// handler (it runs in the Lua state, under the watch's context) with a
// timeout error; the question stays pending.
func TestWatchStopsAHandlerThatNeverReturns(t *testing.T) {
	e := startSim(t, vsim.Options{VMs: 1})
	q := ask(t, e, "VM1", "Continue?", "OK")
	err, recs := e.Run(t, `
		local question = require "question"
		question.watch{vms="name:VM1", timeout=1, handler=function(v, q) while true do end end}`, simtest.RunOptions{})
	if code(err) != "timeout" || !strings.Contains(err.Error(), "handler of question.watch was still running") {
		t.Fatalf("got %v (code %q), want a timeout naming the handler\n%s", err, code(err), recs)
	}
	if answered(q) >= 0 {
		t.Error("the question was answered")
	}
}

// TestWatchPassesOnTheHandlersError: an error the handler raises reaches
// the script's pcall as it was raised.
func TestWatchPassesOnTheHandlersError(t *testing.T) {
	e := startSim(t, vsim.Options{VMs: 1})
	ask(t, e, "VM1", "Continue?", "OK")
	err, recs := e.Run(t, `
		local question = require "question"
		local ok, err = pcall(question.watch, {vms="name:VM1", timeout=10, handler=function(v, q) error({code="mine", message="handler failed"}) end})
		assert(not ok and err.code == "mine", tostring(err))`, simtest.RunOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
}

// TestPolicyAnswersTheThirdREDO: with question.policy, the question the
// third add_redo raises (CreateSnapshot blocked, as ESX 2 beyond its REDO
// depth) is answered by the run's policy, the call returns instead of
// waiting on a person, and the run commits what it added. When vSphere
// refuses the answer as no longer pending but the question still shows,
// it is answered again on the next look; refused twice, the wait fails.
func TestPolicyAnswersTheThirdREDO(t *testing.T) {
	cases := []struct {
		name     string
		refusals int    // AnswerVM calls that fail with InvalidArgument for the questionId
		wantCode string // of the third add_redo: vsphere when it failed by itself after the answer
		wantMsg  string
	}{
		{"the policy answers and the third REDO fails by itself", 0, "vsphere", "already has 2, the maximum"},
		{"an answer refused once as no longer pending is given again", 1, "vsphere", "already has 2, the maximum"},
		{"an answer refused twice fails the wait", 2, "invalid_state", "no longer pending"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := startSim(t, vsim.Options{VMs: 1})
			if tc.refusals > 0 {
				e.Sim.AddFaultRule(&simulator.FaultInjectionRule{MethodName: "AnswerVM", ObjectType: "*", ObjectName: "*",
					FaultType: simulator.FaultTypeCustom, Fault: &types.InvalidArgument{InvalidProperty: "questionId"},
					Probability: 1, Enabled: true, MaxCount: tc.refusals})
			}
			err, recs := e.Run(t, `
				local question, vm = require "question", require "vm"
				question.policy{ {message_id="msg.vmlua.redo.maxDepth", choice="OK"} }
				local v = vm.open("name:DB01")
				v:add_redo("scsi0:0")
				v:add_redo("scsi0:0")
				local ok, err = pcall(v.add_redo, v, "scsi0:0")
				assert(not ok and err.code == arg[1] and err.message:find(arg[2], 1, true),
					"the third REDO: want " .. arg[1] .. " " .. arg[2] .. ", got " .. tostring(err))
				if err.code == "invalid_state" then return end
				assert(v:pending_question() == nil, "a question is still pending")
				v:commit("scsi0:0", 1, 0, 1)
				v:commit("scsi0:0", 0, 0, 1)
				assert(v:redo_depth("scsi0:0") == 0)`, simtest.RunOptions{Args: []string{tc.wantCode, tc.wantMsg}})
			if err != nil {
				t.Fatalf("%v\n%s", err, recs)
			}
			l := recs.Find("answered a question")
			if tc.refusals > 1 {
				if len(l) != 0 {
					t.Fatalf("answers = %v, want none\n%s", l, recs)
				}
				return
			}
			if len(l) != 1 || l[0]["vm"] != "DB01" || l[0]["choice"] != "OK" || l[0]["by"] != "rule 1" {
				t.Fatalf("answers = %v, want one for DB01 with OK by rule 1\n%s", l, recs)
			}
			if q := e.Sim.PendingQuestion("DB01"); q != nil {
				t.Errorf("question still pending: %+v", q)
			}
			if l := recs.Find("a question that blocked the VM is no longer pending (answered by someone else?); waiting on"); len(l) != min(tc.refusals, 1) {
				t.Errorf("no-longer-pending lines = %v, want %d\n%s", l, min(tc.refusals, 1), recs)
			}
		})
	}
}

// TestWatchResumesAfterTheSessionDrops: a question raised while the
// session is down is answered once the watch has logged in again.
func TestWatchResumesAfterTheSessionDrops(t *testing.T) {
	e := startSim(t, vsim.Options{VMs: 2})
	var q *vsim.Question
	readies := 0
	hook := func(msg string, _ map[string]any) {
		if msg != ready {
			return
		}
		readies++
		if readies == 1 {
			if n, err := e.Sim.DropSessions(context.Background()); err != nil || n == 0 {
				t.Errorf("DropSessions: %d, %v", n, err)
			}
			q = ask(t, e, "VM2", "Raised while the session was down", "OK")
		}
	}
	err, recs := e.Run(t, `
		local question = require "question"
		local res = question.watch{timeout=30, max_wait=1, limit=1}
		assert(res.answered == 1)`, simtest.RunOptions{Hook: hook})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	if q == nil || answered(q) != 0 {
		t.Fatalf("the question was not answered\n%s", recs)
	}
	if l := recs.Find("answered a question"); len(l) != 1 || l[0]["question"] != q.ID {
		t.Errorf("answers = %v", l)
	}
}

// TestDryRunAnswersNothing: in a dry run the watch, its handler and the
// run's policy answer nothing; they log what they would answer.
func TestDryRunAnswersNothing(t *testing.T) {
	e := startSim(t, vsim.Options{VMs: 2})
	for i, watch := range []string{"", "handler=function(v, q) return 0 end,"} {
		t.Run(fmt.Sprintf("watch %d", i), func(t *testing.T) {
			vmName := fmt.Sprintf("VM%d", i+1)
			q := ask(t, e, vmName, "Continue?", "OK")
			err, recs := e.Run(t, fmt.Sprintf(`
				local question = require "question"
				question.watch{vms="name:%s", %s timeout=30, limit=1}`, vmName, watch), simtest.RunOptions{DryRun: true})
			if err != nil {
				t.Fatalf("%v\n%s", err, recs)
			}
			if answered(q) >= 0 {
				t.Error("a dry run answered the question")
			}
			if l := recs.Find("dry run: would answer a question"); len(l) != 1 || l[0]["choice"] != "OK" {
				t.Errorf("dry-run log = %v\n%s", l, recs)
			}
		})
	}
}

// TestShippedScriptAnswersSingleChoiceQuestions runs
// scripts/answer_question.lua (the book's detectQuestion.pl) as users do.
func TestShippedScriptAnswersSingleChoiceQuestions(t *testing.T) {
	e := startSim(t, vsim.Options{VMs: 2})
	single := ask(t, e, "VM1", "Continue?", "OK")
	multi := ask(t, e, "VM2", "Retry?", "Retry", "Cancel")
	err, recs := e.Run(t, "../../scripts/answer_question.lua", simtest.RunOptions{})
	// the question left for a person makes the run partial, as vmlua answer --once
	if got := runtime.ExitStatus(err); got != runtime.ExitPartial {
		t.Fatalf("exit status %d (%v), want %d (partial: a question is left)\n%s", got, err, runtime.ExitPartial, recs)
	}
	if answered(single) != 0 || answered(multi) != -1 {
		t.Errorf("single answered %d (want 0), multi %d (want -1)\n%s", answered(single), answered(multi), recs)
	}
}

// TestModuleIsDocumented: every function carries its documentation.
func TestModuleIsDocumented(t *testing.T) {
	if err := question.Module.Validate(); err != nil {
		t.Fatal(err)
	}
}
