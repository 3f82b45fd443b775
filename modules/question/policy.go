package question

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/vim25/types"
	lua "github.com/yuin/gopher-lua"
)

// Rule is one rule of a policy: a question matching MessageID and/or Text
// gets Choice (or, with Leave, is left for a person).
type Rule struct {
	Name      string     // shown in the log; default "rule N"
	MessageID string     // equals one of the question's message ids
	Text      string     // a Lua pattern found in the question's text
	Choice    lua.LValue // lua.LNumber (0-based index) or lua.LString (label); nil with Leave
	Leave     bool

	re *regexp.Regexp
}

// Matches reports whether the rule applies to the question.
func (r *Rule) Matches(q *types.VirtualMachineQuestionInfo) bool {
	if r.MessageID != "" {
		found := false
		for _, m := range q.Message {
			if m.Id == r.MessageID {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if r.re != nil && !r.re.MatchString(q.Text) {
		return false
	}
	return true
}

// Policy decides questions: the first matching rule wins; a question no
// rule matches is answered with its only choice when SingleChoice is
// "answer" (the book's detectQuestion.pl), and left for a person otherwise.
type Policy struct {
	Rules        []Rule
	SingleChoice string // "answer" (default) or "leave"
}

// DefaultPolicy answers single-choice questions and leaves every other.
func DefaultPolicy() *Policy { return &Policy{SingleChoice: "answer"} }

// Decision is what a policy made of one question.
type Decision struct {
	Answer bool
	Key    string // the choice's key, for AnswerVM
	Label  string // the choice's label, for the log
	By     string // the rule that decided, or "single_choice"
	Reason string // why the question is left (when !Answer)
	Err    error  // a rule named a choice the question does not have
}

// Decide applies the policy to a question.
func (p *Policy) Decide(q *types.VirtualMachineQuestionInfo) Decision {
	if p == nil {
		p = DefaultPolicy()
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		if !r.Matches(q) {
			continue
		}
		if r.Leave {
			return Decision{By: r.Name, Reason: r.Name + " leaves it for a person"}
		}
		key, label, err := vm.ChoiceKey(q, r.Choice)
		if err != nil {
			err = fmt.Errorf("%s matches, but its choice does not fit the question: %v; fix the rule", r.Name, err)
			return Decision{By: r.Name, Reason: err.Error(), Err: err}
		}
		return Decision{Answer: true, Key: key, Label: label, By: r.Name}
	}
	n := len(q.Choice.ChoiceInfo)
	if n == 1 && p.SingleChoice != "leave" {
		e := q.Choice.ChoiceInfo[0].GetElementDescription()
		return Decision{Answer: true, Key: e.Key, Label: e.Label, By: "single_choice"}
	}
	if n == 1 {
		return Decision{Reason: `no rule matches, and single_choice is "leave"`}
	}
	return Decision{Reason: fmt.Sprintf("no rule matches a question with %d choices", n)}
}

var ruleKeys = map[string]bool{"name": true, "message_id": true, "text": true, "choice": true, "leave": true}

// ParsePolicy reads a policy table: its array part holds the rules, in
// order, and single_choice says what to do with single-choice questions no
// rule matches. Unknown keys are refused, so that a typo does not silently
// drop a rule.
func ParsePolicy(t *lua.LTable) (*Policy, error) {
	p := DefaultPolicy()
	var bad []string
	t.ForEach(func(k, v lua.LValue) {
		if _, ok := k.(lua.LNumber); ok {
			return
		}
		if k.String() == "single_choice" {
			s, ok := v.(lua.LString)
			if !ok || (s != "answer" && s != "leave") {
				bad = append(bad, fmt.Sprintf(`single_choice must be "answer" or "leave", not %s`, v.String()))
				return
			}
			p.SingleChoice = string(s)
			return
		}
		bad = append(bad, fmt.Sprintf("unknown key %q (a policy takes rules in its list part, and single_choice=)", k.String()))
	})
	if len(bad) > 0 {
		sort.Strings(bad)
		return nil, fmt.Errorf("question policy: %s", strings.Join(bad, "; "))
	}
	n := t.Len()
	for i := 1; i <= n; i++ {
		rt, ok := t.RawGetInt(i).(*lua.LTable)
		if !ok {
			return nil, fmt.Errorf("question policy: rule %d is a %s, want a table {message_id=, text=, choice=|leave=true}", i, t.RawGetInt(i).Type())
		}
		r, err := parseRule(rt, i)
		if err != nil {
			return nil, fmt.Errorf("question policy: %v", err)
		}
		p.Rules = append(p.Rules, r)
	}
	return p, nil
}

func parseRule(t *lua.LTable, i int) (Rule, error) {
	r := Rule{Name: fmt.Sprintf("rule %d", i)}
	var err error
	t.ForEach(func(k, v lua.LValue) {
		if err != nil {
			return
		}
		key := k.String()
		if !ruleKeys[key] {
			err = fmt.Errorf("rule %d: unknown key %q (want name, message_id, text, choice, leave)", i, key)
			return
		}
		switch key {
		case "name", "message_id", "text":
			s, ok := v.(lua.LString)
			if !ok || s == "" {
				err = fmt.Errorf("rule %d: %s must be a non-empty string", i, key)
				return
			}
			switch key {
			case "name":
				r.Name = string(s)
			case "message_id":
				r.MessageID = string(s)
			case "text":
				r.Text = string(s)
			}
		case "choice":
			switch c := v.(type) {
			case lua.LNumber:
				if float64(c) != float64(int(c)) || c < 0 {
					err = fmt.Errorf("rule %d: choice %v must be a 0-based index (0, 1, ...) or a label", i, c)
					return
				}
				r.Choice = c
			case lua.LString:
				r.Choice = c
			default:
				err = fmt.Errorf("rule %d: choice must be a 0-based index or a label, not a %s", i, v.Type())
			}
		case "leave":
			b, ok := v.(lua.LBool)
			if !ok {
				err = fmt.Errorf("rule %d: leave must be true or false", i)
				return
			}
			r.Leave = bool(b)
		}
	})
	if err != nil {
		return r, err
	}
	if r.MessageID == "" && r.Text == "" {
		return r, fmt.Errorf("%s: give message_id= or text= (or both) to say which questions it matches", r.Name)
	}
	if (r.Choice == nil) == !r.Leave {
		return r, fmt.Errorf("%s: give either choice= (an index or a label) or leave=true", r.Name)
	}
	if r.Text != "" {
		re, cerr := compilePattern(r.Text)
		if cerr != nil {
			return r, fmt.Errorf("%s: %v", r.Name, cerr)
		}
		r.re = re
	}
	return r, nil
}

// LoadRules reads a rules file: a Lua chunk that returns a policy table
// (the argument of question.policy). It is evaluated in the run's sandbox.
func LoadRules(r *runtime.Run, path string) (*Policy, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, &runtime.Error{Code: runtime.CodeNotFound, Path: path, Message: fmt.Sprintf("cannot read the question rules file: %v", err), Err: err}
	}
	L := r.NewState()
	defer L.Close()
	fn, err := r.LoadChunk(L, filepath.Base(path), string(src))
	if err != nil {
		return nil, &runtime.Error{Code: runtime.CodeInvalidArg, Path: path, Message: fmt.Sprintf("the question rules file is not valid Lua: %v", err)}
	}
	L.Push(fn)
	if err := L.PCall(0, 1, nil); err != nil {
		return nil, &runtime.Error{Code: runtime.CodeInvalidArg, Path: path, Message: fmt.Sprintf("the question rules file failed: %v", firstLine(err.Error()))}
	}
	t, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return nil, &runtime.Error{Code: runtime.CodeInvalidArg, Path: path, Message: fmt.Sprintf("the question rules file must return a table of rules (return { {text=..., choice=...}, single_choice=\"answer\" }), not a %s", L.Get(-1).Type())}
	}
	p, err := ParsePolicy(t)
	if err != nil {
		return nil, &runtime.Error{Code: runtime.CodeInvalidArg, Path: path, Message: err.Error() + "; see docs/questions.md"}
	}
	return p, nil
}

func firstLine(s string) string {
	if i := strings.Index(s, "\nstack traceback"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// policyHolder is the run's current policy; question.policy replaces it.
type policyHolder struct{ p atomic.Pointer[Policy] }

var holderKey = runtime.NewKey[*policyHolder]("question.policy")

// Install makes p the run's question policy: a question that blocks one
// of the run's own operations (a snapshot, a commit, a power operation) is
// answered by it, and the operation continues. In a dry run nothing is
// answered.
func Install(r *runtime.Run, p *Policy) {
	h := holderKey.Init(r, func() *policyHolder { return &policyHolder{} })
	h.p.Store(p)
	vm.SetQuestionPolicy(r, func(ctx context.Context, vmName string, q *types.VirtualMachineQuestionInfo) (string, string, bool) {
		d := h.p.Load().Decide(q)
		switch {
		case d.Err != nil:
			r.Log.Error("the question policy cannot answer a question", "vm", vmName, "question", q.Id, "text", q.Text, "error", d.Err)
			return "", "", false
		case !d.Answer:
			r.Log.Warn("the question policy leaves a question for a person", "vm", vmName, "question", q.Id, "text", q.Text, "choices", strings.Join(vm.ChoiceLabels(q), ", "), "reason", d.Reason)
			return "", "", false
		}
		return d.Key, d.By, true
	})
}

// RunPolicy returns the policy installed for the run, or nil.
func RunPolicy(r *runtime.Run) *Policy {
	if h, ok := holderKey.Get(r); ok {
		return h.p.Load()
	}
	return nil
}
