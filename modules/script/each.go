package script

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// ForEach says, from a script's source and before it runs, whether the
// script is written for 'vmlua run --each': it declares its arguments in a
// script.args{...} table that declares vm with each = true. It returns nil
// when it is, and otherwise an error naming the script and saying why and
// what to do. The rule is the declaration, not a guess from what the script
// reads: a script whose vm= is something else (restore.lua's VM name) or
// that ignores it would do its whole job once per VM.
func ForEach(name, src string) error {
	chunk, err := parse.Parse(strings.NewReader(src), name)
	if err != nil {
		return fmt.Errorf("%s cannot be parsed: %v", name, err)
	}
	mods := map[string]bool{} // locals and globals bound to require "script"
	walk(reflect.ValueOf(chunk), func(n any) {
		switch s := n.(type) {
		case *ast.LocalAssignStmt:
			for i, e := range s.Exprs {
				if i < len(s.Names) && requiresScript(e) {
					mods[s.Names[i]] = true
				}
			}
		case *ast.AssignStmt:
			for i, e := range s.Rhs {
				if id, ok := lhsIdent(s.Lhs, i); ok && requiresScript(e) {
					mods[id] = true
				}
			}
		}
	})
	declared, each := false, false
	walk(reflect.ValueOf(chunk), func(n any) {
		call, ok := n.(*ast.FuncCallExpr)
		if !ok || call.Receiver != nil || len(call.Args) != 1 {
			return
		}
		get, ok := call.Func.(*ast.AttrGetExpr)
		if !ok || stringValue(get.Key) != "args" {
			return
		}
		if id, ok := get.Object.(*ast.IdentExpr); !(ok && mods[id.Value]) && !requiresScript(get.Object) {
			return
		}
		spec, ok := call.Args[0].(*ast.TableExpr)
		if !ok {
			return
		}
		declared = true
		for _, f := range spec.Fields {
			if stringValue(f.Key) != EachArg {
				continue
			}
			if d, ok := f.Value.(*ast.TableExpr); ok {
				for _, df := range d.Fields {
					if _, yes := df.Value.(*ast.TrueExpr); yes && stringValue(df.Key) == "each" {
						each = true
					}
				}
			}
		}
	})
	const how = "declare vm = { each = true, help = \"...\" } in its script.args{...} and work on the one VM a.vm names"
	switch {
	case each:
		return nil
	case !declared:
		return fmt.Errorf("%s is not written for --each: it does not declare its arguments (script.args{...}), so nothing says it works on the one VM --each hands it as vm=; "+
			"run it without --each (its own selection picks the VMs), or %s", name, how)
	default:
		return fmt.Errorf("%s is not written for --each: its script.args{...} does not declare vm with each = true, so it would ignore the VM --each hands it and do its whole job once per VM; "+
			"run it without --each (its own selection argument, e.g. vms=, picks the VMs), or %s", name, how)
	}
}

// requiresScript reports whether e is require "script" (or require("script")).
func requiresScript(e ast.Expr) bool {
	call, ok := e.(*ast.FuncCallExpr)
	if !ok || call.Receiver != nil || len(call.Args) != 1 {
		return false
	}
	id, ok := call.Func.(*ast.IdentExpr)
	return ok && id.Value == "require" && stringValue(call.Args[0]) == "script"
}

func lhsIdent(lhs []ast.Expr, i int) (string, bool) {
	if i >= len(lhs) {
		return "", false
	}
	id, ok := lhs[i].(*ast.IdentExpr)
	if !ok {
		return "", false
	}
	return id.Value, true
}

func stringValue(e ast.Expr) string {
	if s, ok := e.(*ast.StringExpr); ok {
		return s.Value
	}
	return ""
}

// walk calls fn for every node (pointer) of the syntax tree below v,
// depth first.
func walk(v reflect.Value, fn func(any)) {
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() {
			walk(v.Elem(), fn)
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		fn(v.Interface())
		walk(v.Elem(), fn)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				walk(v.Field(i), fn)
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			walk(v.Index(i), fn)
		}
	}
}
