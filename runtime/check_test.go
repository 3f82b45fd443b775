package runtime_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/runtime"
	lua "github.com/yuin/gopher-lua"
)

func nop(*runtime.Run, *lua.LState) int { return 0 }

// checkModule is a small module for Check's cases: inv.get returns one
// Box, inv.find a list of them.
func checkModule() *runtime.Module {
	box := &runtime.Type{Name: "Box", Summary: "a box",
		Fields: []runtime.Field{{Name: "name", Type: "string", Doc: "its name"}},
		Methods: []runtime.Func{
			{Name: "size", Doc: "size", Fn: nop},
			{Name: "put", Args: []runtime.Arg{{Name: "what", Type: "string", Doc: "d"}}, Doc: "put", Fn: nop},
			{Name: "child", Returns: "Box", Doc: "child", Fn: nop},
		}}
	return &runtime.Module{Name: "inv", Summary: "s", Types: []*runtime.Type{box}, Funcs: []runtime.Func{
		{Name: "get", Args: []runtime.Arg{{Name: "spec", Type: "string", Doc: "d"}}, Returns: "Box|nil", Doc: "d", Fn: nop},
		{Name: "find", Args: []runtime.Arg{{Name: "spec", Type: "string", Doc: "d"}}, Returns: "{Box}", Doc: "d", Fn: nop},
		{Name: "either", Returns: "Box|string", Doc: "d", Fn: nop},
		{Name: "names", Returns: "{string}", Doc: "d", Fn: nop},
	}}
}

