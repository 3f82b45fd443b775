package script

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/vmlua/vmlua/runtime"
	lua "github.com/yuin/gopher-lua"
)

// Module is the "script" Lua module.
var Module = &runtime.Module{
	Name:    "script",
	Summary: "The script's arguments, exit status and result rows: script.args{...}, script.status(s), script.exit(s), script.result{...}.",
	Doc: "A script declares the key=value arguments it takes with `script.args`, so that `vmlua run x.lua kepe=2` ends with " +
		"exit status 2 (usage) and `unknown argument kepe (did you mean keep?)` instead of silently using the default. The global `arg` keeps working " +
		"(arg[1..n] positional, arg.KEY as strings) for scripts that do not declare; every shipped script and example declares.\n\n" +
		"A script written for `vmlua run --each` says so in its declaration: `vm = { each = true, help = \"...\" }`. " +
		"--each hands every run its VM as vm=moref:vm-N, and refuses, before anything runs, a script whose source does not declare " +
		"vm with each = true in a `script.args{...}` table (a script that ignored vm would do its whole job once per VM).\n\n" +
		"A selection that matches nothing ends the script with `script.nothing_selected(message)`: exit 6, or 0 when the run " +
		"was given allow_empty=true (declare it: `allow_empty = { type = \"boolean\", default = false }`) or --allow-empty.\n\n" +
		"Exit statuses (docs/operations.md): a script that returns normally ends with 0 unless it set another with " +
		"`script.status`; an error ends it with 1. The names a script may use are `ok` (0), `failed` (1), " +
		"`nothing_selected` (6: the selection matched no VM) and `partial` (7: the run finished but left something out — " +
		"a skipped disk, a question left for a person); any number 0..125 works too.\n\n" +
		"`print` writes one line to standard output, tab-separated, as Lua's print does; logs go to stderr. " +
		"With `vmlua run --json` the rows recorded by `script.result` and the final status are printed to stdout as one " +
		"JSON object when the run ends — `{\"script\":..., \"status\":\"ok\", \"exit\":0, \"results\":[{...}, ...]}` — " +
		"and `print` goes to stderr so that stdout stays valid JSON.",
	Funcs: []runtime.Func{
		{
			Name: "args",
			Args: []runtime.Arg{{Name: "spec", Type: "table", Doc: "one entry per key=value argument: name = {type=, default=, required=, help=}; vm = {each=true, ...} marks a script written for vmlua run --each", Options: []runtime.Option{
				{Name: "*", Type: "table", Doc: "the argument's declaration", Options: declOptions},
			}}},
			Returns: "table",
			Doc: "Parses the run's key=value arguments against spec and returns them: each declared key holds its value converted to its type " +
				"(number; boolean from true/false, yes/no, on/off, 1/0; list from a comma-separated string, as a table of strings), " +
				"or its default, or nil; positional arguments are at [1..n]. An undeclared key ends the script at once with exit status 2 (usage), naming the closest " +
				"declared one (\"unknown argument kepe (did you mean keep?)\"), as do a missing required argument and a value of the wrong type " +
				"(a mistake in the spec itself is a script error, exit 1). " +
				"Keys the host adds itself (vm and vm_name with --each, allow_empty with --allow-empty) are accepted without a declaration. " +
				"each=true is allowed on vm only: it says the script works on the one VM vm= names, so vmlua run --each may run it once per VM.",
			Fn: luaArgs,
		},
		{
			Name:    "nothing_selected",
			Args:    []runtime.Arg{{Name: "message", Type: "string", Doc: "what matched nothing, e.g. \"no VM matches name:DB1: nothing was backed up\""}},
			Returns: "nil",
			Doc: "Ends the script now because its selection matched nothing: with exit status 6 (nothing_selected) and the message " +
				"(\"; give allow_empty=true if that is expected\" added), or, when the run's arguments hold allow_empty=true " +
				"(or vmlua run --allow-empty gave it), with 0 and the message logged. Like script.exit it stops the script at once and the cleanup stack runs. " +
				"The one rule every shipped script and example follows: a typo in a selection must not look like a night of backups.",
			Fn: luaNothingSelected,
		},
		{
			Name:    "status",
			Args:    []runtime.Arg{{Name: "status", Type: "string|number", Doc: `"ok", "failed", "nothing_selected", "partial", or a number 0..125`}},
			Returns: "nil",
			Doc:     "Sets the exit status the run ends with if the script then returns normally (the last call wins). An error raised later still ends the run with 1.",
			Fn: func(r *runtime.Run, L *lua.LState) int {
				r.SetStatus(checkStatus(L, 1))
				return 0
			},
		},
		{
			Name: "exit",
			Args: []runtime.Arg{
				{Name: "status", Type: "string|number", Doc: `"ok", "failed", "nothing_selected", "partial", or a number 0..125`},
				{Name: "message", Type: "string", Optional: true, Doc: "why, reported once: on stderr for a non-zero status, in the log otherwise"},
			},
			Returns: "nil",
			Doc: "Ends the script now with this status: it stops at once, whatever pcall it is in, and the cleanup stack runs " +
				"(REDO logs are committed) as after any other end. Use it for an early, deliberate stop; errors are for failures.",
			Fn: func(r *runtime.Run, L *lua.LState) int {
				st := checkStatus(L, 1)
				msg := L.OptString(2, "")
				r.Exit(st, msg, strings.TrimSuffix(L.Where(1), ":"))
				L.RaiseError("script.exit")
				return 0
			},
		},
		{
			Name:    "result",
			Args:    []runtime.Arg{{Name: "row", Type: "table", Doc: "a flat table: string keys; string, number or boolean values (e.g. vm=, target=, status=, bytes=, set=, message=)"}},
			Returns: "nil",
			Doc: "Records one result row. With `vmlua run --json` the rows are printed as JSON when the run ends; " +
				"`--summary=line` counts them by their status field. Nothing is printed otherwise: print a table of your own for people.",
			Fn: func(r *runtime.Run, L *lua.LState) int {
				r.AddResult(checkRow(L, 1))
				return 0
			},
		},
	},
}

