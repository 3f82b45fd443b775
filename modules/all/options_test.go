package all

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/modules/backup"
	"github.com/vmlua/vmlua/runtime"
)

// optionReaders are the calls through which module code reads a key of a
// table of options, with the index of the argument that names the key.
var optionReaders = map[string]int{
	"OptString": 2, "OptBool": 2, "OptInt": 2, "OptStrings": 2, // runtime.Opt*(L, t, key, ...)
	"optBool": 2, "seconds": 2, // the vm and question modules' own
	"openDest": 3, "dest": 3, // backup's destinations (r, L, o, key)
	"RawGetString": 0,
}

// notOptions are keys module code reads from tables that are not tables
// of options (a question table, a catalog a script hands back, the
// policy's rules), by package.
var notOptions = map[string]map[string]bool{
	"vm": {"id": true}, // v:answer_question(q, ...): the question pending_question returned
}

// TestEveryOptionTheCodeReadsIsDeclared reads the modules' Go source for
// the keys their functions read from tables of options and fails for any
// that no function of the module declares (runtime.Option): vmlua check,
// and so vmlua run, would refuse a script that uses such an option.
func TestEveryOptionTheCodeReadsIsDeclared(t *testing.T) {
	declared := map[string]map[string]bool{}
	var add func(set map[string]bool, opts []runtime.Option)
	add = func(set map[string]bool, opts []runtime.Option) {
		for _, o := range opts {
			set[o.Name] = true
			add(set, o.Options)
		}
	}
	funcs := func(set map[string]bool, fs []runtime.Func) {
		for _, f := range fs {
			for _, a := range f.Args {
				add(set, a.Options)
			}
		}
	}
	for _, m := range Modules() {
		set := map[string]bool{}
		funcs(set, m.Funcs)
		for _, ty := range m.Types {
			if ty.Name != "VM" || m.Name == "vm" {
				funcs(set, ty.Methods)
			}
		}
		declared[m.Name] = set
	}
	funcs(declared["backup"], backup.VMMethods)

	checked := 0
	for name, set := range declared {
		if set["*"] {
			continue // any key is an option (transport.open's scheme options)
		}
		files, err := filepath.Glob(filepath.Join("..", name, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		var undeclared []string
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				var fn string
				switch e := call.Fun.(type) {
				case *ast.Ident:
					fn = e.Name
				case *ast.SelectorExpr:
					fn = e.Sel.Name
				}
				i, ok := optionReaders[fn]
				if !ok || i >= len(call.Args) {
					return true
				}
				lit, ok := call.Args[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				key, _ := strconv.Unquote(lit.Value)
				checked++
				if !set[key] && !notOptions[name][key] {
					undeclared = append(undeclared, filepath.Base(file)+": "+key)
				}
				return true
			})
		}
		sort.Strings(undeclared)
		for _, u := range undeclared {
			t.Errorf("module %s reads the option %s, which none of its functions declares (runtime.Arg.Options)", name, u)
		}
	}
	if checked < 40 {
		t.Errorf("found only %d option reads in the modules' source: has the way options are read changed?", checked)
	}
}
