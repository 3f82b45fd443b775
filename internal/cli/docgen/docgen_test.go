package docgen_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/cli/docgen"
	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/runtime"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

const repoRoot = "../../.."

func generate(t *testing.T) []docgen.File {
	t.Helper()
	files, err := docgen.Generate(all.Modules())
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return files
}

func file(t *testing.T, files []docgen.File, path string) string {
	t.Helper()
	for _, f := range files {
		if f.Path == path {
			return string(f.Data)
		}
	}
	t.Fatalf("%s was not generated", path)
	return ""
}

// TestTheCommittedGeneratedFilesAreUpToDate fails when a module, a
// transport or the generator changed and the committed docs/editor files
// were not regenerated.
func TestTheCommittedGeneratedFilesAreUpToDate(t *testing.T) {
	for _, p := range docgen.Stale(repoRoot, generate(t)) {
		t.Errorf("%s is stale; run: %s", p, docgen.Command)
	}
}

// TestEveryModuleFunctionMethodAndFieldIsDocumented runs the generator's
// checks (Module.Validate and the type expressions) over every module.
func TestEveryModuleFunctionMethodAndFieldIsDocumented(t *testing.T) {
	if err := docgen.Check(all.Modules()); err != nil {
		t.Errorf("%v\n(every function, argument, field and type needs a Doc and a valid Lua type; see runtime.Module)", err)
	}
}

func fn(r *runtime.Run, L *lua.LState) int { return 0 }

// optMod is a module whose one function takes a table of these options.
func optMod(opts ...runtime.Option) *runtime.Module {
	return &runtime.Module{Name: "m", Summary: "s", Funcs: []runtime.Func{{Name: "f", Doc: "d", Fn: fn,
		Args: []runtime.Arg{{Name: "o", Type: "table", Doc: "d", Options: opts}}}}}
}

