package question_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"

	"github.com/vmlua/vmlua/internal/vsim"
)

const ready = "question watch ready: every pending question was read"

// TestPendingListsEveryQuestion: question.pending returns each pending
// question with its VM, and only those of the VMs the specifier names.
func TestPendingListsEveryQuestion(t *testing.T) {
	e := startSim(t, vsim.Options{VMs: 3})
	ask(t, e, "VM1", "Disk full. Retry?", "Retry", "Cancel")
	ask(t, e, "VM3", "Continue?", "OK")
	for _, tc := range []struct{ name, spec, want string }{
		{"every VM", "any:", "VM1:Disk full. Retry?:Retry,Cancel:msg.vmlua.question;VM3:Continue?:OK:msg.vmlua.question;"},
		{"a subset by name", "name:VM3", "VM3:Continue?:OK:msg.vmlua.question;"},
		{"a VM without a question", "name:VM2", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err, recs := e.Run(t, fmt.Sprintf(`
				local question = require "question"
				local s = ""
				for _, p in ipairs(question.pending{vms=%q}) do
					s = s .. p.vm.name .. ":" .. p.question.text .. ":" .. table.concat(p.question.choices, ",") .. ":" .. p.question.message_ids[1] .. ";"
				end
				assert(s == %q, "got " .. s)`, tc.spec, tc.want), simtest.RunOptions{})
			if err != nil {
				t.Fatalf("%v\n%s", err, recs)
			}
		})
	}
}

// TestWatchAnswers runs question.watch on a question raised once the
// watch is ready, and checks what was answered and what was logged.
func TestWatchAnswers(t *testing.T) {
	cases := []struct {
		name     string
		choices  []string
		text     string
		watch    string // the watch's extra options
		policy   string // a question.policy call before the watch
		want     int    // index answered, -1 for none
		wantLog  string
		wantBy   string
		wantFail string // an error the watch raises
	}{
		{name: "a single-choice question is answered by the default rules", choices: []string{"OK"}, want: 0, wantLog: "answered a question", wantBy: "single_choice"},
		{name: "a multi-choice question is left alone and logged", choices: []string{"Retry", "Cancel"}, want: -1, wantLog: "left a question for a person"},
		{name: "a rule by message id answers by label", choices: []string{"Retry", "Cancel"},
			policy: `question.policy{ {name="vmlua questions", message_id="msg.vmlua.question", choice="cancel"} }`, want: 1, wantLog: "answered a question", wantBy: "vmlua questions"},
		{name: "a rule by text pattern answers by index", choices: []string{"Keep", "Create", "Cancel"}, text: "The VM may have been copied (uuid 42)",
			policy: `question.policy{ {text="copied %(uuid %d+%)$", choice=1} }`, want: 1, wantLog: "answered a question", wantBy: "rule 1"},
		{name: "a rule that does not match leaves the multi-choice question", choices: []string{"Keep", "Create"}, text: "Something else",
			policy: `question.policy{ {text="^copied", choice=1} }`, want: -1, wantLog: "left a question for a person"},
		{name: "a rule can leave even a single-choice question", choices: []string{"OK"}, text: "Insert the tape",
			policy: `question.policy{ {text="tape", leave=true} }`, want: -1, wantLog: "left a question for a person"},
		{name: "a handler answers by index", choices: []string{"Retry", "Cancel"}, watch: `handler=function(v, q) assert(v.name and q.id) return 1 end`, want: 1, wantLog: "answered a question", wantBy: "handler"},
		{name: "a handler answers by label", choices: []string{"Retry", "Cancel"}, watch: `handler=function(v, q) return "Retry" end`, want: 0, wantLog: "answered a question", wantBy: "handler"},
		{name: "a handler returning nil leaves the question", choices: []string{"OK"}, watch: `handler=function(v, q) return nil end`, want: -1, wantLog: "left a question for a person"},
		{name: "a handler's wrong index is a clear error", choices: []string{"Retry", "Cancel"}, watch: `handler=function(v, q) return 2 end`, want: -1,
			wantFail: "choice 2 is not an index of this question's 2 choices (0 to 1): Retry, Cancel"},
		{name: "a handler's unknown label is a clear error", choices: []string{"Retry", "Cancel"}, watch: `handler=function(v, q) return "Ignore" end`, want: -1,
			wantFail: "Ignore"},
	}
	e := startSim(t, vsim.Options{VMs: len(cases)})
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vmName := fmt.Sprintf("VM%d", i+1) // a VM of its own: a question left stays pending
			text := tc.text
			if text == "" {
				text = "Question for " + tc.name
			}
			var q *vsim.Question
			hook := func(msg string, _ map[string]any) {
				if msg == ready && q == nil {
					q = ask(t, e, vmName, text, tc.choices...)
				}
			}
			watch := tc.watch
			if watch != "" {
				watch += ", "
			}
			err, recs := e.Run(t, fmt.Sprintf(`
				local question, log = require "question", require "log"
				%s
				local res = question.watch{vms="name:%s", %slimit=1, timeout=30, max_wait=1}
				log.info("watch done", {answered=res.answered, left=res.left})`, tc.policy, vmName, watch), simtest.RunOptions{Hook: hook})
			if q == nil {
				t.Fatalf("the watch never became ready: %v\n%s", err, recs)
			}
			if tc.wantFail != "" {
				if err == nil || code(err) != "invalid_argument" || !strings.Contains(err.Error(), tc.wantFail) {
					t.Fatalf("got %v (code %q), want invalid_argument mentioning %q", err, code(err), tc.wantFail)
				}
			} else if err != nil {
				t.Fatalf("%v\n%s", err, recs)
			}
			if got := answered(q); got != tc.want {
				t.Errorf("answered with %d, want %d\n%s", got, tc.want, recs)
			}
			if tc.wantLog != "" {
				l := recs.Find(tc.wantLog)
				if len(l) != 1 || l[0]["vm"] != vmName || l[0]["question"] != q.ID || l[0]["text"] != text {
					t.Fatalf("log %q = %v, want one record with vm, question and text\n%s", tc.wantLog, l, recs)
				}
				if tc.want >= 0 && (l[0]["choice"] != tc.choices[tc.want] || l[0]["by"] != tc.wantBy) {
					t.Errorf("logged choice %v by %v, want %q by %q", l[0]["choice"], l[0]["by"], tc.choices[tc.want], tc.wantBy)
				}
				if tc.want < 0 && l[0]["level"] != "WARN" {
					t.Errorf("a question left for a person is logged at %v, want WARN", l[0]["level"])
				}
			}
		})
	}
}
