package runtime

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Limits bound what one script can make the host do. The zero value of a
// field means its default.
type Limits struct {
	// MaxString bounds strings built by string.rep, string.format and
	// table.concat (default 64 MiB).
	MaxString int
	// PatternSteps bounds the work of one string.find/match/gmatch/gsub
	// call (default 20 million matcher steps).
	PatternSteps int
	// PatternDepth bounds the matcher's recursion (default 200,000).
	PatternDepth int
	// MaxPattern bounds the length of a pattern (default 4 KiB).
	MaxPattern int
	// CallDepth bounds Lua's call stack (default 200 frames).
	CallDepth int
	// MaxResults bounds the values one call of unpack or string.byte
	// returns (default DefaultMaxResults).
	MaxResults int
	// MaxNesting bounds how deeply the syntax of a chunk nests: the
	// script, a --lib module, what load compiles (default
	// DefaultMaxNesting).
	MaxNesting int
	// MemoryBytes stops the run when the process heap exceeds it
	// (default 2 GiB; negative disables).
	MemoryBytes int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxString == 0 {
		l.MaxString = 64 << 20
	}
	if l.PatternSteps == 0 {
		l.PatternSteps = 20_000_000
	}
	if l.PatternDepth == 0 {
		l.PatternDepth = 200_000
	}
	if l.MaxPattern == 0 {
		l.MaxPattern = 4096
	}
	if l.CallDepth == 0 {
		l.CallDepth = 200
	}
	if l.MaxResults == 0 {
		l.MaxResults = DefaultMaxResults
	}
	if l.MaxNesting == 0 {
		l.MaxNesting = DefaultMaxNesting
	}
	if l.MemoryBytes == 0 {
		l.MemoryBytes = 2 << 30
	}
	return l
}

// removedGlobals are base functions a script does not get, each with the
// reason a script that calls it is told.
var removedGlobals = map[string]string{
	"dofile":     "reads files; use require for the site's script library",
	"loadfile":   "reads files; use require for the site's script library",
	"setfenv":    "can change the environment of vmlua's functions",
	"getfenv":    "can reach the environment of vmlua's functions",
	"module":     "is Lua 5.1's package system; return a table from a library file instead",
	"_printregs": "prints interpreter internals",
	"newproxy":   "creates userdata with arbitrary metatables",
}

// removedLibs are whole libraries a script does not get.
var removedLibs = map[string]string{
	"io":      "the sandbox has no file system; use a transport (transport.open) for files on a target",
	"debug":   "can break the sandbox",
	"package": "require resolves vmlua's modules and the --lib directory only",
	"channel": "is not part of vmlua's Lua",
}

// osAllowed are the os functions a script keeps.
var osAllowed = map[string]bool{"time": true, "date": true, "clock": true, "difftime": true}

// NewState builds the sandboxed Lua state for this run: the safe parts of
// the standard library, vmlua's require, print to the run's stdout, arg, and the
// run's context so that a timeout or signal stops the script between any
// two instructions (coroutines included).
func (r *Run) NewState() *lua.LState {
	lim := r.limits
	L := lua.NewState(lua.Options{
		SkipOpenLibs:    true,
		CallStackSize:   lim.CallDepth,
		RegistrySize:    1024 * 20,
		RegistryMaxSize: 1024 * 1024,
		// gopher-lua grows the value stack by this step and copies it
		// each time: its default of 32 makes pushing n values O(n²)
		RegistryGrowStep:    4096,
		IncludeGoStackTrace: false,
	})
	L.SetContext(r.Context())
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.OsLibName, lua.OpenOs},
		{lua.CoroutineLibName, lua.OpenCoroutine},
	} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	registerErrorType(L)

	g := L.G.Global
	for name, why := range removedGlobals {
		g.RawSetString(name, refusal(L, name, why))
	}
	for name, why := range removedLibs {
		g.RawSetString(name, refusedLib(L, name, why))
	}
	// os: keep only the clock and calendar functions.
	if os, ok := g.RawGetString("os").(*lua.LTable); ok {
		var drop []string
		os.ForEach(func(k, _ lua.LValue) {
			if !osAllowed[k.String()] {
				drop = append(drop, k.String())
			}
		})
		for _, k := range drop {
			os.RawSetString(k, refusal(L, "os."+k, "reaches the host system outside the sandbox"))
		}
	}
	r.installString(L)
	r.installBounded(L)
	r.installLoad(L)
	L.SetGlobal("print", L.NewFunction(r.luaPrint))
	L.SetGlobal("require", L.NewFunction(r.luaRequire))
	L.SetGlobal("arg", r.argTable(L))
	return L
}

// refusal is what stands in place of a removed function: calling it raises
// a sandbox error that says why it is not available.
func refusal(L *lua.LState, name, why string) *lua.LFunction {
	return L.NewFunction(func(L *lua.LState) int {
		L.Error(sandboxError(L, name+" is not available in vmlua's sandbox: it "+why), 1)
		return 0
	})
}

// refusedLib stands in place of a removed library: any field access
// raises a sandbox error saying why the library is not there.
func refusedLib(L *lua.LState, name, why string) *lua.LTable {
	t := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		L.Error(sandboxError(L, fmt.Sprintf("%s.%s is not available in vmlua's sandbox: %s %s", name, L.ToString(2), name, why)), 1)
		return 0
	}))
	mt.RawSetString("__newindex", mt.RawGetString("__index"))
	mt.RawSetString("__metatable", lua.LString("sandbox"))
	L.SetMetatable(t, mt)
	return t
}

