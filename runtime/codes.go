package runtime

import (
	"sort"

	lua "github.com/yuin/gopher-lua"
)

// ErrorCode is one value of err.code with what it means, for the API
// reference.
type ErrorCode struct {
	Code    string
	Meaning string
}

// ErrorCodes returns every error code of the Lua API, in the order of
// their constants in errors.go. The reference (docs/lua-api.md) renders
// this list; a test fails when a Code constant is missing from it.
func ErrorCodes() []ErrorCode {
	return []ErrorCode{
		{CodeError, "anything without a more precise code"},
		{CodeInvalidArg, "a bad argument: fix the script"},
		{CodeNotFound, "a VM, disk or path does not exist"},
		{CodeAmbiguous, "a look-up matched several objects"},
		{CodeNotGranted, "outside what the operator granted"},
		{CodeSandbox, "refused by the sandbox"},
		{CodeTimeout, "the run's --timeout expired"},
		{CodeCanceled, "SIGINT/SIGTERM or cancellation"},
		{CodeVSphere, "the vSphere API reported a fault"},
		{CodeTransport, "a transport operation failed"},
		{CodeAuth, "credentials or host key refused"},
		{CodeConflict, "the target is in a state that forbids it"},
		{CodeQuestion, "a VM is waiting for an answer"},
		{CodeVerify, "bytes or checksums do not match"},
		{CodeInvalidState, "the object is in the wrong state for the call, e.g. export without add_redo"},
		{CodeConfig, "the operator's configuration lacks what the call needs (no vSphere endpoint, an unknown profile or credentials name); the run exits 3"},
	}
}

// Library is one standard Lua library as the sandbox presents it.
type Library struct {
	Name      string
	Available bool     // false: the library is replaced by a stub that refuses every access
	Functions []string // the functions a script gets (sorted); for base, every global function
	Removed   []string // functions taken out of an available library, each "name: why"
	Note      string   // for a refused library, why
}

// libraryNotes add what the function list does not show.
var libraryNotes = map[string]string{
	"string": "rep, format and the pattern functions (find, match, gmatch, gsub) are bounded",
	"table":  "concat is bounded",
}

// SandboxLibraries describes the standard libraries a script's state
// really has: it builds a sandboxed state and looks, so the reference
// cannot drift from NewState.
func SandboxLibraries() []Library {
	r, err := New(Options{Limits: Limits{MemoryBytes: -1}})
	if err != nil {
		return nil
	}
	defer r.Close()
	L := r.NewState()
	defer L.Close()

	base := Library{Name: "base", Available: true}
	var libs []Library
	L.G.Global.ForEach(func(k, v lua.LValue) {
		name := k.String()
		switch v := v.(type) {
		case *lua.LFunction:
			if _, gone := removedGlobals[name]; !gone && name != "require" && name != "print" {
				base.Functions = append(base.Functions, name)
			}
		case *lua.LTable:
			if why, gone := removedLibs[name]; gone {
				libs = append(libs, Library{Name: name, Note: why})
				return
			}
			if name == "_G" || name == "arg" {
				return
			}
			lib := Library{Name: name, Available: true, Note: libraryNotes[name]}
			v.ForEach(func(fk, fv lua.LValue) {
				if _, ok := fv.(*lua.LFunction); !ok {
					return
				}
				fn := fk.String()
				if name == "os" && !osAllowed[fn] {
					lib.Removed = append(lib.Removed, fn+": reaches the host system outside the sandbox")
					return
				}
				lib.Functions = append(lib.Functions, fn)
			})
			sort.Strings(lib.Functions)
			sort.Strings(lib.Removed)
			libs = append(libs, lib)
		}
	})
	base.Functions = append(base.Functions, "print", "require")
	sort.Strings(base.Functions)
	for name, why := range removedGlobals {
		base.Removed = append(base.Removed, name+": "+why)
	}
	sort.Strings(base.Removed)
	base.Note = "print writes one line to standard output (tab-separated, like Lua's; to stderr with --json); logs go to stderr; require loads vmlua modules and the --lib directory only; load and loadstring compile source, never bytecode"
	sort.Slice(libs, func(i, j int) bool {
		if libs[i].Available != libs[j].Available {
			return libs[i].Available
		}
		return libs[i].Name < libs[j].Name
	})
	return append([]Library{base}, libs...)
}
