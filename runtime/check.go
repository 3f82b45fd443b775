package runtime

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
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
// and calls of methods (and reads of fields) that vmlua objects do not have.
// It knows a module by the local it was required into (local vm = require
// "vm"); an object by the local it was assigned from a function or method
// whose Returns names one type (local v = vm.open(x)), by the variable of
// a for loop over a list whose Returns is "{Type}" (for _, x in
// ipairs(vm.find(s))), by indexing such a list (vms[1]), and by the
// expression itself in a call chain (vm.open(x):add_redo(d)). Function
// parameters and loop variables shadow outer names. A syntax error is
// returned as the only finding.
func Check(file, src string, modules []*Module) []Finding {
	chunk, err := parse.Parse(strings.NewReader(src), file)
	if err != nil {
		if line, msg, ok := syntaxError(err); ok {
			return []Finding{{File: file, Line: line, Message: msg}}
		}
		return []Finding{{File: file, Message: "syntax error: " + err.Error()}}
	}
	// the walk below recurses once per level: a chunk too deep to run is
	// reported, not walked (a Go stack overflow would end 'vmlua check')
	if depth, line := chunkDepth(chunk, DefaultMaxNesting); depth > DefaultMaxNesting {
		ne := &nestingError{name: file, line: line, limit: DefaultMaxNesting}
		return []Finding{{File: file, Line: line, Message: ne.message()}}
	}
	c := &checker{file: file, modules: map[string]*Module{}, types: map[string]*Type{}, bound: map[string]*Module{}, objs: map[string]*Type{}, lists: map[string]*Type{}}
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

type checker struct {
	file    string
	modules map[string]*Module
	types   map[string]*Type
	bound   map[string]*Module // local name -> module
	objs    map[string]*Type   // local name -> object type
	lists   map[string]*Type   // local name -> type of the list's elements
	out     []Finding
}

// scope is a snapshot of the bindings, restored when a function body or a
// loop ends.
type scope struct {
	bound       map[string]*Module
	objs, lists map[string]*Type
}

func (c *checker) save() scope {
	return scope{maps.Clone(c.bound), maps.Clone(c.objs), maps.Clone(c.lists)}
}

func (c *checker) restore(s scope) { c.bound, c.objs, c.lists = s.bound, s.objs, s.lists }

func (c *checker) unbind(name string) {
	delete(c.bound, name)
	delete(c.objs, name)
	delete(c.lists, name)
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
		switch n := v.Interface().(type) {
		case *ast.FunctionExpr:
			sc := c.save()
			if n.ParList != nil {
				for _, p := range n.ParList.Names {
					c.unbind(p)
				}
			}
			c.walk(reflect.ValueOf(n.Stmts))
			c.restore(sc)
			return
		case *ast.GenericForStmt:
			c.walk(reflect.ValueOf(n.Exprs))
			sc := c.save()
			for _, name := range n.Names {
				c.unbind(name)
			}
			// for _, x in ipairs(LIST) / pairs(LIST): x is an element.
			if len(n.Names) == 2 && len(n.Exprs) == 1 {
				if call, ok := n.Exprs[0].(*ast.FuncCallExpr); ok && len(call.Args) == 1 {
					if id, ok := call.Func.(*ast.IdentExpr); ok && (id.Value == "ipairs" || id.Value == "pairs") {
						if _, el := c.typeOf(call.Args[0]); el != nil {
							c.objs[n.Names[1]] = el
						}
					}
				}
			}
			c.walk(reflect.ValueOf(n.Stmts))
			c.restore(sc)
			return
		case *ast.NumberForStmt:
			c.walk(reflect.ValueOf([]ast.Expr{n.Init, n.Limit, n.Step}))
			sc := c.save()
			c.unbind(n.Name)
			c.walk(reflect.ValueOf(n.Stmts))
			c.restore(sc)
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
		key, ok := n.Key.(*ast.StringExpr)
		if !ok {
			return
		}
		if id, ok := n.Object.(*ast.IdentExpr); ok {
			if m := c.bound[id.Value]; m != nil {
				if _, ok := m.Func(key.Value); !ok && !hasField(m.Fields, key.Value) {
					c.report(n.Line(), "%s.%s: module %q has no function or field %q%s", id.Value, key.Value, m.Name, key.Value, suggest(key.Value, moduleNames(m)))
				}
				return
			}
		}
		if t, _ := c.typeOf(n.Object); t != nil {
			if _, ok := t.Method(key.Value); !ok && !hasField(t.Fields, key.Value) {
				c.report(n.Line(), "%s.%s: %s objects have no field or method %q%s", exprName(n.Object), key.Value, t.Name, key.Value, suggest(key.Value, typeNames(t)))
			}
		}
	case *ast.FuncCallExpr:
		c.call(n)
	}
}

func (c *checker) bind(name string, e ast.Expr) {
	c.unbind(name)
	if call, ok := e.(*ast.FuncCallExpr); ok {
		if id, ok := call.Func.(*ast.IdentExpr); ok && id.Value == "require" && len(call.Args) == 1 {
			if s, ok := call.Args[0].(*ast.StringExpr); ok {
				if m := c.modules[s.Value]; m != nil {
					c.bound[name] = m
				}
			}
			return
		}
	}
	obj, list := c.typeOf(e)
	if obj != nil {
		c.objs[name] = obj
	}
	if list != nil {
		c.lists[name] = list
	}
}

// typeOf tells what an expression evaluates to, when it is known: an
// object of a type, or a list of such objects.
func (c *checker) typeOf(e ast.Expr) (obj, list *Type) {
	switch e := e.(type) {
	case *ast.IdentExpr:
		return c.objs[e.Value], c.lists[e.Value]
	case *ast.FuncCallExpr:
		if f, ok := c.funcOf(e); ok {
			return c.returnType(f.Returns)
		}
	case *ast.AttrGetExpr: // LIST[i]
		if _, ok := e.Key.(*ast.NumberExpr); ok {
			if _, el := c.typeOf(e.Object); el != nil {
				return el, nil
			}
		}
	}
	return nil, nil
}

// returnType reads a Returns string: "VM|nil" is an object, "{VM}" a list
// of them. Anything else, or a union of several types ("VM|string"), is
// unknown, so that no method call on it can be reported wrongly.
func (c *checker) returnType(returns string) (obj, list *Type) {
	first, _, _ := strings.Cut(returns, ",")
	var kinds []string
	for _, part := range strings.Split(first, "|") {
		if part = strings.TrimSpace(part); part != "nil" && part != "" {
			kinds = append(kinds, part)
		}
	}
	if len(kinds) != 1 {
		return nil, nil
	}
	k := kinds[0]
	if strings.HasPrefix(k, "{") && strings.HasSuffix(k, "}") {
		return nil, c.types[strings.TrimSpace(k[1:len(k)-1])]
	}
	return c.types[k], nil
}

// funcOf resolves the vmlua function or method a call invokes, if known.
func (c *checker) funcOf(call *ast.FuncCallExpr) (Func, bool) {
	if call.Method != "" {
		if t, _ := c.typeOf(call.Receiver); t != nil {
			return t.Method(call.Method)
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
	if call.Method != "" {
		t, _ := c.typeOf(call.Receiver)
		if t == nil {
			return
		}
		if _, ok := t.Method(call.Method); !ok {
			var ms []string
			for _, m := range t.Methods {
				ms = append(ms, m.Name)
			}
			c.report(call.Line(), "%s:%s: %s objects have no method %q%s", exprName(call.Receiver), call.Method, t.Name, call.Method, suggest(call.Method, ms))
			return
		}
	}
	f, ok := c.funcOf(call)
	if !ok {
		return
	}
	name := exprName(call.Func)
	if call.Method != "" {
		name = exprName(call.Receiver) + ":" + call.Method
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
	for i, a := range call.Args {
		if i < len(f.Args) && len(f.Args[i].Options) > 0 {
			if t, ok := a.(*ast.TableExpr); ok {
				c.options(name, "", f.Args[i].Options, t)
			}
		}
	}
}

// options checks a table of options written out in the call against
// their declarations: unknown keys, literal values of the wrong type or
// outside the option's values, and required keys that are missing. Only
// what the table literally holds is judged: a value computed at run time
// (a variable, a call) is left alone. prefix names the enclosing option
// of a nested table ("policy.").
func (c *checker) options(fn, prefix string, decl []Option, t *ast.TableExpr) {
	seen := map[string]bool{}
	complete := true // every key is a plain name: a missing required one is missing
	for _, f := range t.Fields {
		key, ok := f.Key.(*ast.StringExpr)
		if !ok {
			complete = false
			continue
		}
		seen[key.Value] = true
		o, ok := LookupOption(decl, key.Value)
		if !ok {
			hint := suggest(key.Value, OptionNames(decl))
			if hint == "" {
				hint = "; its options: " + strings.Join(OptionNames(decl), ", ")
			}
			c.report(lineOf(f.Value, t), "%s: no option %q%s", fn, prefix+key.Value, hint)
			continue
		}
		c.optionValue(fn, prefix+key.Value, o, f.Value, t)
	}
	if !complete {
		return
	}
	for _, o := range decl {
		if o.Required && !seen[o.Name] {
			c.report(t.Line(), "%s: option %s is required: %s", fn, prefix+o.Name, oneLineDoc(o.Doc))
		}
	}
}

// optionValue checks one option's value, when it is a literal.
func (c *checker) optionValue(fn, name string, o Option, v ast.Expr, t *ast.TableExpr) {
	kind, str := literalKind(v)
	if kind == "" {
		return
	}
	if ok, known := typeAccepts(o.Type, kind, c.types); known && !ok {
		c.report(lineOf(v, t), "%s: option %s: %s expected, got %s", fn, name, o.TypeString(), kind)
		return
	}
	if kind == "string" && len(o.Enum) > 0 && str != nil && !slices.Contains(o.Enum, *str) {
		c.report(lineOf(v, t), "%s: option %s: %q is not one of %s%s", fn, name, *str, quoteList(o.Enum), suggest(*str, o.Enum))
	}
	if tbl, ok := v.(*ast.TableExpr); ok && len(o.Options) > 0 {
		c.options(fn, name+".", o.Options, tbl)
	}
}

// literalKind is the Lua type of an expression whose type shows in the
// source: a literal, a concatenation (a string), arithmetic (a number), a
// comparison or not (a boolean); "" for anything else (nil included: an
// option set to nil is absent). For a string literal it also returns
// the string.
func literalKind(e ast.Expr) (string, *string) {
	switch e := e.(type) {
	case *ast.StringExpr:
		return "string", &e.Value
	case *ast.StringConcatOpExpr:
		return "string", nil
	case *ast.NumberExpr, *ast.ArithmeticOpExpr, *ast.UnaryMinusOpExpr, *ast.UnaryLenOpExpr:
		return "number", nil
	case *ast.TrueExpr, *ast.FalseExpr, *ast.RelationalOpExpr, *ast.UnaryNotOpExpr:
		return "boolean", nil
	case *ast.TableExpr:
		return "table", nil
	case *ast.FunctionExpr:
		return "function", nil
	}
	return "", nil
}

// lineOf is the line of e, or of the table holding it when the parser
// gave e none.
func lineOf(e ast.Expr, t *ast.TableExpr) int {
	if l := e.Line(); l > 0 {
		return l
	}
	return t.Line()
}

// oneLineDoc is the first sentence-ish part of a doc, for a finding.
func oneLineDoc(doc string) string { return strings.Join(strings.Fields(doc), " ") }

// exprName renders the expressions findings name: v, vm.open(...), vms[1].
func exprName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.IdentExpr:
		return e.Value
	case *ast.AttrGetExpr:
		switch k := e.Key.(type) {
		case *ast.StringExpr:
			return exprName(e.Object) + "." + k.Value
		case *ast.NumberExpr:
			return exprName(e.Object) + "[" + k.Value + "]"
		}
		return exprName(e.Object) + "[...]"
	case *ast.FuncCallExpr:
		if e.Method != "" {
			return exprName(e.Receiver) + ":" + e.Method + "(...)"
		}
		return exprName(e.Func) + "(...)"
	}
	return "(...)"
}

func typeNames(t *Type) []string {
	var out []string
	for _, f := range t.Methods {
		out = append(out, f.Name)
	}
	for _, f := range t.Fields {
		out = append(out, f.Name)
	}
	return out
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
	best := Closest(got, names)
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// Closest returns the name nearest to got, within two edits, or "" (for
// "did you mean" messages).
func Closest(got string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(got, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
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
