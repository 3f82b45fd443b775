package main

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/eventually"
	"github.com/vmlua/vmlua/internal/harness/simtest"

	"github.com/vmlua/vmlua/internal/vsim"
)

func startQuestionSim(t *testing.T, vms int) *vsim.Sim {
	t.Helper()
	s, err := vsim.Start(context.Background(), vsim.Options{VMs: vms, DiskSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func ask(t *testing.T, s *vsim.Sim, vmName, text string, choices ...string) *vsim.Question {
	t.Helper()
	q, err := s.Ask(vmName, text, choices...)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func isAnswered(q *vsim.Question) bool {
	select {
	case <-q.Answered():
		return true
	default:
		return false
	}
}

// TestAnswerOnce runs 'vmlua answer --once' as a process: it answers the
// single-choice question, logs and leaves the multi-choice one (exit
// status 7, partial), and in a dry run answers nothing.
func TestAnswerOnce(t *testing.T) {
	bin := simtest.Binary(t)
	for _, tc := range []struct {
		name         string
		flags        []string
		wantAnswered bool
		wantLog      string
	}{
		{"the default rules answer the single-choice question", nil, true, `"msg":"answered a question"`},
		{"the example rules file answers it too", []string{"--rules", "../../examples/question_rules.lua"}, true, `"by":"single_choice"`},
		{"a dry run answers nothing", []string{"--dry-run"}, false, `"msg":"dry run: would answer a question"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startQuestionSim(t, 2)
			single := ask(t, s, "VM1", "Continue?", "OK")
			multi := ask(t, s, "VM2", "Retry?", "Retry", "Cancel")
			args := append([]string{"answer", "--once", "--url", s.URL.String(), "--insecure", "--log-format", "json"}, tc.flags...)
			out, err := exec.Command(bin, args...).CombinedOutput()
			if c := exitCode(err); c != exitPartial {
				t.Fatalf("vmlua answer: exit %d (%v), want %d: a question is left for a person\n%s", c, err, exitPartial, out)
			}
			if !strings.Contains(string(out), "1 question(s) left for a person") {
				t.Errorf("the run does not say a question is left:\n%s", out)
			}
			if isAnswered(single) != tc.wantAnswered || isAnswered(multi) {
				t.Errorf("single answered = %v (want %v), multi answered = %v (want false)\n%s", isAnswered(single), tc.wantAnswered, isAnswered(multi), out)
			}
			for _, want := range []string{tc.wantLog, `"msg":"left a question for a person"`, `"vm":"VM2"`, `"question":"` + multi.ID + `"`, `"choices":"Retry, Cancel"`} {
				if !strings.Contains(string(out), want) {
					t.Errorf("output lacks %s:\n%s", want, out)
				}
			}
			if p := s.URL.User.String(); strings.Contains(string(out), strings.SplitN(p, ":", 2)[1]) {
				t.Errorf("the password appears in the output")
			}
		})
	}
}

// TestAnswerDaemonAnswersAsQuestionsAppearAndStopsOnSIGTERM: the daemon
// answers a question raised after it started, and SIGTERM ends it with
// status 0.
func TestAnswerDaemonAnswersAsQuestionsAppearAndStopsOnSIGTERM(t *testing.T) {
	s := startQuestionSim(t, 2)
	cmd := exec.Command(simtest.Binary(t), "answer", "--url", s.URL.String(), "--insecure", "--log-format", "json", "--log-level", "debug", "--max-wait", "1s")
	errb := &simtest.LockedBuffer{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	eventually.True(t, "the watch to become ready", func() bool { return strings.Contains(errb.String(), "question watch ready") })
	q := ask(t, s, "VM1", "Continue?", "OK")
	if _, err := q.Wait(eventually.Context(t)); err != nil {
		t.Fatalf("the question was not answered: %v\n%s", err, errb.String())
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); exitCode(err) != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0\n%s", exitCode(err), errb.String())
	}
	if !strings.Contains(errb.String(), `"msg":"stopped"`) {
		t.Errorf("no 'stopped' line:\n%s", errb.String())
	}
}

// TestRunAnswerLetsABlockedSnapshotContinue: 'vmlua run --answer RULES'
// answers the question the third REDO raises, so the script goes on.
func TestRunAnswerLetsABlockedSnapshotContinue(t *testing.T) {
	s := startQuestionSim(t, 1)
	rules := script(t, `return { {message_id = "msg.vmlua.redo.maxDepth", choice = "OK"} }`)
	src := script(t, `
		local vm = require "vm"
		local v = vm.open("name:DB01")
		v:add_redo("scsi0:0")
		v:add_redo("scsi0:0")
		local ok, err = pcall(v.add_redo, v, "scsi0:0")
		assert(not ok and err.code ~= "question", tostring(err))
		assert(v:pending_question() == nil)`)
	out, err := exec.Command(simtest.Binary(t), "run", "--url", s.URL.String(), "--insecure", "--answer", rules, src).CombinedOutput()
	if err != nil {
		t.Fatalf("vmlua run --answer: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `msg="answered a question" vm=DB01`) || !strings.Contains(string(out), `by="rule 1"`) {
		t.Errorf("no answer logged:\n%s", out)
	}
}