func TestCheckRejectsWhatWouldMakeTheDocsWrong(t *testing.T) {
	obj := &runtime.Type{Name: "Obj", Summary: "an object"}
	cases := []struct {
		name string
		mod  *runtime.Module
		want string // substring of the error; "" = accepted
	}{
		{"a documented module is accepted",
			&runtime.Module{Name: "m", Summary: "s", Types: []*runtime.Type{obj}, Funcs: []runtime.Func{{Name: "f", Doc: "d", Fn: fn, Returns: "{Obj}|nil, string",
				Args: []runtime.Arg{{Name: "a", Type: `"on"|"off"`, Doc: "d"}, {Name: "...", Type: "any", Doc: "d"}}}}}, ""},
		{"a function without doc is refused",
			&runtime.Module{Name: "m", Summary: "s", Funcs: []runtime.Func{{Name: "f", Fn: fn}}}, "m.f"},
		{"an argument without doc is refused",
			&runtime.Module{Name: "m", Summary: "s", Funcs: []runtime.Func{{Name: "f", Doc: "d", Fn: fn, Args: []runtime.Arg{{Name: "a", Type: "string"}}}}}, "m.f argument a"},
		{"a field without type is refused",
			&runtime.Module{Name: "m", Summary: "s", Fields: []runtime.Field{{Name: "x", Doc: "d"}}}, "m.x (type)"},
		{"an unknown type name is refused",
			&runtime.Module{Name: "m", Summary: "s", Funcs: []runtime.Func{{Name: "f", Doc: "d", Fn: fn, Returns: "Vm|nil"}}}, `names "Vm"`},
		{"a malformed type is refused",
			&runtime.Module{Name: "m", Summary: "s", Funcs: []runtime.Func{{Name: "f", Doc: "d", Fn: fn, Returns: "{VM"}}}, "missing }"},
		{"a keyword as argument name is refused",
			&runtime.Module{Name: "m", Summary: "s", Funcs: []runtime.Func{{Name: "f", Doc: "d", Fn: fn, Args: []runtime.Arg{{Name: "end", Type: "number", Doc: "d"}}}}}, `argument "end"`},
		{"a variadic argument before the last is refused",
			&runtime.Module{Name: "m", Summary: "s", Funcs: []runtime.Func{{Name: "f", Doc: "d", Fn: fn, Args: []runtime.Arg{{Name: "...", Type: "any", Doc: "d"}, {Name: "x", Type: "any", Doc: "d"}}}}}, "must be the last"},
		{"a type without summary is refused",
			&runtime.Module{Name: "m", Summary: "s", Types: []*runtime.Type{{Name: "T"}}}, "type T"},
		{"declared options are accepted",
			optMod(runtime.Option{Name: "mode", Type: "string", Enum: []string{"a", "b"}, Default: `"a"`, Doc: "d"}, runtime.Option{Name: "p", Type: "table", Doc: "d", Options: []runtime.Option{{Name: "n", Type: "integer", Doc: "d"}}}), ""},
		{"an option without doc is refused", optMod(runtime.Option{Name: "x", Type: "string"}), "m.f argument o option x"},
		{"a nested option without type is refused", optMod(runtime.Option{Name: "p", Type: "table", Doc: "d", Options: []runtime.Option{{Name: "n", Doc: "d"}}}), "option p option n (type)"},
		{"an option of an unknown type is refused", optMod(runtime.Option{Name: "x", Type: "Vm", Doc: "d"}), `names "Vm"`},
		{"an option that is no Lua name is refused", optMod(runtime.Option{Name: "dry-run", Type: "boolean", Doc: "d"}), `option dry-run: not a Lua name`},
		{"an enum of a non-string is refused", optMod(runtime.Option{Name: "x", Type: "number", Enum: []string{"1"}, Doc: "d"}), `an Enum needs Type "string"`},
		{"an option declared twice is refused", optMod(runtime.Option{Name: "x", Type: "number", Doc: "d"}, runtime.Option{Name: "x", Type: "number", Doc: "d"}), `option x (declared twice)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := docgen.Check([]*runtime.Module{tc.mod})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Check = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Check = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	dup := []*runtime.Module{{Name: "a", Summary: "s", Types: []*runtime.Type{obj}}, {Name: "b", Summary: "s", Types: []*runtime.Type{obj}}}
	if err := docgen.Check(dup); err == nil || !strings.Contains(err.Error(), "type Obj defined by module a and module b") {
		t.Errorf("a type defined by two modules: Check = %v", err)
	}
}

func TestTypesBecomeLuaLanguageServerAnnotations(t *testing.T) {
	obj := &runtime.Type{Name: "VM", Summary: "a VM"}
	cases := []struct{ vmlua, luals string }{
		{"string", "string"},
		{"VM|nil", "VM|nil"},
		{"{VM}", "VM[]"},
		{"{string}", "string[]"},
		{"{VM|string}", "(VM|string)[]"},
		{"{string=number}", "table<string, number>"},
		{`"on"|"off"|"suspended"`, `"on"|"off"|"suspended"`},
		{"{ {string} }", "string[][]"},
		{"Transport|string", "Transport|string"},
	}
	for _, tc := range cases {
		t.Run(tc.vmlua, func(t *testing.T) {
			m := &runtime.Module{Name: "m", Summary: "s", Types: []*runtime.Type{obj, {Name: "Transport", Summary: "t"}},
				Funcs: []runtime.Func{{Name: "f", Doc: "d", Fn: fn, Args: []runtime.Arg{{Name: "x", Type: tc.vmlua, Doc: "d"}}, Returns: tc.vmlua}}}
			files, err := docgen.Generate([]*runtime.Module{m})
			if err != nil {
				t.Fatal(err)
			}
			defs := file(t, files, docgen.DefsPath)
			for _, want := range []string{"---@param x " + tc.luals + " d\n", "---@return " + tc.luals + "\n"} {
				if !strings.Contains(defs, want) {
					t.Errorf("definitions lack %q:\n%s", want, defs)
				}
			}
		})
	}
}

// TestTheDefinitionsAreLuaThatDeclaresEveryFunction compiles every
// generated .lua file and looks for a stub of each function and method.
func TestTheDefinitionsAreLuaThatDeclaresEveryFunction(t *testing.T) {
	files := generate(t)
	for _, f := range files {
		if !strings.HasSuffix(f.Path, ".lua") {
			continue
		}
		if _, err := parse.Parse(strings.NewReader(string(f.Data)), f.Path); err != nil {
			t.Errorf("%s does not compile: %v", f.Path, err)
		}
	}
	defs := file(t, files, docgen.DefsPath)
	if !strings.HasPrefix(defs, "---@meta") {
		t.Errorf("%s does not start with ---@meta", docgen.DefsPath)
	}
	for _, m := range all.Modules() {
		want := []string{"---@class vmlua." + m.Name + "\n"}
		for _, f := range m.Funcs {
			want = append(want, "function M_"+m.Name+"."+f.Name+"(")
		}
		for _, ty := range m.Types {
			want = append(want, "---@class "+ty.Name+"\n")
			for _, f := range ty.Fields {
				want = append(want, "---@field "+f.Name+" ")
			}
			for _, f := range ty.Methods {
				want = append(want, "function "+ty.Name+":"+f.Name+"(")
			}
		}
		for _, w := range want {
			if !strings.Contains(defs, w) {
				t.Errorf("%s lacks %q", docgen.DefsPath, w)
			}
		}
		shim := file(t, files, docgen.LibraryDir+"/"+m.Name+".lua")
		if !strings.HasPrefix(shim, "---@meta "+m.Name+"\n") || !strings.Contains(shim, "---@type vmlua."+m.Name+"\n") {
			t.Errorf("the shim of %s does not bind require %q to vmlua.%s:\n%s", m.Name, m.Name, m.Name, shim)
		}
	}
}

func TestTheReferenceCoversEveryFunctionErrorCodeAndLibrary(t *testing.T) {
	api := file(t, generate(t), docgen.LuaAPIPath)
	var want []string
	for _, m := range all.Modules() {
		want = append(want, "\n## "+m.Name+"\n", m.Summary)
		for _, f := range m.Funcs {
			want = append(want, "\n### "+m.Name+"."+f.Name+"\n", m.Name+"."+f.Signature())
		}
		for _, ty := range m.Types {
			want = append(want, "\n### type "+ty.Name+"\n")
			for _, f := range ty.Methods {
				want = append(want, "\n#### "+ty.Name+":"+f.Name+"\n", ty.Name+":"+f.Signature())
			}
			for _, f := range ty.Fields {
				want = append(want, "| `"+f.Name+"` |")
			}
		}
	}
	for _, c := range runtime.ErrorCodes() {
		want = append(want, "| `"+c.Code+"` | ")
	}
	for _, l := range runtime.SandboxLibraries() {
		want = append(want, "| `"+l.Name+"` | ")
	}
	for _, w := range want {
		if !strings.Contains(api, w) {
			t.Errorf("%s lacks %q", docgen.LuaAPIPath, w)
		}
	}
}

func TestTheTransportsPageListsEveryScheme(t *testing.T) {
	page := file(t, generate(t), docgen.TransportsPath)
	for _, want := range []string{"# Transports\n", "run: " + docgen.Command, "transport.open(url", "\n## file\n"} {
		if !strings.Contains(page, want) {
			t.Errorf("%s lacks %q", docgen.TransportsPath, want)
		}
	}
}

func TestWriteRegeneratesAndStaleNamesWhatDiffers(t *testing.T) {
	dir := t.TempDir()
	files := generate(t)
	if got := docgen.Stale(dir, files); len(got) != len(files) {
		t.Errorf("Stale on an empty tree = %v, want every file", got)
	}
	// A shim of a module that no longer exists is stale, and Write removes it.
	gone := filepath.Join(dir, filepath.FromSlash(docgen.LibraryDir), "gone.lua")
	if err := os.MkdirAll(filepath.Dir(gone), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gone, []byte("---@meta gone\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err := docgen.Write(dir, files)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(changed, docgen.LibraryDir+"/gone.lua (removed)") || len(changed) != len(files)+1 {
		t.Errorf("Write changed %v", changed)
	}
	if got := docgen.Stale(dir, files); len(got) != 0 {
		t.Errorf("Stale after Write = %v, want none", got)
	}
	again, err := docgen.Write(dir, files)
	if err != nil || len(again) != 0 {
		t.Errorf("a second Write changed %v (%v), want nothing", again, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docs", "lua-api.md"), []byte("edited by hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := docgen.Stale(dir, files); !slices.Equal(got, []string{docgen.LuaAPIPath}) {
		t.Errorf("Stale after a hand edit = %v, want [%s]", got, docgen.LuaAPIPath)
	}
}

// TestOptionsAreRenderedFromTheirDeclarations: an argument's declared
// options become a table in the reference (nested ones as parent.key, an
// enum as its values, required or the default) and a class of their own
// in the editor definitions, so that neither can drift from what vmlua
// check enforces.
func TestOptionsAreRenderedFromTheirDeclarations(t *testing.T) {
	m := optMod(
		runtime.Option{Name: "to", Type: "string", Required: true, Doc: "where"},
		runtime.Option{Name: "mode", Type: "string", Enum: []string{"full", "auto"}, Default: `"full"`, Doc: "how"},
		runtime.Option{Name: "policy", Type: "table", Doc: "what to keep", Options: []runtime.Option{{Name: "daily", Type: "integer", Doc: "days"}}},
		runtime.Option{Name: "*", Type: "string", Doc: "anything else"},
	)
	files, err := docgen.Generate([]*runtime.Module{m})
	if err != nil {
		t.Fatal(err)
	}
	api, defs := file(t, files, docgen.LuaAPIPath), file(t, files, docgen.DefsPath)
	for _, want := range []string{
		"Options of `o`:\n\n| option | type | default | meaning |\n",
		"| `to` | `string` | required | where |\n",
		"| `mode` | `\"full\"\\|\"auto\"` | `\"full\"` | how |\n",
		"| `policy.daily` | `integer` |  | days |\n",
		"| `NAME` | `string` |  | any key (NAME): anything else |\n",
	} {
		if !strings.Contains(api, want) {
			t.Errorf("the reference lacks %q:\n%s", want, api)
		}
	}
	for _, want := range []string{
		"---@class vmlua.m.f.o\n---@field to string where\n---@field mode? \"full\"|\"auto\" how (default \"full\")\n---@field policy? vmlua.m.f.o.policy what to keep\n---@field [string] string anything else\n",
		"---@class vmlua.m.f.o.policy\n---@field daily? integer days\n",
		"---@param o vmlua.m.f.o d\n",
	} {
		if !strings.Contains(defs, want) {
			t.Errorf("the definitions lack %q:\n%s", want, defs)
		}
	}
}
