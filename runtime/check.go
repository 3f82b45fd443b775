package runtime

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// Finding is one problem 'vmlua check' reports.
type Finding struct {
	File    string
	Line    int
	Message string
}

func (f Finding) String() string { return fmt.Sprintf("%s:%d: %s", f.File, f.Line, f.Message) }

// Check compiles a script and reports, without running it, calls of vmlua
// module functions that do not exist or get the wrong number of arguments,
// and calls of methods that vmlua objects do not have. It knows a module by
// the local it was required into (local vm = require "vm") and an object by
// the local it was assigned from a module function (local v = vm.open(x)).
// A syntax error is returned as the only finding.
func Check(file, src string, modules []*Module) []Finding {
	chunk, err := parse.Parse(strings.NewReader(src), file)
	if err != nil {
		return []Finding{{File: file, Line: syntaxLine(err.Error()), Message: "syntax error: " + err.Error()}}
	}
	c := &checker{file: file, modules: map[string]*Module{}, types: map[string]*Type{}, bound: map[string]*Module{}, objs: map[string]*Type{}}
	for _, m := range modules {
		c.modules[m.Name] = m
		for _, t := range m.Types {
			c.types[t.Name] = t
		}
	}
	c.walk(reflect.ValueOf(chunk))
	sort.SliceStable(c.out, func(i, j int) bool { return c.out[i].Line < c.out[j].Line })
	return c.out
}

func syntaxLine(msg string) int {
	var line int
	if i := strings.Index(msg, "line:"); i >= 0 {
		fmt.Sscanf(msg[i+5:], "%d", &line)
	}
	return line
}

type checker struct {
	file    string
	modules map[string]*Module
	types   map[string]*Type
	bound   map[string]*Module // local name -> module
	objs    map[string]*Type   // local name -> object type
	out     []Finding
}

var (
	exprType = reflect.TypeOf((*ast.Expr)(nil)).Elem()
	stmtType = reflect.TypeOf((*ast.Stmt)(nil)).Elem()
)

func (c *checker) walk(v reflect.Value) {
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() {
			c.walk(v.Elem())
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if v.Type().Implements(stmtType) || v.Type().Implements(exprType) {
			c.visit(v.Interface())
		}
		c.walk(v.Elem())
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			c.walk(v.Index(i))
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				c.walk(v.Field(i))
			}
		}
	}
}

func (c *checker) visit(n any) {
	switch n := n.(type) {
	case *ast.LocalAssignStmt:
		for i, name := range n.Names {
			if i < len(n.Exprs) {
				c.bind(name, n.Exprs[i])
			}
		}
	case *ast.AssignStmt:
		for i, lhs := range n.Lhs {
			if id, ok := lhs.(*ast.IdentExpr); ok && i < len(n.Rhs) {
				c.bind(id.Value, n.Rhs[i])
			}
		}
	case *ast.AttrGetExpr:
		if id, ok := n.Object.(*ast.IdentExpr); ok {
			if m := c.bound[id.Value]; m != nil {
				if key, ok := n.Key.(*ast.StringExpr); ok {
					if _, ok := m.Func(key.Value); !ok && !hasField(m.Fields, key.Value) {
						c.report(n.Line(), "%s.%s: module %q has no function or field %q%s", id.Value, key.Value, m.Name, key.Value, suggest(key.Value, moduleNames(m)))
					}
				}
			}
		}
	case *ast.FuncCallExpr:
		c.call(n)
	}
}

func (c *checker) bind(name string, e ast.Expr) {
	delete(c.bound, name)
	delete(c.objs, name)
	call, ok := e.(*ast.FuncCallExpr)
	if !ok {
		return
	}
	if id, ok := call.Func.(*ast.IdentExpr); ok && id.Value == "require" && len(call.Args) == 1 {
		if s, ok := call.Args[0].(*ast.StringExpr); ok {
			if m := c.modules[s.Value]; m != nil {
				c.bound[name] = m
			}
		}
		return
	}
	if f, ok := c.funcOf(call); ok {
		ret := strings.TrimSpace(strings.SplitN(f.Returns, "|", 2)[0])
		if t := c.types[ret]; t != nil {
			c.objs[name] = t
		}
	}
}

// funcOf resolves the vmlua function or method a call invokes, if known.
func (c *checker) funcOf(call *ast.FuncCallExpr) (Func, bool) {
	if call.Method != "" {
		if id, ok := call.Receiver.(*ast.IdentExpr); ok {
			if t := c.objs[id.Value]; t != nil {
				return t.Method(call.Method)
			}
		}
		return Func{}, false
	}
	ag, ok := call.Func.(*ast.AttrGetExpr)
	if !ok {
		return Func{}, false
	}
	id, ok1 := ag.Object.(*ast.IdentExpr)
	key, ok2 := ag.Key.(*ast.StringExpr)
	if !ok1 || !ok2 || c.bound[id.Value] == nil {
		return Func{}, false
	}
	return c.bound[id.Value].Func(key.Value)
}

func (c *checker) call(call *ast.FuncCallExpr) {
	name := ""
	if call.Method != "" {
		id, ok := call.Receiver.(*ast.IdentExpr)
		if !ok || c.objs[id.Value] == nil {
			return
		}
		t := c.objs[id.Value]
		if _, ok := t.Method(call.Method); !ok {
			var ms []string
			for _, m := range t.Methods {
				ms = append(ms, m.Name)
			}
			c.report(call.Line(), "%s:%s: %s objects have no method %q%s", id.Value, call.Method, t.Name, call.Method, suggest(call.Method, ms))
			return
		}
		name = id.Value + ":" + call.Method
	}
	f, ok := c.funcOf(call)
	if !ok {
		return
	}
	if name == "" {
		ag := call.Func.(*ast.AttrGetExpr)
		name = ag.Object.(*ast.IdentExpr).Value + "." + ag.Key.(*ast.StringExpr).Value
	}
	n := len(call.Args)
	open := false // the last argument may expand to several values
	if n > 0 {
		switch call.Args[n-1].(type) {
		case *ast.FuncCallExpr, *ast.Comma3Expr:
			open = true
		}
	}
	if n < f.MinArgs() && !open {
		c.report(call.Line(), "%s: takes at least %d argument(s), got %d: %s", name, f.MinArgs(), n, f.Signature())
	}
	if max := f.MaxArgs(); max >= 0 && n > max {
		c.report(call.Line(), "%s: takes at most %d argument(s), got %d: %s", name, max, n, f.Signature())
	}
}

func (c *checker) report(line int, format string, args ...any) {
	c.out = append(c.out, Finding{File: c.file, Line: line, Message: fmt.Sprintf(format, args...)})
}

func hasField(fs []Field, name string) bool {
	for _, f := range fs {
		if f.Name == name {
			return true
		}
	}
	return false
}

func moduleNames(m *Module) []string {
	var out []string
	for _, f := range m.Funcs {
		out = append(out, f.Name)
	}
	for _, f := range m.Fields {
		out = append(out, f.Name)
	}
	return out
}

// suggest returns ` (did you mean "x"?)` for the closest name, if close.
func suggest(got string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(got, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
