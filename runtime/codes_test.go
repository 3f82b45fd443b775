package runtime_test

import (
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"slices"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/runtime"
)

// TestErrorCodesListsEveryCodeConstant keeps the reference's error table
// (runtime.ErrorCodes) in step with the Code constants of errors.go.
func TestErrorCodesListsEveryCodeConstant(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var consts []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if strings.HasPrefix(n.Name, "Code") && i < len(vs.Values) {
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok {
						consts = append(consts, constant.StringVal(constant.MakeFromLiteral(lit.Value, lit.Kind, 0)))
					}
				}
			}
		}
	}
	var listed []string
	for _, c := range runtime.ErrorCodes() {
		if c.Meaning == "" {
			t.Errorf("error code %q has no meaning", c.Code)
		}
		listed = append(listed, c.Code)
	}
	if len(consts) == 0 || !slices.Equal(consts, listed) {
		t.Errorf("ErrorCodes() = %v, want the Code constants of errors.go in order: %v", listed, consts)
	}
}

func TestSandboxLibrariesDescribeTheRealState(t *testing.T) {
	got := map[string]runtime.Library{}
	for _, l := range runtime.SandboxLibraries() {
		got[l.Name] = l
	}
	cases := []struct {
		name      string
		lib       string
		available bool
		has       string // a function the library has
		removed   string // a function it lacks (prefix of a Removed entry)
	}{
		{"base keeps pcall and loses dofile", "base", true, "pcall", "dofile"},
		{"os keeps time and loses execute", "os", true, "time", "execute"},
		{"string is there", "string", true, "format", ""},
		{"io is refused", "io", false, "", ""},
		{"debug is refused", "debug", false, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, ok := got[tc.lib]
			if !ok {
				t.Fatalf("no library %q in %v", tc.lib, got)
			}
			if l.Available != tc.available {
				t.Errorf("Available = %v", l.Available)
			}
			if !tc.available && l.Note == "" {
				t.Errorf("a refused library must say why")
			}
			if tc.has != "" && !slices.Contains(l.Functions, tc.has) {
				t.Errorf("Functions %v lack %s", l.Functions, tc.has)
			}
			if tc.removed != "" && !slices.ContainsFunc(l.Removed, func(s string) bool { return strings.HasPrefix(s, tc.removed+": ") }) {
				t.Errorf("Removed %v lacks %s", l.Removed, tc.removed)
			}
		})
	}
}
