package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
)

// TestTheShippedRulesAnswerESXisQuestions: 'vmlua answer --once --rules
// scripts/answer_rules.lua' against the questions as ESXi asks them (the
// simulator's message ids, texts and choices): moved or copied is answered
// I Copied It, the CD-ROM lock Yes, a corrupt REDO log OK, and a full
// datastore is left for a person (exit 7). The file did not exist.
func TestTheShippedRulesAnswerESXisQuestions(t *testing.T) {
	bin := simtest.Binary(t)
	s := startQuestionSim(t, 4)
	cases := []struct {
		vm, msgID, file string
		want            int // the choice's index; -1: left
	}{
		{"VM1", vsim.MsgUUIDAltered, "", 2},
		{"VM2", vsim.MsgOutOfSpace, "VM2-000001.vmdk", -1},
		{"VM3", vsim.MsgCDROMLocked, "", 0},
		{"VM4", vsim.MsgCorruptRedo, "VM4-000001.vmdk", 0},
	}
	qs := make([]*vsim.Question, len(cases))
	for i, tc := range cases {
		q, err := s.AskESXi(tc.vm, tc.msgID, tc.file)
		if err != nil {
			t.Fatal(err)
		}
		qs[i] = q
	}
	out, err := exec.Command(bin, "answer", "--once", "--rules", "../../scripts/answer_rules.lua",
		"--url", s.URL.String(), "--insecure", "--log-format", "json").CombinedOutput()
	if c := exitCode(err); c != exitPartial {
		t.Fatalf("vmlua answer: exit %d (%v), want %d: the full datastore is left for a person\n%s", c, err, exitPartial, out)
	}
	for i, tc := range cases {
		got := -1
		if isAnswered(qs[i]) {
			got, _ = qs[i].Wait(context.Background())
		}
		if got != tc.want {
			t.Errorf("%s on %s: answered %d, want %d (-1: left)\n%s", tc.msgID, tc.vm, got, tc.want, out)
		}
	}
	for _, want := range []string{`"by":"moved or copied"`, `"by":"CD-ROM locked by the guest"`, `"by":"REDO log corrupt"`,
		`"msg":"left a question for a person"`, `datastore full leaves it for a person`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
}
