package vm

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	lua "github.com/yuin/gopher-lua"
)

// Pending is a VM's pending question.
type Pending struct {
	VM       string // display name
	Ref      types.ManagedObjectReference
	Question *types.VirtualMachineQuestionInfo
}

// Answer answers p's question with the choice key: the one place vmlua
// calls AnswerVM. by says who decided (a rule's name, "single_choice",
// "handler", "script") and goes into the log line, "answered a question"
// with vm, question, text, choice and by. In a dry run it answers nothing,
// logs "dry run: would answer a question" and returns false.
//
// A question that is no longer pending (answered by someone else, or
// withdrawn) gives an error with code invalid_state, as
// v:answer_question's own check does; any other failure is mapped as
// every vSphere fault is (vsphere, timeout, canceled, not_found).
func Answer(ctx context.Context, r *runtime.Run, c *vim25.Client, p Pending, key, by string) (bool, error) {
	q := p.Question
	label := choiceLabel(q, key)
	if r.DryRunAction("answer a question", "vm", p.VM, "question", q.Id, "text", q.Text, "choice", label, "by", by) {
		return false, nil
	}
	if err := object.NewVirtualMachine(c, p.Ref).Answer(ctx, q.Id, key); err != nil {
		if noLongerPending(err) {
			return false, &runtime.Error{Code: runtime.CodeInvalidState, VM: p.VM, Err: err, Message: fmt.Sprintf(
				"question %s of VM %s is no longer pending (it was answered or withdrawn)", q.Id, p.VM)}
		}
		return false, vsphereErr(err, p.VM, "answer question "+q.Id)
	}
	r.Log.Info("answered a question", "vm", p.VM, "question", q.Id, "text", q.Text, "choice", label, "by", by)
	return true, nil
}

// noLongerPending reports whether AnswerVM failed because the question
// is gone: InvalidArgument for its questionId (vSphere: "the question has
// already been answered"), or ConcurrentAccess (answered at the same
// moment by someone else). InvalidArgument for the answerChoice is not:
// that is a choice the question does not have.
func noLongerPending(err error) bool {
	var f any
	switch {
	case soap.IsSoapFault(err):
		f = soap.ToSoapFault(err).VimFault()
	case soap.IsVimFault(err):
		f = soap.ToVimFault(err)
	}
	switch x := f.(type) {
	case types.ConcurrentAccess, *types.ConcurrentAccess:
		return true
	case types.InvalidArgument:
		return x.InvalidProperty != "answerChoice"
	case *types.InvalidArgument:
		return x.InvalidProperty != "answerChoice"
	}
	return false
}

// IsNoLongerPending reports whether err is Answer's error for a question
// that is no longer pending.
func IsNoLongerPending(err error) bool {
	var re *runtime.Error
	return errors.As(err, &re) && re.Code == runtime.CodeInvalidState && noLongerPending(re.Err)
}

// Question reads the VM's pending question (nil when none): the one way a
// single VM's question is read (question.pending and question.watch read
// many VMs' at once).
func (v *VM) Question(ctx context.Context) (*types.VirtualMachineQuestionInfo, error) {
	var m mo.VirtualMachine
	if err := v.Obj.Properties(ctx, v.Ref, []string{"runtime.question"}, &m); err != nil {
		return nil, vsphereErr(err, v.Name(), "read the pending question")
	}
	return m.Runtime.Question, nil
}

func (v *VM) pending(q *types.VirtualMachineQuestionInfo) Pending {
	return Pending{VM: v.Name(), Ref: v.Ref, Question: q}
}

// QuestionPolicy answers a question raised during the run's own
// operations: the choice key and who decided (for the log); ok is false
// to leave it to a person. The question module installs it (vmlua run
// --answer, question.policy).
type QuestionPolicy func(ctx context.Context, vmName string, q *types.VirtualMachineQuestionInfo) (key, by string, ok bool)

// policyKey holds the run's QuestionPolicy.
var policyKey = runtime.NewKey[QuestionPolicy]("vm.question_policy")

// SetQuestionPolicy makes p answer the questions that block the run's own
// operations from now on.
func SetQuestionPolicy(r *runtime.Run, p QuestionPolicy) { policyKey.Set(r, p) }

// blocked is what answerBlocking remembers between its looks during one
// wait: the questions it answered, and those vSphere said were no longer
// pending.
type blocked struct {
	answered, gone map[string]bool
	own            QuestionPolicy // the operation's own answers (else the VM's, SetOwnAnswers), before the run's policy
}

func mark(m *map[string]bool, id string) {
	if *m == nil {
		*m = map[string]bool{}
	}
	(*m)[id] = true
}

