package question

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	lua "github.com/yuin/gopher-lua"
)

// Module is the "question" Lua module.
var Module = &runtime.Module{
	Name:    "question",
	Summary: "Pending VM questions: list them, watch for them, and answer them by rules.",
	Doc: "A VM that needs an operator stops on a question (`runtime.question`) and does nothing until it is answered. " +
		"`question.pending` lists them, `question.watch` calls a handler for each one as it appears (one PropertyCollector " +
		"filter for the whole inventory), and `question.policy` gives the run rules that answer questions raised by its own " +
		"operations, so that a backup blocked by a question continues. Choices are 0-based indexes (VmPerl's " +
		"`answer_question($q, 0)`) or labels. See docs/questions.md for the rules format.",
}

// vmsOption is the VMs whose questions pending and watch look at.
var vmsOption = runtime.Option{Name: "vms", Type: "string", Default: `"any:"`, Doc: "which VMs: a vm.find specifier"}

func init() {
	Module.Funcs = []runtime.Func{
		{Name: "pending", Args: []runtime.Arg{{Name: "options", Type: "table|string", Optional: true, Doc: `{vms=SPEC} or SPEC: which VMs`, Options: []runtime.Option{vmsOption}}}, Returns: "table",
			Doc: "Returns every pending question of the VMs, sorted by VM name, as a list of {vm=VM, question={id=, text=, choices={...}, message_ids={...}}}; an empty list when there is none. One retrieval for the whole inventory.", Fn: luaPending},
		{Name: "watch", Args: []runtime.Arg{{Name: "options", Type: "table", Doc: "what to watch and for how long", Options: []runtime.Option{
			vmsOption,
			{Name: "timeout", Type: "number", Doc: "seconds (default: until the run ends)"},
			{Name: "handler", Type: "function", Doc: "function(v, q): returns a choice, or nil to leave the question"},
			{Name: "limit", Type: "integer", Doc: "return after this many questions were handled"},
			{Name: "max_wait", Type: "number", Default: "20", Doc: "seconds one server wait lasts: bounds how late a dropped session is noticed"},
		}}}, Returns: "table",
			Doc: "Calls the handler for each question as it appears on the VMs (those already pending first), and answers with the choice it returns: a 0-based index or a label; nil leaves the question for a person. " +
				"Without a handler the run's policy (question.policy) decides, or the default one (answer single-choice questions). " +
				"Returns {answered=, left=} when the timeout expires or the limit is reached. A lost vSphere session is re-established and every pending question re-read. " +
				"A choice the question does not have raises invalid_argument; a handler still running at the timeout is stopped and raises timeout. " +
				"An answer vSphere refuses is logged and the watch goes on: a question answered by someone else meanwhile is skipped, any other refusal counts as left. In a dry run nothing is answered.", Fn: luaWatch},
		{Name: "policy", Args: []runtime.Arg{{Name: "rules", Type: "table", Optional: true, Doc: `a list of rules {message_id=, text= (Lua pattern), choice= (index or label) | leave=true, name=}, plus the option below`, Options: []runtime.Option{
			{Name: "single_choice", Type: "string", Enum: []string{"answer", "leave"}, Default: `"answer"`, Doc: "what to do with a single-choice question no rule matches"},
		}}},
			Doc: "Makes the rules the run's question policy: a question that blocks one of the run's own operations (add_redo, commit, power) is answered by the first rule that matches it, " +
				"or with its only choice under single_choice=\"answer\", and the operation continues. Calling it again replaces the policy; with no argument it installs the default. Rule mistakes raise invalid_argument.", Fn: luaPolicy},
	}
}

func optionsArg(r *runtime.Run, L *lua.LState, n int) (*lua.LTable, vm.Spec) {
	spec := vm.Spec{Kind: "any"}
	var t *lua.LTable
	raw := ""
	switch a := L.Get(n).(type) {
	case *lua.LNilType:
	case lua.LString:
		raw = string(a)
	case *lua.LTable:
		t = a
		switch s := a.RawGetString("vms").(type) {
		case lua.LString:
			raw = string(s)
		case *lua.LNilType:
		default:
			L.ArgError(n, "vms must be a VM specifier string")
		}
	default:
		L.ArgError(n, "a table of options or a VM specifier expected")
	}
	if raw != "" {
		s, err := vm.ParseSpec(raw)
		if err != nil {
			r.RaiseCode(L, runtime.CodeInvalidArg, "%v", err)
		}
		spec = s
	}
	return t, spec
}

func connect(r *runtime.Run) (*vm.Conn, error) { return vm.RunConn(r) }

// vmObject opens the VM of a found question as a Lua VM object.
func vmObject(ctx context.Context, r *runtime.Run, L *lua.LState, c *vm.Conn, f Found) (lua.LValue, error) {
	v, err := c.VMByRef(ctx, f.Ref)
	if err != nil {
		return nil, err
	}
	return r.NewObject(L, vm.VMType, v), nil
}

func entry(ctx context.Context, r *runtime.Run, L *lua.LState, c *vm.Conn, f Found) (*lua.LTable, error) {
	obj, err := vmObject(ctx, r, L, c, f)
	if err != nil {
		return nil, err
	}
	e := L.NewTable()
	e.RawSetString("vm", obj)
	e.RawSetString("question", vm.QuestionTable(L, f.Question))
	return e, nil
}

func luaPending(r *runtime.Run, L *lua.LState) int {
	_, spec := optionsArg(r, L, 1)
	c, err := connect(r)
	if err != nil {
		return r.Raise(L, err)
	}
	// folder:, tag: and the other terms on where VMs sit
	if spec, err = c.Resolve(r.Context(), spec); err != nil {
		return r.Raise(L, err)
	}
	found, err := Pending(r.Context(), c.Client, spec)
	if err != nil {
		return r.Raise(L, err)
	}
	out := L.NewTable()
	for _, f := range found {
		e, err := entry(r.Context(), r, L, c, f)
		if err != nil {
			return r.Raise(L, err)
		}
		out.Append(e)
	}
	L.Push(out)
	return 1
}

