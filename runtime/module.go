package runtime

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Module is a Lua module as vmlua registers it: its functions, the object
// types it hands out, and their documentation. The API reference, the
// lua-language-server definitions and 'vmlua check' are generated from
// these values, so a function cannot exist without its documentation.
type Module struct {
	Name    string // what require takes: "vm"
	Summary string // one line
	Doc     string // paragraphs for the reference (Markdown)
	Funcs   []Func
	Fields  []Field // constant fields of the module table
	Types   []*Type
	// Setup, when set, runs once per state after the table is built (to add
	// computed fields, or per-run state).
	Setup func(r *Run, L *lua.LState, mod *lua.LTable)
}

// Func is one function of a module, or one method of a type.
type Func struct {
	Name    string
	Args    []Arg
	Returns string // Lua type of the result(s), e.g. "VM|nil", "table"
	Doc     string // one or more sentences; required
	Fn      func(r *Run, L *lua.LState) int
}

// Arg documents one argument.
type Arg struct {
	Name     string
	Type     string // "string", "number", "table", "VM|string", "function", "any"
	Optional bool
	Doc      string
	// Options are the keys of an argument that is a table of options
	// (see Option); Doc then says what the table is, and the reference
	// lists the options under it.
	Options []Option
}

// Field documents a field of a module table or of an object.
type Field struct {
	Name  string
	Type  string
	Doc   string
	Value lua.LValue // for module constants; nil for object fields
}

// Type is an object type handed to scripts as userdata (a VM, a transport
// handle, ...). Methods are called with ':'.
type Type struct {
	Name    string // "VM"; the metatable is registered as "vmlua.VM"
	Summary string
	Methods []Func
	Fields  []Field
	// Get returns an object field; nil when the key is not a field.
	Get func(r *Run, L *lua.LState, obj any, key string) lua.LValue
	// String renders the object for tostring().
	String func(obj any) string
}

// MinArgs and MaxArgs count the declared arguments (for 'vmlua check').
func (f Func) MinArgs() int {
	n := 0
	for _, a := range f.Args {
		if !a.Optional {
			n++
		}
	}
	return n
}

// MaxArgs is the number of declared arguments; -1 when the last is "...".
func (f Func) MaxArgs() int {
	if len(f.Args) > 0 && f.Args[len(f.Args)-1].Name == "..." {
		return -1
	}
	return len(f.Args)
}

// Signature renders "name(a, b [, c])".
func (f Func) Signature() string {
	var b strings.Builder
	b.WriteString(f.Name + "(")
	opt := 0
	for i, a := range f.Args {
		if a.Optional {
			if i > 0 {
				b.WriteString(" [, ")
			} else {
				b.WriteString("[")
			}
			opt++
		} else if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.Name)
	}
	b.WriteString(strings.Repeat("]", opt))
	b.WriteString(")")
	return b.String()
}

// Validate reports documentation that is missing: every function,
// argument, field and type must say what it is.
func (m *Module) Validate() error {
	var missing []string
	if m.Summary == "" {
		missing = append(missing, "module summary")
	}
	check := func(owner string, fs []Func) {
		seen := map[string]bool{}
		for _, f := range fs {
			if seen[f.Name] {
				missing = append(missing, owner+f.Name+" (defined twice)")
			}
			seen[f.Name] = true
			if strings.TrimSpace(f.Doc) == "" {
				missing = append(missing, owner+f.Name)
			}
			if f.Fn == nil {
				missing = append(missing, owner+f.Name+" (no implementation)")
			}
			for _, a := range f.Args {
				if a.Type == "" {
					missing = append(missing, owner+f.Name+" argument "+a.Name+" (type)")
				}
				if strings.TrimSpace(a.Doc) == "" {
					missing = append(missing, owner+f.Name+" argument "+a.Name)
				}
				missing = append(missing, validateOptions(owner+f.Name+" argument "+a.Name, a.Options)...)
			}
		}
	}
	check(m.Name+".", m.Funcs)
	fields := func(owner string, fs []Field) {
		for _, fl := range fs {
			if strings.TrimSpace(fl.Doc) == "" {
				missing = append(missing, owner+fl.Name)
			}
			if fl.Type == "" {
				missing = append(missing, owner+fl.Name+" (type)")
			}
		}
	}
	fields(m.Name+".", m.Fields)
	for _, t := range m.Types {
		if t.Summary == "" {
			missing = append(missing, "type "+t.Name)
		}
		check(t.Name+":", t.Methods)
		fields(t.Name+".", t.Fields)
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("module %s lacks documentation for: %s", m.Name, strings.Join(missing, ", "))
	}
	return nil
}

// Method returns the type's method by name.
func (t *Type) Method(name string) (Func, bool) {
	for _, f := range t.Methods {
		if f.Name == name {
			return f, true
		}
	}
	return Func{}, false
}

// Func returns the module's function by name.
func (m *Module) Func(name string) (Func, bool) {
	for _, f := range m.Funcs {
		if f.Name == name {
			return f, true
		}
	}
	return Func{}, false
}

func metatableName(t *Type) string { return "vmlua." + t.Name }

