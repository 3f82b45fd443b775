package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// DefaultMaxNesting bounds how deeply a chunk's syntax nests (Limits).
// gopher-lua's parser keeps its own stack, but its compiler (and 'vmlua
// check') recurse once per level of the syntax tree, and a Go stack
// overflow cannot be recovered: it ends the process, cleanup and all. A
// million nested "not", "{" or "function" in a 4 MB chunk given to load
// did exactly that. Lua 5.1 itself refuses more than 200 levels
// ("chunk has too many syntax levels"); 1000 leaves room for generated
// code while keeping the compiler's stack in the megabytes.
const DefaultMaxNesting = 1000

// chunkDepth returns how deeply the syntax tree of chunk nests: every
// statement, expression, operator operand, field access, call and table
// field is one level below what holds it (the levels the compiler
// recurses through). It walks with a stack of its own, so that measuring
// cannot overflow what it guards against. It stops counting past limit.
func chunkDepth(chunk []ast.Stmt, limit int) (depth, line int) {
	type item struct {
		n     any
		depth int
	}
	var stack []item
	push := func(d int, ns ...any) {
		for _, n := range ns {
			stack = append(stack, item{n, d})
		}
	}
	pushStmts := func(d int, ss []ast.Stmt) {
		for _, s := range ss {
			stack = append(stack, item{s, d})
		}
	}
	pushExprs := func(d int, es []ast.Expr) {
		for _, e := range es {
			stack = append(stack, item{e, d})
		}
	}
	pushStmts(1, chunk)
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.n == nil {
			continue
		}
		if it.depth > depth {
			depth = it.depth
			if ph, ok := it.n.(ast.PositionHolder); ok {
				line = ph.Line()
			}
			if depth > limit {
				return depth, line
			}
		}
		d := it.depth + 1
		switch n := it.n.(type) {
		case *ast.AssignStmt:
			pushExprs(d, n.Lhs)
			pushExprs(d, n.Rhs)
		case *ast.LocalAssignStmt:
			pushExprs(d, n.Exprs)
		case *ast.FuncCallStmt:
			push(d, n.Expr)
		case *ast.DoBlockStmt:
			pushStmts(d, n.Stmts)
		case *ast.WhileStmt:
			push(d, n.Condition)
			pushStmts(d, n.Stmts)
		case *ast.RepeatStmt:
			push(d, n.Condition)
			pushStmts(d, n.Stmts)
		case *ast.IfStmt:
			push(d, n.Condition)
			pushStmts(d, n.Then)
			pushStmts(d, n.Else) // elseif is an if inside else: one level more
		case *ast.NumberForStmt:
			push(d, n.Init, n.Limit, n.Step)
			pushStmts(d, n.Stmts)
		case *ast.GenericForStmt:
			pushExprs(d, n.Exprs)
			pushStmts(d, n.Stmts)
		case *ast.FuncDefStmt:
			if n.Name != nil {
				push(d, n.Name.Func, n.Name.Receiver)
			}
			if n.Func != nil {
				push(d, n.Func)
			}
		case *ast.ReturnStmt:
			pushExprs(d, n.Exprs)
		case *ast.AttrGetExpr:
			push(d, n.Object, n.Key)
		case *ast.TableExpr:
			for _, f := range n.Fields {
				if f != nil {
					push(d, f.Key, f.Value)
				}
			}
		case *ast.FuncCallExpr:
			push(d, n.Func, n.Receiver)
			pushExprs(d, n.Args)
		case *ast.LogicalOpExpr:
			push(d, n.Lhs, n.Rhs)
		case *ast.RelationalOpExpr:
			push(d, n.Lhs, n.Rhs)
		case *ast.StringConcatOpExpr:
			push(d, n.Lhs, n.Rhs)
		case *ast.ArithmeticOpExpr:
			push(d, n.Lhs, n.Rhs)
		case *ast.UnaryMinusOpExpr:
			push(d, n.Expr)
		case *ast.UnaryNotOpExpr:
			push(d, n.Expr)
		case *ast.UnaryLenOpExpr:
			push(d, n.Expr)
		case *ast.FunctionExpr:
			pushStmts(d, n.Stmts)
		}
	}
	return depth, line
}

// nestingError is a chunk refused because it nests deeper than the limit.
type nestingError struct {
	name        string
	line, limit int
}

func (e *nestingError) where() string {
	if e.line > 0 {
		return fmt.Sprintf("%s:%d", e.name, e.line)
	}
	return e.name
}

func (e *nestingError) message() string {
	return fmt.Sprintf("the code nests more than %d levels deep (brackets, operators, calls, blocks), the sandbox's limit (Lua 5.1's own is 200): split the expression or generate flatter code", e.limit)
}

func (e *nestingError) Error() string { return e.where() + ": " + e.message() }

// chunkErrorText is why a chunk did not compile, as one line that names
// the chunk and the line.
func chunkErrorText(name string, err error) string {
	var ne *nestingError
	if errors.As(err, &ne) {
		return ne.Error()
	}
	return strings.TrimSpace(syntaxText(name, err))
}

// compiled is a chunk parsed and compiled off the Lua goroutine.
type compiled struct {
	proto *lua.FunctionProto
	err   error // a syntax error (for syntaxText) or an *Error
}

// compileChunk parses and compiles src on a goroutine of its own, so that
// the work (seconds for megabytes of source) does not hold the run past its
// context: when ctx ends first, compileChunk returns ctx's error and the
// compilation finishes in the background, its result dropped. A chunk
// that nests deeper than maxNesting is refused before it is compiled.
func compileChunk(ctx context.Context, name, src string, maxNesting int) (*lua.FunctionProto, error) {
	done := make(chan compiled, 1)
	go func() {
		var c compiled
		defer func() {
			if p := recover(); p != nil {
				c = compiled{err: fmt.Errorf("%s: cannot compile: %v", name, p)}
			}
			done <- c
		}()
		chunk, err := parse.Parse(strings.NewReader(src), name)
		if err != nil {
			c.err = err
			return
		}
		if depth, line := chunkDepth(chunk, maxNesting); depth > maxNesting {
			c.err = &nestingError{name: name, line: line, limit: maxNesting}
			return
		}
		c.proto, c.err = lua.Compile(chunk, name)
	}()
	select {
	case c := <-done:
		return c.proto, c.err
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// LoadChunk compiles src (Lua source, never bytecode) as a function of L,
// under the sandbox's limits: a chunk nesting deeper than the run's limit
// is refused (see DefaultMaxNesting), and compiling stops waiting when the
// run's context ends. Modules that evaluate the operator's own Lua files
// (question rules) use it rather than L.Load.
func (r *Run) LoadChunk(L *lua.LState, name, src string) (*lua.LFunction, error) {
	if strings.HasPrefix(src, "\x1b") {
		return nil, fmt.Errorf("%s: loading precompiled Lua bytecode is not allowed", name)
	}
	proto, err := compileChunk(r.Context(), name, src, r.limits.MaxNesting)
	if err != nil {
		return nil, err
	}
	return L.NewFunctionFromProto(proto), nil
}