func seconds(L *lua.LState, t *lua.LTable, key string) time.Duration {
	switch v := t.RawGetString(key).(type) {
	case *lua.LNilType:
		return 0
	case lua.LNumber:
		if v <= 0 {
			L.ArgError(1, key+" must be a positive number of seconds")
		}
		return time.Duration(float64(v) * float64(time.Second))
	default:
		L.ArgError(1, key+" must be a number of seconds")
	}
	return 0
}

func luaWatch(r *runtime.Run, L *lua.LState) int {
	t, spec := optionsArg(r, L, 1)
	if t == nil {
		t = L.NewTable()
	}
	timeout := seconds(L, t, "timeout")
	maxWait := seconds(L, t, "max_wait")
	var handler *lua.LFunction
	switch h := t.RawGetString("handler").(type) {
	case *lua.LFunction:
		handler = h
	case *lua.LNilType:
	default:
		L.ArgError(1, "handler must be a function(v, q)")
	}
	c, err := connect(r)
	if err != nil {
		return r.Raise(L, err)
	}
	// folder:, tag: and the others are resolved once, as the watch starts
	if spec, err = c.Resolve(r.Context(), spec); err != nil {
		return r.Raise(L, err)
	}
	ctx := r.Context()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	// The handler runs in this Lua state, under the watch's context, so a
	// handler that never returns is stopped when the watch times out.
	prev := L.Context()
	L.SetContext(ctx)
	defer L.SetContext(prev)

	w := &Watcher{Client: c.Client, Spec: spec, MaxWait: maxWait, Log: r.Log}
	handled := 0
	a := &Answerer{Run: r, Client: c.Client, Policy: RunPolicy(r)}
	limit := 0
	switch n := t.RawGetString("limit").(type) {
	case *lua.LNilType:
	case lua.LNumber:
		if n < 1 || float64(n) != float64(int(n)) {
			L.ArgError(1, "limit must be a whole number of questions, 1 or more")
		}
		limit = int(n)
	default:
		L.ArgError(1, "limit must be a number of questions")
	}
	w.Handle = func(ctx context.Context, f Found) error {
		var err error
		if handler == nil {
			err = a.Handle(ctx, f)
		} else {
			err = callHandler(ctx, r, L, c, handler, a, f)
		}
		if handled++; err == nil && limit > 0 && handled >= limit {
			return ErrStop
		}
		return err
	}
	if err := w.Run(ctx); err != nil {
		var le luaError
		if errors.As(err, &le) {
			L.Error(le.v, 0) // the handler's own error, as it raised it
		}
		return r.Raise(L, err)
	}
	if err := r.Context().Err(); err != nil {
		return r.Raise(L, err)
	}
	res := L.NewTable()
	res.RawSetString("answered", lua.LNumber(a.Answered))
	res.RawSetString("left", lua.LNumber(a.Left))
	L.Push(res)
	return 1
}

// luaError carries a value the handler raised, to be raised again as is.
type luaError struct{ v lua.LValue }

func (e luaError) Error() string { return e.v.String() }

func callHandler(ctx context.Context, r *runtime.Run, L *lua.LState, c *vm.Conn, handler *lua.LFunction, a *Answerer, f Found) error {
	obj, err := vmObject(ctx, r, L, c, f)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	q := f.Question
	if err := L.CallByParam(lua.P{Fn: handler, NRet: 1, Protect: true}, obj, vm.QuestionTable(L, q)); err != nil {
		if r.Context().Err() != nil {
			return r.Context().Err()
		}
		if ctx.Err() != nil {
			return &runtime.Error{Code: runtime.CodeTimeout, VM: f.VM, Message: fmt.Sprintf(
				"the handler of question.watch was still running on question %s when the watch's timeout expired; the question is left pending. A handler should decide quickly and return", q.Id)}
		}
		var ae *lua.ApiError
		if errors.As(err, &ae) {
			return luaError{ae.Object}
		}
		return err
	}
	choice := L.Get(-1)
	L.Pop(1)
	if choice == lua.LNil || choice == lua.LFalse {
		a.Left++
		LogLeft(r.Log, f, "the handler returned nil")
		return nil
	}
	if _, ok := choice.(lua.LString); !ok {
		if _, ok := choice.(lua.LNumber); !ok {
			return &runtime.Error{Code: runtime.CodeInvalidArg, VM: f.VM, Message: fmt.Sprintf("the handler of question.watch returned a %s for question %s; return a 0-based index, a label, or nil", choice.Type(), q.Id)}
		}
	}
	key, label, err := vm.ChoiceKey(q, choice)
	if err != nil {
		return &runtime.Error{Code: runtime.CodeInvalidArg, VM: f.VM, Message: fmt.Sprintf("the handler of question.watch answered question %s (%q) with %s: %v", q.Id, q.Text, choice.String(), err)}
	}
	a.answer(ctx, f, key, label, "handler")
	return nil
}

func luaPolicy(r *runtime.Run, L *lua.LState) int {
	p := DefaultPolicy()
	switch t := L.Get(1).(type) {
	case *lua.LNilType:
	case *lua.LTable:
		var err error
		if p, err = ParsePolicy(t); err != nil {
			return r.RaiseCode(L, runtime.CodeInvalidArg, "%v", err)
		}
	default:
		L.ArgError(1, "a table of rules expected")
	}
	Install(r, p)
	r.Log.Info("question policy installed for this run", "rules", len(p.Rules), "single_choice", p.SingleChoice)
	return 0
}