// open builds the module table in L.
func (m *Module) open(r *Run, L *lua.LState) *lua.LTable {
	for _, t := range m.Types {
		r.registerType(L, t)
	}
	mod := L.NewTable()
	for _, f := range m.Funcs {
		mod.RawSetString(f.Name, r.wrap(L, m.Name+"."+f.Name, f.Fn))
	}
	for _, fl := range m.Fields {
		if fl.Value != nil {
			mod.RawSetString(fl.Name, fl.Value)
		}
	}
	if m.Setup != nil {
		m.Setup(r, L, mod)
	}
	return mod
}

// registerType creates the metatable of t (once per state), with the
// methods the run's modules give it (see Extend).
func (r *Run) registerType(L *lua.LState, t *Type) {
	if own, ok := r.types[t.Name]; ok {
		t = own
	}
	name := metatableName(t)
	if _, ok := L.GetTypeMetatable(name).(*lua.LTable); ok {
		return
	}
	mt := L.NewTypeMetatable(name)
	methods := map[string]lua.LValue{}
	for _, f := range t.Methods {
		methods[f.Name] = r.wrap(L, t.Name+":"+f.Name, f.Fn)
	}
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		ud := L.CheckUserData(1)
		key := L.CheckString(2)
		if m, ok := methods[key]; ok {
			L.Push(m)
			return 1
		}
		if t.Get != nil {
			if v := t.Get(r, L, ud.Value, key); v != nil {
				L.Push(v)
				return 1
			}
		}
		// A key close to a method or field is a typo: say so now, as
		// 'vmlua check' does, rather than let the call fail with "attempt
		// to call a non-function object". Other keys read as nil.
		if hint := suggest(key, typeNames(t)); hint != "" {
			return r.RaiseCode(L, CodeInvalidArg, "%s objects have no field or method %q%s", t.Name, key, hint)
		}
		L.Push(lua.LNil)
		return 1
	}))
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("%s objects are read-only (tried to set %q)", t.Name, L.CheckString(2))
		return 0
	}))
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		ud := L.CheckUserData(1)
		s := t.Name
		if t.String != nil {
			s = t.String(ud.Value)
		}
		L.Push(lua.LString(s))
		return 1
	}))
	// Scripts cannot read or replace the metatable of vmlua objects.
	mt.RawSetString("__metatable", lua.LString("vmlua."+t.Name))
}

// NewObject wraps a Go value as an object of type t.
func (r *Run) NewObject(L *lua.LState, t *Type, v any) *lua.LUserData {
	r.registerType(L, t)
	ud := L.NewUserData()
	ud.Value = v
	L.SetMetatable(ud, L.GetTypeMetatable(metatableName(t)))
	return ud
}

// CheckObject returns argument n as an object of type t, or raises an
// argument error naming the expected type.
func (r *Run) CheckObject(L *lua.LState, n int, t *Type) any {
	ud, ok := L.Get(n).(*lua.LUserData)
	if ok && ud.Metatable == L.GetTypeMetatable(metatableName(t)) {
		return ud.Value
	}
	L.ArgError(n, t.Name+" expected, got "+L.Get(n).Type().String())
	return nil
}

// IsObject reports whether v is an object of type t.
func IsObject(L *lua.LState, v lua.LValue, t *Type) (any, bool) {
	ud, ok := v.(*lua.LUserData)
	if ok && ud.Metatable == L.GetTypeMetatable(metatableName(t)) {
		return ud.Value, true
	}
	return nil, false
}

// wrap turns a module function into an LGFunction bound to the run. It
// refuses calls after the run's context ended, so that no Go work starts
// once the run is being cancelled.
func (r *Run) wrap(L *lua.LState, name string, fn func(r *Run, L *lua.LState) int) *lua.LFunction {
	return L.NewFunction(func(L *lua.LState) int {
		if err := r.Context().Err(); err != nil {
			return r.Raise(L, Wrap(err, CodeCanceled))
		}
		return fn(r, L)
	})
}

// Extend returns mods with fs added to the methods of the type named
// t.Name that one of them owns: how one module adds methods to another's
// type when the owner cannot list them (the backup module's v:backup on
// the vm module's VM; vm cannot import backup, which imports it). The
// modules and types given are not changed: the result holds copies of
// the owning module and of its type. A run, 'vmlua check' and the
// reference see the added methods as the type's own. It panics when no
// module owns the type or a method is defined twice, as a module list
// with either is a programming error.
func Extend(mods []*Module, t *Type, fs ...Func) []*Module {
	out := slices.Clone(mods)
	for i, m := range out {
		for j, owned := range m.Types {
			if owned.Name != t.Name {
				continue
			}
			ext := *owned
			ext.Methods = slices.Concat(owned.Methods, fs)
			for _, f := range fs {
				if _, dup := owned.Method(f.Name); dup {
					panic(fmt.Sprintf("runtime.Extend: %s:%s is defined twice", t.Name, f.Name))
				}
			}
			mod := *m
			mod.Types = slices.Clone(m.Types)
			mod.Types[j] = &ext
			out[i] = &mod
			return out
		}
	}
	panic(fmt.Sprintf("runtime.Extend: no module owns type %s", t.Name))
}
