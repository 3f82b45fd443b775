package vsim

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Question is a pending runtime.question of a VM.
type Question struct {
	ID        string
	VM        string
	Text      string
	Choices   []string // the choices' labels, in order (index = AnswerVM key)
	MessageID string

	choices      []Choice
	defaultIndex int
	done         chan struct{}
	answer       int
}

// Choice is one choice of a question as ESXi describes it: Label is the
// button's message key ("button.uuid.movedTheVM"), Summary what a person
// reads ("I Moved It"); the choice's key is its index ("0", "1", ...),
// which AnswerVM takes.
type Choice struct{ Label, Summary string }

// plainChoices makes choices whose label is their text (Ask's questions).
func plainChoices(labels []string) []Choice {
	out := make([]Choice, len(labels))
	for i, l := range labels {
		out[i] = Choice{Label: l, Summary: l}
	}
	return out
}

// Wait blocks until the question is answered and returns the index of the
// chosen choice.
func (q *Question) Wait(ctx context.Context) (int, error) {
	select {
	case <-q.done:
		return q.answer, nil
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

// Answered is closed once the question is answered.
func (q *Question) Answered() <-chan struct{} { return q.done }

func (q *Question) info() *types.VirtualMachineQuestionInfo {
	qi := &types.VirtualMachineQuestionInfo{
		Id:   q.ID,
		Text: q.Text,
		Choice: types.ChoiceOption{
			DefaultIndex: int32(q.defaultIndex),
		},
		Message: []types.VirtualMachineMessage{{Id: q.MessageID, Text: q.Text}},
	}
	for i, c := range q.choices {
		qi.Choice.ChoiceInfo = append(qi.Choice.ChoiceInfo, &types.ElementDescription{
			Description: types.Description{Label: c.Label, Summary: c.Summary},
			Key:         strconv.Itoa(i),
		})
	}
	return qi
}

var errQuestionPending = errors.New("vsim: the VM already has a pending question")

// Ask raises a question on the named VM, as a VM does when it needs an
// operator; it shows in runtime.question until answered with AnswerVM.
func (s *Sim) Ask(vmName, text string, choices ...string) (*Question, error) {
	vs, err := s.vmByName(vmName)
	if err != nil {
		return nil, err
	}
	if len(choices) == 0 {
		return nil, errors.New("vsim: a question needs at least one choice")
	}
	return s.raise(vs, text, plainChoices(choices), 0, "msg.vmlua.question")
}

// PendingQuestion returns the VM's pending question, or nil.
func (s *Sim) PendingQuestion(vmName string) *Question {
	vs, err := s.vmByName(vmName)
	if err != nil {
		return nil
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return vs.question
}

func (s *Sim) raise(vs *vmState, text string, choices []Choice, defaultIndex int, msgID string) (*Question, error) {
	vm, ok := s.reg.Get(vs.ref).(*simulator.VirtualMachine)
	if !ok {
		return nil, errNoVM
	}
	s.mu.Lock()
	s.qid++
	id := fmt.Sprintf("_vmx%d", s.qid)
	s.mu.Unlock()
	q := &Question{ID: id, VM: vs.name, Text: text, MessageID: msgID, choices: choices, defaultIndex: defaultIndex, done: make(chan struct{})}
	for _, c := range choices {
		q.Choices = append(q.Choices, c.Label)
	}
	vs.mu.Lock()
	if vs.question != nil {
		vs.mu.Unlock()
		return nil, errQuestionPending
	}
	vs.question = q
	vs.mu.Unlock()
	s.reg.AtomicUpdate(s.bgContext(), vm, []types.PropertyChange{{Name: "runtime.question", Val: q.info()}})
	return q, nil
}

func (w *vmWrapper) AnswerVM(ctx *simulator.Context, req *types.AnswerVM) soap.HasFault {
	body := &methods.AnswerVMBody{}
	vs, err := w.s.adopt(w.Self, false)
	if err != nil {
		body.Fault_ = simulator.Fault("", &types.NotFound{})
		return body
	}
	vs.mu.Lock()
	q := vs.question
	var fault types.BaseMethodFault
	choice := -1
	switch {
	case q == nil || q.ID != req.QuestionId:
		fault = &types.InvalidArgument{InvalidProperty: "questionId"}
	default:
		for i := range q.Choices {
			if strconv.Itoa(i) == req.AnswerChoice {
				choice = i
			}
		}
		if choice < 0 {
			fault = &types.InvalidArgument{InvalidProperty: "answerChoice"}
		} else {
			vs.question = nil
		}
	}
	vs.mu.Unlock()
	if fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	ctx.Update(w.VirtualMachine, []types.PropertyChange{{Name: "runtime.question", Val: nil}})
	q.answer = choice
	close(q.done)
	body.Res = &types.AnswerVMResponse{}
	return body
}
