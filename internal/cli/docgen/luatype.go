package docgen

import (
	"fmt"
	"strings"

	"github.com/vmlua/vmlua/runtime"
)

// builtinTypes are the type names the API's Args/Returns/Fields may use
// besides the modules' object types; each is also a LuaLS type.
var builtinTypes = map[string]bool{
	"nil": true, "any": true, "boolean": true, "string": true, "number": true,
	"integer": true, "table": true, "function": true, "userdata": true, "thread": true,
}

// typeExpr is a parsed vmlua type expression:
//
//	union  := single { "|" single }
//	single := NAME | '"literal"' | "{" union "}" | "{" union "=" union "}" | "(" union ")"
//
// {T} is a list of T (LuaLS T[]), {K=V} a map (LuaLS table<K, V>).
type typeExpr struct {
	kind  byte // 'n' name, 's' string literal, 'l' list, 'm' map, 'u' union
	name  string
	elems []*typeExpr // union members, list element, map key and value
}

type typeParser struct {
	s   string
	pos int
}

// parseType parses a type expression; "" is not a type.
func parseType(s string) (*typeExpr, error) {
	p := &typeParser{s: s}
	t, err := p.union()
	if err != nil {
		return nil, fmt.Errorf("type %q: %w", s, err)
	}
	p.space()
	if p.pos != len(p.s) {
		return nil, fmt.Errorf("type %q: unexpected %q", s, p.s[p.pos:])
	}
	return t, nil
}

func (p *typeParser) space() {
	for p.pos < len(p.s) && p.s[p.pos] == ' ' {
		p.pos++
	}
}

func (p *typeParser) peek() byte {
	p.space()
	if p.pos < len(p.s) {
		return p.s[p.pos]
	}
	return 0
}

func (p *typeParser) union() (*typeExpr, error) {
	var ms []*typeExpr
	for {
		t, err := p.single()
		if err != nil {
			return nil, err
		}
		ms = append(ms, t)
		if p.peek() != '|' {
			break
		}
		p.pos++
	}
	if len(ms) == 1 {
		return ms[0], nil
	}
	return &typeExpr{kind: 'u', elems: ms}, nil
}

func (p *typeParser) single() (*typeExpr, error) {
	switch c := p.peek(); {
	case c == '{':
		p.pos++
		el, err := p.union()
		if err != nil {
			return nil, err
		}
		t := &typeExpr{kind: 'l', elems: []*typeExpr{el}}
		if p.peek() == '=' {
			p.pos++
			v, err := p.union()
			if err != nil {
				return nil, err
			}
			t = &typeExpr{kind: 'm', elems: []*typeExpr{el, v}}
		}
		if p.peek() != '}' {
			return nil, fmt.Errorf("missing }")
		}
		p.pos++
		return t, nil
	case c == '(':
		p.pos++
		t, err := p.union()
		if err != nil {
			return nil, err
		}
		if p.peek() != ')' {
			return nil, fmt.Errorf("missing )")
		}
		p.pos++
		return t, nil
	case c == '"':
		end := strings.IndexByte(p.s[p.pos+1:], '"')
		if end < 0 {
			return nil, fmt.Errorf("unterminated string")
		}
		t := &typeExpr{kind: 's', name: p.s[p.pos+1 : p.pos+1+end]}
		p.pos += end + 2
		return t, nil
	case isNameByte(c, true):
		start := p.pos
		for p.pos < len(p.s) && isNameByte(p.s[p.pos], false) {
			p.pos++
		}
		return &typeExpr{kind: 'n', name: p.s[start:p.pos]}, nil
	case c == 0:
		return nil, fmt.Errorf("a type is missing")
	default:
		return nil, fmt.Errorf("unexpected %q", string(c))
	}
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && (c >= '0' && c <= '9' || c == '.')
}

// names reports every type name the expression uses.
func (t *typeExpr) names(f func(string)) {
	if t.kind == 'n' {
		f(t.name)
	}
	for _, e := range t.elems {
		e.names(f)
	}
}

// luaLS renders the expression as a LuaLS type.
func (t *typeExpr) luaLS() string {
	switch t.kind {
	case 'n':
		return t.name
	case 's':
		return `"` + t.name + `"`
	case 'l':
		el := t.elems[0].luaLS()
		if t.elems[0].kind == 'u' {
			el = "(" + el + ")"
		}
		return el + "[]"
	case 'm':
		return "table<" + t.elems[0].luaLS() + ", " + t.elems[1].luaLS() + ">"
	default:
		var parts []string
		for _, e := range t.elems {
			parts = append(parts, e.luaLS())
		}
		return strings.Join(parts, "|")
	}
}

// splitReturns splits a Returns string into its values: "VM|nil, string"
// is two values. Commas inside braces or parentheses do not split.
func splitReturns(s string) []string { return runtime.SplitTopLevel(s, ',') }
