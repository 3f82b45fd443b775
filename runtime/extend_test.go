package runtime_test

import (
	"strings"
	"testing"

	"github.com/vmlua/vmlua/runtime"
	lua "github.com/yuin/gopher-lua"
)

var boxType = &runtime.Type{Name: "Box", Summary: "a number", Methods: []runtime.Func{{
	Name: "get", Returns: "number", Doc: "the number", Fn: boxGet}}}

func boxGet(r *runtime.Run, L *lua.LState) int {
	L.Push(lua.LNumber(L.CheckUserData(1).Value.(int)))
	return 1
}

var boxModule = &runtime.Module{Name: "box", Summary: "boxes", Types: []*runtime.Type{boxType}, Funcs: []runtime.Func{{
	Name: "new", Returns: "Box", Doc: "a box holding 21",
	Fn: func(r *runtime.Run, L *lua.LState) int {
		L.Push(r.NewObject(L, boxType, 21)) // the owner's type, not the extended copy
		return 1
	}}}}

var twice = runtime.Func{Name: "twice", Returns: "number", Doc: "twice the number", Fn: boxTwice}

func boxTwice(r *runtime.Run, L *lua.LState) int {
	L.Push(lua.LNumber(2 * r.CheckObject(L, 1, boxType).(int)))
	return 1
}

// TestExtendAddsMethodsToAnotherModulesType: the added method is the
// type's in a run and in 'vmlua check'; the modules given are unchanged.
func TestExtendAddsMethodsToAnotherModulesType(t *testing.T) {
	extended := runtime.Extend([]*runtime.Module{boxModule}, boxType, twice)
	src := `local box = require "box"; assert(box.new():twice() == 42)`
	for _, tc := range []struct {
		name     string
		mods     []*runtime.Module
		wantCode string // of the run
		findings int    // of check
	}{
		{"the extended modules have the method", extended, "", 0},
		{"the modules given have not", []*runtime.Module{boxModule}, "error", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runScript(t, src, func(o *runtime.Options) { o.Modules = tc.mods })
			if res.code() != tc.wantCode {
				t.Errorf("run: code %q, want %q (%v)", res.code(), tc.wantCode, res.err)
			}
			if f := runtime.Check("t.lua", src, tc.mods); len(f) != tc.findings {
				t.Errorf("check: %v, want %d findings", f, tc.findings)
			}
		})
	}
	if len(boxType.Methods) != 1 || boxModule.Types[0] != boxType {
		t.Error("Extend changed the module or type it was given")
	}
}

func TestExtendRefusesProgrammingErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		typ  *runtime.Type
		f    runtime.Func
		want string
	}{
		{"a method the type has", boxType, boxType.Methods[0], "Box:get is defined twice"},
		{"a type no module owns", &runtime.Type{Name: "Crate"}, twice, "no module owns type Crate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if p, _ := recover().(string); !strings.Contains(p, tc.want) {
					t.Errorf("panic %q, want %q", p, tc.want)
				}
			}()
			runtime.Extend([]*runtime.Module{boxModule}, tc.typ, tc.f)
		})
	}
}
