package vfault

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"unicode"

	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// faulter is what every govmomi error that carries a fault implements:
// the SOAP fault error, the vim fault error, task.Error (and Task).
type faulter interface {
	error
	Fault() types.BaseMethodFault
}

// find returns the fault err carries, as a pointer, and the error in err's
// chain that carries it; nil when there is none.
func find(err error) (types.BaseMethodFault, faulter) {
	var c faulter
	if err == nil || !errors.As(err, &c) {
		return nil, nil
	}
	f := c.Fault()
	if f == nil {
		return nil, nil
	}
	return pointer(f), c
}

// pointer returns f as a pointer to its type: a fault decoded from XML
// may be a value (types.InvalidState) or a pointer (*types.InvalidState).
func pointer(f types.BaseMethodFault) types.BaseMethodFault {
	v := reflect.ValueOf(f)
	if v.Kind() == reflect.Pointer {
		return f
	}
	p := reflect.New(v.Type())
	p.Elem().Set(v)
	if pf, ok := p.Interface().(types.BaseMethodFault); ok {
		return pf
	}
	return f
}

// Of returns the vSphere fault err carries (wrapped or not), as a pointer
// to its type, or nil.
func Of(err error) types.BaseMethodFault {
	f, _ := find(err)
	return f
}

// Is reports whether err carries a fault of type T (a pointer type, as
// *types.InvalidState); a fault of a type that embeds T (an
// InvalidPowerState for *types.InvalidState) is not T.
func Is[T types.BaseMethodFault](err error) bool {
	_, ok := Of(err).(T)
	return ok
}

// Name is the vSphere name of err's fault ("InvalidState"), or "".
func Name(err error) string {
	f := Of(err)
	if f == nil {
		return ""
	}
	return reflect.TypeOf(f).Elem().Name()
}

// serverMessage is what the server said about the fault, if anything:
// the SOAP fault's string, the task's localized message, or the fault's
// own message.
func serverMessage(c faulter, f types.BaseMethodFault) string {
	var msg string
	switch e := c.(type) {
	case Task:
		msg = e.Err.LocalizedMessage
	case task.Error:
		msg = e.LocalizedMessage
	default:
		if soap.IsSoapFault(c) {
			msg = soap.ToSoapFault(c).String
		}
	}
	if msg == "" {
		if m := f.GetMethodFault().FaultMessage; len(m) > 0 {
			msg = m[0].Message
		}
	}
	return strings.TrimSpace(msg)
}

// goTypeName matches what govmomi prints for a fault without a message:
// its Go type, with or without the package ("*types.InvalidState",
// "InvalidState").
var goTypeName = regexp.MustCompile(`^\*?(types\.)?[A-Z][A-Za-z0-9]*$`)

// informative reports whether the server's message says something the
// fault's meaning does not: not empty, not a type name.
func informative(msg string) bool {
	return msg != "" && !goTypeName.MatchString(msg) && !strings.Contains(msg, "types.")
}

// Describe returns what f means, with the facts it carries (the file, the
// privilege, ...), and what to do.
func Describe(f types.BaseMethodFault) (what, todo string) {
	f = pointer(f)
	name := reflect.TypeOf(f).Elem().Name()
	m, ok := meanings[name]
	if !ok {
		m, ok = meanings[strings.TrimSuffix(name, "Fault")] // InvalidPowerStateFault is an InvalidPowerState
	}
	if !ok {
		m = family(f)
	}
	if m.what == "" {
		m = meaning{"vSphere refused it (" + words(name) + ")", "the task in the vSphere client, or the host's logs, say more"}
	}
	what = m.what
	if d := details(f); d != "" {
		what += " (" + d + ")"
	}
	return what, m.todo
}

// Text is err's text for a person. Where err carries a vSphere fault, the
// fault's part of it (which govmomi may print as a Go type) is replaced
// by the fault's meaning, the server's message when it says more, and
// what to do; an error without a fault is its own text.
func Text(err error) string {
	if err == nil {
		return ""
	}
	f, c := find(err)
	if f == nil {
		return err.Error()
	}
	if _, ok := c.(Task); ok {
		return err.Error() // already human
	}
	human := describeWith(f, serverMessage(c, f))
	s, inner := err.Error(), c.Error()
	if s == inner {
		return human
	}
	if inner != "" && strings.Contains(s, inner) {
		return strings.Replace(s, inner, human, 1)
	}
	return s + ": " + human
}

// describeWith is Describe as one line, with the server's message when
// it is informative.
func describeWith(f types.BaseMethodFault, server string) string {
	what, todo := Describe(f)
	if informative(server) && !strings.EqualFold(server, what) {
		what += " (vSphere: " + strings.TrimSuffix(server, ".") + ")"
	}
	if todo == "" {
		return what
	}
	return what + "; " + todo
}

// NotFound reports whether err's fault says the object no longer exists.
func NotFound(err error) bool {
	_, ok := Of(err).(*types.ManagedObjectNotFound)
	return ok
}

// InvalidState reports whether err's fault says the object's state forbids
// the operation (InvalidState and every fault of its family: a power
// state, a host in maintenance mode, a pending question, ...).
func InvalidState(err error) bool {
	_, ok := Of(err).(types.BaseInvalidState)
	return ok
}

// Task is a failed task's error as taskwait returns it: its task.Error
// (the fault, the server's message, the description) with a text that is
// the fault's meaning rather than govmomi's, which is the fault's Go type
// when the task has no message.
type Task struct{ Err task.Error }

func (e Task) Error() string {
	if e.Err.LocalizedMethodFault == nil || e.Err.LocalizedMethodFault.Fault == nil {
		return "the task failed without saying why"
	}
	return describeWith(pointer(e.Err.Fault()), e.Err.LocalizedMessage)
}

// Fault is the task's fault.
func (e Task) Fault() types.BaseMethodFault {
	if e.Err.LocalizedMethodFault == nil {
		return nil
	}
	return e.Err.Fault()
}

// Unwrap lets errors.As find the task.Error.
func (e Task) Unwrap() error { return e.Err }

// words spells a fault's type name as words: "InvalidDatastorePath" →
// "invalid datastore path".
func words(name string) string {
	var b strings.Builder
	rs := []rune(strings.TrimSuffix(name, "Fault"))
	for i, r := range rs {
		// "VMs" stays one word: an acronym's plural s does not start one
		plural := i > 0 && unicode.IsUpper(rs[i-1]) && i+1 < len(rs) && rs[i+1] == 's' && (i+2 == len(rs) || unicode.IsUpper(rs[i+2]))
		if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) || (!plural && i+1 < len(rs) && unicode.IsLower(rs[i+1]))) {
			b.WriteByte(' ')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	if b.Len() == 0 {
		return "a fault"
	}
	return b.String()
}
