package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vmlua/vmlua/internal/redact"
	lua "github.com/yuin/gopher-lua"
)

// Error codes a script can test with err.code. They are part of the Lua
// API contract (docs/lua-api.md).
const (
	CodeError        = "error"            // anything without a more precise code
	CodeInvalidArg   = "invalid_argument" // a bad argument: fix the script
	CodeNotFound     = "not_found"        // a VM, disk or path does not exist
	CodeAmbiguous    = "ambiguous"        // a look-up matched several objects
	CodeNotGranted   = "not_granted"      // outside what the operator granted
	CodeSandbox      = "sandbox"          // refused by the sandbox
	CodeTimeout      = "timeout"          // the run's --timeout expired
	CodeCanceled     = "canceled"         // SIGINT/SIGTERM or cancellation
	CodeVSphere      = "vsphere"          // the vSphere API reported a fault
	CodeTransport    = "transport"        // a transport operation failed
	CodeAuth         = "auth"             // credentials or host key refused
	CodeConflict     = "conflict"         // the target is in a state that forbids it
	CodeQuestion     = "question"         // a VM is waiting for an answer
	CodeVerify       = "verify"           // bytes or checksums do not match
	CodeInvalidState = "invalid_state"    // e.g. export without add_redo
	CodeConfig       = "config"           // the operator's configuration lacks what the call needs
)

// Error is the structured error value of the Lua API. In Lua it is a table
// {code=, message=, vm=, disk=, path=} that prints as one line; pcall
// returns it as is.
type Error struct {
	Code    string
	Message string // what happened and what to do
	VM      string
	Disk    string
	Path    string
	Err     error // the cause, for Go callers (errors.Is/As); not shown to Lua
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code)
	b.WriteString(": ")
	b.WriteString(e.Message)
	var ctx []string
	if e.VM != "" {
		ctx = append(ctx, "vm="+e.VM)
	}
	if e.Disk != "" {
		ctx = append(ctx, "disk="+e.Disk)
	}
	if e.Path != "" {
		ctx = append(ctx, "path="+e.Path)
	}
	if len(ctx) > 0 {
		b.WriteString(" (" + strings.Join(ctx, ", ") + ")")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap turns any Go error into an *Error, keeping an existing *Error's
// fields, and mapping context errors to timeout/canceled.
func Wrap(err error, code string) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		code = CodeTimeout
	case errors.Is(err, context.Canceled):
		code = CodeCanceled
	}
	return &Error{Code: code, Message: err.Error(), Err: err}
}

const errorTypeName = "vmlua.error"

// errorTable converts e into the Lua value scripts see.
func (r *Run) errorTable(L *lua.LState, e *Error) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("code", lua.LString(e.Code))
	t.RawSetString("message", lua.LString(redact.Text(e.Message)))
	for k, v := range map[string]string{"vm": e.VM, "disk": e.Disk, "path": e.Path} {
		if v != "" {
			t.RawSetString(k, lua.LString(redact.Text(v)))
		}
	}
	L.SetMetatable(t, L.GetTypeMetatable(errorTypeName))
	return t
}

func registerErrorType(L *lua.LState) {
	mt := L.NewTypeMetatable(errorTypeName)
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		t := L.CheckTable(1)
		L.Push(lua.LString(errorLine(t)))
		return 1
	}))
	mt.RawSetString("__metatable", lua.LString("vmlua.error"))
}

// errorLine renders a structured error table as one line, without calling
// any script code.
func errorLine(t *lua.LTable) string {
	get := func(k string) string {
		if s, ok := t.RawGetString(k).(lua.LString); ok {
			return string(s)
		}
		return ""
	}
	e := &Error{Code: get("code"), Message: get("message"), VM: get("vm"), Disk: get("disk"), Path: get("path")}
	if e.Code == "" {
		e.Code = CodeError
	}
	return e.Error()
}

// Raise raises err in L as a structured Lua error. It never returns.
func (r *Run) Raise(L *lua.LState, err error) int {
	e := Wrap(err, CodeError)
	if c := r.Context().Err(); c != nil && (e.Code == CodeError || e.Code == CodeTransport || e.Code == CodeVSphere) && errors.Is(err, c) {
		e.Code = Wrap(c, CodeError).Code
	}
	t := r.errorTable(L, e)
	if w := L.Where(1); w != "" {
		t.RawSetString("where", lua.LString(w))
	}
	L.Error(t, 1)
	return 0
}

// RaiseCode is shorthand for Raise(L, Errorf(code, ...)).
func (r *Run) RaiseCode(L *lua.LState, code, format string, args ...any) int {
	return r.Raise(L, Errorf(code, format, args...))
}

// ScriptError is what a failed run returns: the script's error as one
// line with where it happened.
type ScriptError struct {
	Code    string
	Message string // one line, redacted
	Where   string // "script.lua:12" when known
	Cause   error  // the Go error behind it, if any (timeouts, cancellation)
}

func (e *ScriptError) Error() string {
	if e.Where != "" {
		return e.Where + ": " + e.Message
	}
	return e.Message
}

func (e *ScriptError) Unwrap() error { return e.Cause }
