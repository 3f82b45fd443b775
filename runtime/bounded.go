package runtime

import (
	"fmt"
	"math"
	"sort"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// DefaultMaxResults bounds the values one call of unpack or string.byte
// returns (Limits.MaxResults). gopher-lua pushes them one at a time onto
// a stack that grows by a fixed step, inside one Go call that never looks
// at the run's context: unpack({}, 1, 1e9) kept a process busy past its
// --timeout and SIGTERM. Lua 5.1 refuses more than about 8000 ("too many
// results to unpack"); 65536 keeps its scripts working.
const DefaultMaxResults = 1 << 16

// sortCheckEvery is how many comparisons table.sort makes between two
// looks at the run's context.
const sortCheckEvery = 1024

// installBounded replaces the base, table and os functions whose work
// grows with an argument, inside one Go call, with versions that are
// bounded (a clear sandbox error past the limit) or that stop when the
// run's context ends. string.rep, string.format, table.concat and the
// pattern functions are bounded in installString and installPatterns.
func (r *Run) installBounded(L *lua.LState) {
	L.SetGlobal("unpack", L.NewFunction(r.luaUnpack))
	if st, ok := L.GetGlobal("string").(*lua.LTable); ok {
		st.RawSetString("byte", L.NewFunction(r.strByte))
	}
	if tb, ok := L.GetGlobal("table").(*lua.LTable); ok {
		tb.RawSetString("sort", L.NewFunction(r.tableSort))
	}
	if os, ok := L.GetGlobal("os").(*lua.LTable); ok {
		if date, ok := os.RawGetString("date").(*lua.LFunction); ok {
			os.RawSetString("date", L.NewFunction(func(L *lua.LState) int {
				// strftime expands each two-byte directive to at most 24
				// bytes ("%c"): bound the format so the result stays
				// within the string limit.
				if f, ok := L.Get(1).(lua.LString); ok && len(f) > r.limits.MaxString/12 {
					L.Error(sandboxError(L, fmt.Sprintf("os.date: a format of %d bytes could build more than the sandbox's string limit of %d bytes", len(f), r.limits.MaxString)), 1)
				}
				return forward(L, date)
			}))
		}
	}
}

// tooManyResults raises the sandbox error for a call that would return n
// values.
func (r *Run) tooManyResults(L *lua.LState, fn string, n float64, hint string) {
	L.Error(sandboxError(L, fmt.Sprintf("%s would return %.0f values; the sandbox's limit is %d per call: %s", fn, n, r.limits.MaxResults, hint)), 1)
}

// luaUnpack is base unpack (Lua 5.1: unpack(list [, i [, j]])), bounded.
func (r *Run) luaUnpack(L *lua.LState) int {
	tb := L.CheckTable(1)
	// the range is computed in floats: OptInt of a huge number wraps, and
	// a wrapped range is where the old unpack looped for ever
	i := math.Trunc(float64(L.OptNumber(2, 1)))
	var j float64
	if L.Get(3) == lua.LNil {
		j = float64(tb.Len())
	} else {
		j = math.Trunc(float64(L.CheckNumber(3)))
	}
	n := j - i + 1
	if n <= 0 || math.IsNaN(n) {
		return 0
	}
	if n > float64(r.limits.MaxResults) {
		r.tooManyResults(L, "unpack", n, "unpack a smaller range at a time, or walk the list with ipairs")
	}
	start := int(i)
	for k := 0; k < int(n); k++ {
		L.Push(tb.RawGetInt(start + k))
	}
	return int(n)
}

// strByte is string.byte(s [, i [, j]]), bounded.
func (r *Run) strByte(L *lua.LState) int {
	s := L.CheckString(1)
	l := float64(len(s))
	i := math.Trunc(float64(L.OptNumber(2, 1)))
	j := i
	if L.GetTop() >= 3 {
		j = math.Trunc(float64(L.OptNumber(3, -1)))
	}
	// Lua 5.1: negative positions count from the end; the range is then
	// clamped to the string
	if i < 0 {
		i = l + i + 1
	}
	if j < 0 {
		j = l + j + 1
	}
	i = math.Max(i, 1)
	j = math.Min(j, l)
	n := j - i + 1
	if n <= 0 || math.IsNaN(n) {
		return 0
	}
	if n > float64(r.limits.MaxResults) {
		r.tooManyResults(L, "string.byte", n, "take the bytes of a shorter slice at a time (s:byte(i, i + 4095))")
	}
	start := int(i) - 1
	for k := 0; k < int(n); k++ {
		L.Push(lua.LNumber(s[start+k]))
	}
	return int(n)
}

// tableSort is table.sort(list [, comp]) over list[1..#list]; it looks at
// the run's context every sortCheckEvery comparisons (a comparison
// function is Lua and checked by the interpreter; the default order of
// millions of strings is Go and was not). The list is changed only when
// the sort completes.
func (r *Run) tableSort(L *lua.LState) int {
	tb := L.CheckTable(1)
	var comp *lua.LFunction
	if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
		comp = L.CheckFunction(2)
	}
	n := tb.Len()
	s := &luaSorter{L: L, r: r, fn: comp, v: make([]lua.LValue, n)}
	for i := range s.v {
		s.v[i] = tb.RawGetInt(i + 1)
	}
	sort.Sort(s)
	for i, v := range s.v {
		tb.RawSetInt(i+1, v)
	}
	return 0
}

type luaSorter struct {
	L     *lua.LState
	r     *Run
	fn    *lua.LFunction
	v     []lua.LValue
	count int
}

func (s *luaSorter) Len() int      { return len(s.v) }
func (s *luaSorter) Swap(i, j int) { s.v[i], s.v[j] = s.v[j], s.v[i] }
func (s *luaSorter) Less(i, j int) bool {
	s.count++
	if s.count%sortCheckEvery == 0 {
		if err := s.r.Context().Err(); err != nil {
			s.r.Raise(s.L, Wrap(err, CodeCanceled))
		}
	}
	if s.fn == nil {
		return s.L.LessThan(s.v[i], s.v[j])
	}
	s.L.Push(s.fn)
	s.L.Push(s.v[i])
	s.L.Push(s.v[j])
	s.L.Call(2, 1)
	ret := s.L.Get(-1)
	s.L.Pop(1)
	return lua.LVAsBool(ret)
}

// formatWeight is how many output bytes string.format may write per byte
// of a string argument: %q writes a control byte as \ddd.
func formatWeight(specs [][]string) int {
	for _, m := range specs {
		if strings.HasSuffix(m[0], "q") {
			return 4
		}
	}
	return 1
}