// answerBlocking looks once for a question that blocks the VM while the
// run waits for one of its tasks (doing). A question the run's policy
// answers is answered, once. One vSphere says is no longer pending
// (answered by someone else meanwhile) is skipped; if it still shows on
// the next look it is answered again, and a second refusal fails the
// wait. Any other question fails the wait with a question error instead
// of hanging. A failed read is ignored: the next tick reads again.
func (v *VM) answerBlocking(ctx context.Context, r *runtime.Run, seen *blocked, doing string) error {
	q, err := v.Question(ctx)
	if err != nil || q == nil || seen.answered[q.Id] {
		return nil
	}
	if h := v.hook.Load(); h != nil && (*h)(q) {
		return nil // the hook's owner deals with it (SetQuestionHook)
	}
	p, ok := policyKey.Get(r)
	own := seen.own
	if o := v.own.Load(); own == nil && o != nil {
		own = *o
	}
	if own != nil {
		if _, _, mine := own(ctx, v.Name(), q); mine {
			p, ok = own, true
		}
	}
	if ok && p != nil {
		if key, by, ok := p(ctx, v.Name(), q); ok {
			done, err := Answer(ctx, r, v.Obj.Client(), v.pending(q), key, by)
			switch {
			case IsNoLongerPending(err) && !seen.gone[q.Id]:
				mark(&seen.gone, q.Id)
				r.Log.Info("a question that blocked the VM is no longer pending (answered by someone else?); waiting on", "vm", v.Name(), "question", q.Id, "doing", doing)
				return nil
			case err != nil:
				return err
			case done:
				mark(&seen.answered, q.Id)
				return nil
			}
			// a dry run: nothing was answered, so the task stays blocked
		}
	}
	return &runtime.Error{Code: runtime.CodeQuestion, VM: v.Name(), Message: fmt.Sprintf(
		"while trying to %s, the VM stopped on a question and waits for an answer: %q (id %s, choices: %s). Answer it (v:answer_question, or 'vmlua answer'), or give the run a question policy (vmlua run --answer RULES.lua)",
		doing, q.Text, q.Id, strings.Join(ChoiceLabels(q), ", "))}
}

// QuestionHook sees a question that blocks one of the VM's tasks before
// anything else does: handled means the wait goes on and the hook's owner
// deals with the question (answers it once it did what frees the VM).
type QuestionHook func(q *types.VirtualMachineQuestionInfo) (handled bool)

// SetQuestionHook installs h for the VM's tasks until remove is called.
func (v *VM) SetQuestionHook(h QuestionHook) (remove func()) {
	v.hook.Store(&h)
	return func() { v.hook.CompareAndSwap(&h, nil) }
}

// SetOwnAnswers makes p answer, first, the questions that block this VM
// object's own operations (v:power_on() and every wait on one of its
// tasks), before the run's policy: what created the VM knows answers the
// rules cannot (a restore knows whether its VM was moved or copied).
func (v *VM) SetOwnAnswers(p QuestionPolicy) { v.own.Store(&p) }

// ChoiceLabels lists the question's choices by label, in order.
func ChoiceLabels(q *types.VirtualMachineQuestionInfo) []string {
	var out []string
	for _, c := range q.Choice.ChoiceInfo {
		out = append(out, c.GetElementDescription().Label)
	}
	return out
}

func choiceLabel(q *types.VirtualMachineQuestionInfo, key string) string {
	for _, c := range q.Choice.ChoiceInfo {
		if e := c.GetElementDescription(); e.Key == key {
			return e.Label
		}
	}
	return key
}

// ChoiceKey resolves a choice given as 0-based index or label.
func ChoiceKey(q *types.VirtualMachineQuestionInfo, choice lua.LValue) (string, string, error) {
	infos := q.Choice.ChoiceInfo
	switch c := choice.(type) {
	case lua.LNumber:
		i := int(c)
		if float64(i) != float64(c) || i < 0 || i >= len(infos) {
			return "", "", fmt.Errorf("choice %v is not an index of this question's %d choices (0 to %d): %s", c, len(infos), len(infos)-1, strings.Join(ChoiceLabels(q), ", "))
		}
		e := infos[i].GetElementDescription()
		return e.Key, e.Label, nil
	case lua.LString:
		for _, ci := range infos {
			e := ci.GetElementDescription()
			// ESXi's labels are message keys ("button.uuid.movedTheVM"),
			// its summaries what a person reads ("I Moved It"): either does
			if strings.EqualFold(e.Label, string(c)) || strings.EqualFold(e.Summary, string(c)) || e.Key == string(c) {
				return e.Key, e.Label, nil
			}
		}
		return "", "", fmt.Errorf("choice %q is not one of this question's choices: %s", string(c), strings.Join(ChoiceLabels(q), ", "))
	}
	return "", "", fmt.Errorf("choice must be a 0-based index or a label, got %s", choice.Type().String())
}

// QuestionTable renders a question for Lua.
func QuestionTable(L *lua.LState, q *types.VirtualMachineQuestionInfo) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("id", lua.LString(q.Id))
	t.RawSetString("text", lua.LString(q.Text))
	choices := L.NewTable()
	for _, l := range ChoiceLabels(q) {
		choices.Append(lua.LString(l))
	}
	t.RawSetString("choices", choices)
	ids := L.NewTable()
	for _, m := range q.Message {
		ids.Append(lua.LString(m.Id))
	}
	t.RawSetString("message_ids", ids)
	return t
}

func luaPendingQuestion(r *runtime.Run, L *lua.LState) int {
	q, err := self(r, L).Question(r.Context())
	if err != nil {
		return r.Raise(L, err)
	}
	if q == nil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(QuestionTable(L, q))
	return 1
}

func luaAnswerQuestion(r *runtime.Run, L *lua.LState) int {
	v := self(r, L)
	qt := L.CheckTable(2)
	id := lua.LVAsString(qt.RawGetString("id"))
	q, err := v.Question(r.Context())
	if err != nil {
		return r.Raise(L, err)
	}
	if q == nil || q.Id != id {
		return r.RaiseCode(L, runtime.CodeInvalidState, "question %s of VM %s is no longer pending (it was answered or withdrawn); read v:pending_question() again", id, v.Name())
	}
	key, _, err := ChoiceKey(q, L.Get(3))
	if err != nil {
		return r.Raise(L, &runtime.Error{Code: runtime.CodeInvalidArg, VM: v.Name(), Message: err.Error()})
	}
	if _, err := Answer(r.Context(), r, v.Obj.Client(), v.pending(q), key, "script"); err != nil {
		return r.Raise(L, err)
	}
	return 0
}