// checkStatus reads argument n as an exit status.
func checkStatus(L *lua.LState, n int) int {
	switch v := L.Get(n).(type) {
	case lua.LString:
		if c, ok := runtime.StatusCode(string(v)); ok {
			return c
		}
		L.ArgError(n, fmt.Sprintf("unknown status %q: want %s, or a number 0..%d", string(v), strings.Join(runtime.StatusNames(), ", "), runtime.ExitMax))
	case lua.LNumber:
		f := float64(v)
		if f != math.Trunc(f) || f < 0 || f > runtime.ExitMax {
			L.ArgError(n, fmt.Sprintf("status %v: want a whole number 0..%d", f, runtime.ExitMax))
		}
		return int(f)
	default:
		L.ArgError(n, "status expected: a name ("+strings.Join(runtime.StatusNames(), ", ")+") or a number, got "+v.Type().String())
	}
	return 0
}

// checkRow reads argument n as a flat result row.
func checkRow(L *lua.LState, n int) map[string]any {
	t := L.CheckTable(n)
	row := map[string]any{}
	t.ForEach(func(k, v lua.LValue) {
		ks, ok := k.(lua.LString)
		if !ok {
			L.ArgError(n, "result rows have string keys only, got a "+k.Type().String()+" key")
		}
		switch v := v.(type) {
		case lua.LString:
			row[string(ks)] = string(v)
		case lua.LBool:
			row[string(ks)] = bool(v)
		case lua.LNumber:
			if f := float64(v); f == math.Trunc(f) && math.Abs(f) < 1<<53 {
				row[string(ks)] = int64(f)
			} else {
				row[string(ks)] = f
			}
		default:
			L.ArgError(n, fmt.Sprintf("result field %s is a %s: rows are flat (strings, numbers, booleans)", string(ks), v.Type()))
		}
	})
	return row
}

// decl is one declared argument.
type decl struct {
	name, typ, help string
	required, each  bool
	def             lua.LValue
}

// declOptions are the fields of one argument's declaration in
// script.args: luaArgs accepts these and no others, the reference lists
// them and vmlua check checks a declaration written out against them.
var declOptions = []runtime.Option{
	{Name: "type", Type: "string", Enum: argTypes, Default: `"string"`, Doc: "what the value is converted to"},
	{Name: "default", Type: "any", Doc: "the value when the argument is not given"},
	{Name: "required", Type: "boolean", Default: "false", Doc: "a run without it fails"},
	{Name: "help", Type: "string", Doc: "what it is, for the error that lists the arguments"},
	{Name: "each", Type: "boolean", Default: "false", Doc: "on vm only: the script is written for vmlua run --each, which hands every run its VM as vm="},
}

var argTypes = []string{"string", "number", "boolean", "list"}

// EachArg is the argument vmlua run --each hands every run (vm=moref:vm-N);
// a script written for --each declares it with each = true.
const EachArg = "vm"

// usage ends the script at once with exit status 2 (usage): the run was
// given arguments the script does not take. It is not an error a pcall
// may catch: the script must not go on with a default it did not mean.
func usage(r *runtime.Run, L *lua.LState, format string, args ...any) int {
	r.Exit(runtime.ExitUsage, fmt.Sprintf(format, args...), strings.TrimSuffix(L.Where(1), ":"))
	L.RaiseError("script.args")
	return 0
}