func sandboxError(L *lua.LState, msg string) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("code", lua.LString(CodeSandbox))
	t.RawSetString("message", lua.LString(msg))
	if w := L.Where(1); w != "" {
		t.RawSetString("where", lua.LString(w))
	}
	L.SetMetatable(t, L.GetTypeMetatable(errorTypeName))
	return t
}

func (r *Run) luaPrint(L *lua.LState) int {
	n := L.GetTop()
	parts := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		parts = append(parts, L.ToStringMeta(L.Get(i)).String())
	}
	r.printLine(parts)
	return 0
}

// installLoad replaces load and loadstring with versions that refuse
// precompiled chunks (gopher-lua cannot load them anyway; this makes the
// refusal explicit), bound the source by the string limit, refuse a chunk
// that nests deeper than the sandbox allows, and compile off the Lua
// goroutine so that a huge chunk does not hold the run past its context.
func (r *Run) installLoad(L *lua.LState) {
	L.SetGlobal("load", L.NewFunction(func(L *lua.LState) int {
		// load(chunk [, chunkname]): chunk is a string or a function
		// returning pieces; collect it, bounded, then compile as source.
		var src strings.Builder
		switch c := L.Get(1).(type) {
		case lua.LString:
			if len(c) > r.limits.MaxString {
				L.Error(sandboxError(L, "load: chunk larger than the sandbox's string limit"), 1)
			}
			src.WriteString(string(c))
		case *lua.LFunction:
			for {
				L.Push(c)
				L.Call(0, 1)
				piece := L.Get(-1)
				L.Pop(1)
				s, ok := piece.(lua.LString)
				if !ok || s == "" {
					break
				}
				if src.Len()+len(s) > r.limits.MaxString {
					L.Error(sandboxError(L, "load: chunk larger than the sandbox's string limit"), 1)
				}
				src.WriteString(string(s))
			}
		default:
			L.ArgError(1, "string or function expected")
		}
		if strings.HasPrefix(src.String(), "\x1b") {
			L.Error(sandboxError(L, "loading precompiled Lua bytecode is not allowed"), 1)
		}
		name := L.OptString(2, "=(load)")
		fn, err := r.LoadChunk(L, name, src.String())
		if err != nil {
			if cerr := r.Context().Err(); cerr != nil {
				return r.Raise(L, cerr)
			}
			L.Push(lua.LNil)
			L.Push(lua.LString(chunkErrorText(name, err)))
			return 2
		}
		L.Push(fn)
		return 1
	}))
	// loadstring keeps gopher-lua's semantics; only the bytecode check is
	// added, so route it through load.
	L.SetGlobal("loadstring", L.GetGlobal("load"))
}

var formatSpec = regexp.MustCompile(`%[-+ #0]*(\d*)(?:\.(\d*))?[a-zA-Z%]`)

// forward calls fn with the current function's arguments and returns all
// of its results.
func forward(L *lua.LState, fn *lua.LFunction) int {
	n := L.GetTop()
	L.Push(fn)
	for i := 1; i <= n; i++ {
		L.Push(L.Get(i))
	}
	L.Call(n, lua.MultRet)
	return L.GetTop() - n
}

// installString replaces the parts of the string library that can make
// the host allocate without bound or match forever.
func (r *Run) installString(L *lua.LState) {
	st := L.GetGlobal("string").(*lua.LTable)
	lim := r.limits
	st.RawSetString("rep", L.NewFunction(func(L *lua.LState) int {
		s := L.CheckString(1)
		n := L.CheckInt(2)
		if n <= 0 || s == "" {
			L.Push(lua.LString(""))
			return 1
		}
		if n > lim.MaxString/len(s) {
			L.Error(sandboxError(L, fmt.Sprintf("string.rep would build %d bytes; the sandbox's limit is %d", int64(len(s))*int64(n), lim.MaxString)), 1)
		}
		L.Push(lua.LString(strings.Repeat(s, n)))
		return 1
	}))
	origFormat := st.RawGetString("format").(*lua.LFunction)
	st.RawSetString("format", L.NewFunction(func(L *lua.LState) int {
		f := L.CheckString(1)
		total := len(f)
		specs := formatSpec.FindAllStringSubmatch(f, -1)
		for _, m := range specs {
			for _, d := range m[1:] {
				if d != "" {
					w, _ := strconv.Atoi(d)
					if len(d) > 7 {
						w = lim.MaxString
					}
					total += w
				}
			}
		}
		weight := formatWeight(specs)
		for i := 2; i <= L.GetTop(); i++ {
			if s, ok := L.Get(i).(lua.LString); ok {
				total += weight * len(s)
			}
		}
		if total > lim.MaxString {
			L.Error(sandboxError(L, "string.format would build more than the sandbox's string limit"), 1)
		}
		return forward(L, origFormat)
	}))
	tb := L.GetGlobal("table").(*lua.LTable)
	origConcat := tb.RawGetString("concat").(*lua.LFunction)
	tb.RawSetString("concat", L.NewFunction(func(L *lua.LState) int {
		t := L.CheckTable(1)
		sep := L.OptString(2, "")
		total := 0
		n := t.Len()
		for i := 1; i <= n; i++ {
			switch v := t.RawGetInt(i).(type) {
			case lua.LString:
				total += len(v) + len(sep)
			default:
				total += 24 + len(sep)
			}
			if total > lim.MaxString {
				L.Error(sandboxError(L, "table.concat would build more than the sandbox's string limit"), 1)
			}
		}
		return forward(L, origConcat)
	}))
	r.installPatterns(L, st)
}