func TestCheckFollowsObjectsThroughLoopsListsAndCallChains(t *testing.T) {
	const head = "local inv = require \"inv\"\n"
	cases := []struct {
		name string
		src  string // after head; findings are on line 2 and later
		want []string
	}{
		{"a loop variable over a {Box} list is a Box",
			"for _, b in ipairs(inv.find(\"any:\")) do b:siez() end",
			[]string{`s.lua:2: b:siez: Box objects have no method "siez" (did you mean "size"?)`}},
		{"a loop over pairs of a list local is a Box",
			"local bs = inv.find(\"x\")\nfor k, b in pairs(bs) do b:put() end",
			[]string{`s.lua:3: b:put: takes at least 1 argument(s), got 0: put(what)`}},
		{"an element of a list local is a Box",
			"local bs = inv.find(\"x\")\nbs[1]:nope()",
			[]string{`s.lua:3: bs[1]:nope: Box objects have no method "nope"`}},
		{"a method on a call's result is checked",
			"inv.get(\"a\"):put(\"x\", \"y\")",
			[]string{`s.lua:2: inv.get(...):put: takes at most 1 argument(s), got 2: put(what)`}},
		{"a chain of methods is followed",
			"local b = inv.get(\"a\")\nb:child():child():sise()",
			[]string{`s.lua:3: b:child(...):child(...):sise: Box objects have no method "sise" (did you mean "size"?)`}},
		{"an unknown field of an object is reported",
			"local b = inv.get(\"a\")\nprint(b.nmae)",
			[]string{`s.lua:3: b.nmae: Box objects have no field or method "nmae" (did you mean "name"?)`}},
		{"fields and methods read with a dot are fine",
			"local b = inv.get(\"a\")\nprint(b.name, b.size)", nil},
		{"a function parameter shadows an outer object",
			"local b = inv.get(\"a\")\nlocal function f(b) return b:anything() end\nb:size()", nil},
		{"the outer object is known again after the function",
			"local b = inv.get(\"a\")\nlocal function f(b) return b:anything() end\nb:sizee()",
			[]string{`s.lua:4: b:sizee: Box objects have no method "sizee" (did you mean "size"?)`}},
		{"a loop variable does not outlive its loop",
			"local b = inv.get(\"a\")\nfor b = 1, 3 do print(b) end\nfor _, b in ipairs({}) do b:x() end\nb:size()", nil},
		{"a union of an object and a string is not guessed",
			"local x = inv.either()\nx:lower()", nil},
		{"a list of strings gives no objects",
			"for _, n in ipairs(inv.names()) do print(n:upper()) end", nil},
		{"a reassigned local is forgotten",
			"local b = inv.get(\"a\")\nb = \"text\"\nprint(b:upper())", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, f := range runtime.Check("s.lua", head+tc.src, []*runtime.Module{checkModule()}) {
				got = append(got, f.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestCheckFindsNothingInTheShippedScriptsAndExamples keeps 'vmlua check'
// free of false positives on what users run and copy.
func TestCheckFindsNothingInTheShippedScriptsAndExamples(t *testing.T) {
	var files []string
	for _, dir := range []string{"../scripts", "../examples"} {
		m, err := filepath.Glob(filepath.Join(dir, "*.lua"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no scripts found in scripts/ and examples/")
	}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range runtime.Check(file, string(src), all.Modules()) {
			t.Errorf("%s", f)
		}
	}
}

// TestAMethodTypoFailsAtRunTimeWithTheSameHintAsCheck: v:siez() at run
// time says what vmlua check says, on the line of the call, instead of
// "attempt to call a non-function object"; a key near no name reads nil.
func TestAMethodTypoFailsAtRunTimeWithTheSameHintAsCheck(t *testing.T) {
	box := &runtime.Type{Name: "Box", Summary: "a box",
		Fields:  []runtime.Field{{Name: "name", Type: "string", Doc: "its name"}},
		Methods: []runtime.Func{{Name: "size", Doc: "size", Fn: nop}},
		Get: func(_ *runtime.Run, _ *lua.LState, _ any, key string) lua.LValue {
			if key == "name" {
				return lua.LString("b1")
			}
			return nil
		}}
	mod := &runtime.Module{Name: "inv", Summary: "s", Types: []*runtime.Type{box}, Funcs: []runtime.Func{
		{Name: "get", Returns: "Box", Doc: "d", Fn: func(r *runtime.Run, L *lua.LState) int {
			L.Push(r.NewObject(L, box, struct{}{}))
			return 1
		}},
	}}
	cases := []struct {
		name, src, want string // want: the error (on the script's line 3), or "" for success
	}{
		{"a method typo names the method meant", "local b = inv.get()\nb:siez()", `Box objects have no field or method "siez" (did you mean "size"?)`},
		{"a field typo names the field meant", "local b = inv.get()\nlocal n = b.nmae", `Box objects have no field or method "nmae" (did you mean "name"?)`},
		{"the real method and field work", "local b = inv.get()\nb:size()\nassert(b.name == 'b1')", ""},
		{"a key near no name reads nil", "local b = inv.get()\nassert(b.completely_different == nil)", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runScript(t, "local inv = require 'inv'\n"+tc.src, func(o *runtime.Options) { o.Modules = append(o.Modules, mod) })
			switch {
			case tc.want == "" && res.err != nil:
				t.Fatalf("%v", res.err)
			case tc.want != "" && (res.err == nil || !strings.Contains(res.err.Error(), tc.want) || !strings.HasPrefix(res.err.Error(), "test.lua:3:")):
				t.Fatalf("error = %v, want %s on test.lua:3 (the typo's line)", res.err, tc.want)
			case tc.want != "" && res.code() != "invalid_argument":
				t.Errorf("code %s, want invalid_argument", res.code())
			}
		})
	}
}

// TestCheckJudgesTheOptionsATableSpellsOut: a table of options written
// out in a call is checked against the function's declared options (the
// real modules' declarations, as vmlua check and vmlua run use them);
// what is only known at run time is left alone.
func TestCheckJudgesTheOptionsATableSpellsOut(t *testing.T) {
	const head = "local backup = require \"backup\"\nlocal vm = require \"vm\"\nlocal script = require \"script\"\nlocal transport = require \"transport\"\nlocal t = transport.open(\"file:///x\")\n"
	cases := []struct {
		name string
		src  string // after head: line 6 and later
		want []string
	}{
		{"a misspelt option names the one meant",
			"backup.prune{at = t, vm = \"DB01\", kep = 3}",
			[]string{`s.lua:6: backup.prune: no option "kep" (did you mean "keep"?)`}},
		{"an option near no name lists the options",
			"backup.list{at = t, frobnicate = true}",
			[]string{`s.lua:6: backup.list: no option "frobnicate"; its options: at, vm, host, credentials`}},
		{"a number where an enum of strings goes",
			"vm.open(\"x\"):backup{to = t, compress = 9}",
			[]string{`s.lua:6: vm.open(...):backup: option compress: "none"|"gzip"|"zstd" expected, got number`}},
		{"a string where a table of options goes",
			"backup.prune{at = t, vm = \"DB01\", policy = \"seven\"}",
			[]string{`s.lua:6: backup.prune: option policy: table expected, got string`}},
		{"a string outside the enum names the value meant",
			"local v = vm.open(\"x\")\nv:backup{to = t, mode = \"incremantal\"}",
			[]string{`s.lua:7: v:backup: option mode: "incremantal" is not one of "full", "incremental", "auto" (did you mean "incremental"?)`}},
		{"a nested table's keys are checked",
			"backup.prune{at = t, vm = \"DB01\", policy = {daily = 7, weakly = 4}}",
			[]string{`s.lua:6: backup.prune: no option "policy.weakly" (did you mean "weekly"?)`}},
		{"a nested value of the wrong type",
			"backup.prune{at = t, vm = \"DB01\", policy = {daily = \"seven\"}}",
			[]string{`s.lua:6: backup.prune: option policy.daily: integer expected, got string`}},
		{"a missing required option",
			"backup.prune{vm = \"DB01\", keep = 3}",
			[]string{`s.lua:6: backup.prune: option at is required: the target: a Transport or a granted URL`}},
		{"a table where an object goes",
			"backup.list{at = {}}",
			[]string{`s.lua:6: backup.list: option at: Transport|string expected, got table`}},
		{"script.args declarations are checked under any name",
			"script.args{keep = {type = \"nubmer\", requried = true}}",
			[]string{
				`s.lua:6: script.args: option keep.type: "nubmer" is not one of "string", "number", "boolean", "list" (did you mean "number"?)`,
				`s.lua:6: script.args: no option "keep.requried" (did you mean "required"?)`}},
		{"script.args takes each= (for --each)",
			"script.args{vm = {each = true, help = \"the VM\"}, keep = {type = \"number\", default = 3}}", nil},
		{"a transport's scheme options are free",
			"transport.open(\"sftp://h/x\", {credentials = \"nas\", known_hosts = \"/k\", port = 22})", nil},
		{"values known only at run time are not judged",
			"local o = {kep = 3}\nlocal c = arg.compress\nbackup.prune(o)\nvm.open(\"x\"):backup{to = t, compress = c, mode = arg.mode or \"full\"}", nil},
		{"a computed key may supply a required option",
			"local k = \"at\"\nbackup.prune{[k] = t, vm = \"DB01\", keep = 1}", nil},
		{"nil is an absent option",
			"backup.prune{at = t, vm = \"DB01\", keep = 1, policy = nil}", nil},
		{"a concatenation is a string, arithmetic a number",
			"backup.prune{at = \"file:///\" .. \"x\", vm = \"DB01\", keep = 2 * 2}", nil},
		{"an enum value given right",
			"vm.open(\"x\"):backup{to = t, compress = \"gzip\", mode = \"auto\", chain_max = 5, disks = {\"scsi0:0\"}}", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, f := range runtime.Check("s.lua", head+tc.src, all.Modules()) {
				got = append(got, f.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