func luaArgs(r *runtime.Run, L *lua.LState) int {
	spec := L.CheckTable(1)
	decls := map[string]*decl{}
	var names []string
	spec.ForEach(func(k, v lua.LValue) {
		name, ok := k.(lua.LString)
		if !ok {
			L.ArgError(1, "argument names are strings: name = {type=..., help=...}")
		}
		d := &decl{name: string(name), typ: "string", def: lua.LNil}
		dt, ok := v.(*lua.LTable)
		if !ok {
			L.ArgError(1, fmt.Sprintf("the declaration of %s is a %s: want a table {type=, default=, required=, help=, each=}", name, v.Type()))
		}
		dt.ForEach(func(fk, fv lua.LValue) {
			f := fk.String()
			if _, ok := runtime.LookupOption(declOptions, f); !ok {
				L.ArgError(1, fmt.Sprintf("the declaration of %s has an unknown field %q: fields are %s", name, f, strings.Join(runtime.OptionNames(declOptions), ", ")))
			}
			switch f {
			case "type":
				d.typ = fv.String()
				if !contains(argTypes, d.typ) {
					L.ArgError(1, fmt.Sprintf("argument %s has type %q: want %s", name, d.typ, strings.Join(argTypes, ", ")))
				}
			case "default":
				d.def = fv
			case "required":
				d.required = lua.LVAsBool(fv)
			case "help":
				d.help = fv.String()
			case "each":
				d.each = lua.LVAsBool(fv)
				if d.each && d.name != EachArg {
					L.ArgError(1, fmt.Sprintf("each = true belongs on the argument %s (the VM vmlua run --each hands every run), not on %s", EachArg, name))
				}
			}
		})
		decls[d.name] = d
		names = append(names, d.name)
	})
	sort.Strings(names)
	host := map[string]bool{}
	for _, k := range r.Options().HostArgs {
		host[k] = true
	}

	out := L.NewTable()
	pos, kv := runtime.SplitArgs(r.Options().Args)
	for i, a := range pos {
		out.RawSetInt(i+1, lua.LString(a))
	}
	given := map[string]string{}
	for _, p := range kv {
		if decls[p.Key] == nil && !host[p.Key] {
			return usage(r, L, "%s", unknownMessage(p.Key, names))
		}
		given[p.Key] = p.Value
	}
	for k := range host {
		if v, ok := given[k]; ok && decls[k] == nil {
			out.RawSetString(k, lua.LString(v))
		}
	}
	for _, name := range names {
		d := decls[name]
		s, ok := given[name]
		if !ok {
			if d.required {
				return usage(r, L, "missing argument %s=...%s", name, helpSuffix(d))
			}
			if d.typ == "list" {
				if ds, ok := d.def.(lua.LString); ok {
					out.RawSetString(name, list(L, string(ds)))
					continue
				}
			}
			out.RawSetString(name, d.def)
			continue
		}
		v, err := convert(L, d.typ, s)
		if err != "" {
			return usage(r, L, "argument %s=%s: %s%s", name, s, err, helpSuffix(d))
		}
		out.RawSetString(name, v)
	}
	L.Push(out)
	return 1
}

// luaNothingSelected is script.nothing_selected(message).
func luaNothingSelected(r *runtime.Run, L *lua.LState) int {
	msg := L.CheckString(1)
	where := strings.TrimSuffix(L.Where(1), ":")
	allow, bad := allowEmpty(L, r.Options().Args)
	if bad != "" {
		return usage(r, L, "argument allow_empty=%s: want true or false (yes/no, on/off, 1/0)", bad)
	}
	if allow {
		r.Exit(runtime.ExitOK, msg+" (allow_empty=true: not a failure)", where)
	} else {
		r.Exit(runtime.ExitNothingSelected, msg+"; give allow_empty=true if that is expected", where)
	}
	L.RaiseError("script.nothing_selected")
	return 0
}

// allowEmpty reads allow_empty= from the run's arguments (the last one
// wins); bad is a value that is not a boolean.
func allowEmpty(L *lua.LState, args []string) (allow bool, bad string) {
	_, kv := runtime.SplitArgs(args)
	for _, p := range kv {
		if p.Key != "allow_empty" {
			continue
		}
		v, err := convert(L, "boolean", p.Value)
		if err != "" {
			return false, p.Value
		}
		allow, bad = v == lua.LTrue, ""
	}
	return allow, bad
}

func unknownMessage(key string, names []string) string {
	msg := "unknown argument " + key
	if best := runtime.Closest(key, names); best != "" {
		msg += " (did you mean " + best + "?)"
	}
	if len(names) == 0 {
		return msg + "; this script takes no key=value arguments"
	}
	return msg + "; this script takes: " + strings.Join(names, ", ")
}

func helpSuffix(d *decl) string {
	if d.help == "" {
		return ""
	}
	return " (" + d.name + ": " + d.help + ")"
}

func convert(L *lua.LState, typ, s string) (lua.LValue, string) {
	switch typ {
	case "number":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, "want a number"
		}
		return lua.LNumber(f), ""
	case "boolean":
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true", "yes", "on", "1":
			return lua.LTrue, ""
		case "false", "no", "off", "0":
			return lua.LFalse, ""
		}
		return nil, "want true or false (yes/no, on/off, 1/0)"
	case "list":
		return list(L, s), ""
	}
	return lua.LString(s), ""
}

func list(L *lua.LState, s string) *lua.LTable {
	t := L.NewTable()
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			t.Append(lua.LString(p))
		}
	}
	return t
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
