package runtime

import (
	"fmt"
	"strings"

	"github.com/vmlua/vmlua/runtime/internal/luapattern"
	lua "github.com/yuin/gopher-lua"
)

// installPatterns replaces string.find, match, gmatch and gsub with
// versions that run gopher-lua's matcher under a budget (steps, recursion
// depth, pattern length, and the run's context). The semantics are
// gopher-lua's (Lua 5.1 patterns).
func (r *Run) installPatterns(L *lua.LState, st *lua.LTable) {
	st.RawSetString("find", L.NewFunction(r.strFind))
	st.RawSetString("match", L.NewFunction(r.strMatch))
	st.RawSetString("gmatch", L.NewFunction(r.strGmatch))
	st.RawSetString("gsub", L.NewFunction(r.strGsub))
}

func (r *Run) find(L *lua.LState, pattern, src string, offset, limit int) []*luapattern.MatchData {
	if len(pattern) > r.limits.MaxPattern {
		L.Error(sandboxError(L, fmt.Sprintf("pattern of %d bytes is longer than the sandbox's limit of %d", len(pattern), r.limits.MaxPattern)), 1)
	}
	mds, err := luapattern.Find(pattern, []byte(src), offset, limit, luapattern.Budget{
		Ctx: r.Context(), MaxSteps: r.limits.PatternSteps, MaxDepth: r.limits.PatternDepth,
	})
	if err != nil {
		if strings.HasPrefix(err.Error(), "pattern too expensive") || strings.HasPrefix(err.Error(), "pattern matching stopped") {
			L.Error(sandboxError(L, err.Error()), 1)
		}
		L.RaiseError("%s", err.Error())
	}
	return mds
}

// strIndex converts a Lua string index (1-based, negative from the end)
// to a 0-based Go offset.
func strIndex(s string, i int) int {
	if i > 0 {
		i--
	} else if i < 0 {
		i = len(s) + i
		if i < 0 {
			i = 0
		}
	}
	return i
}

func pushCaptures(L *lua.LState, md *luapattern.MatchData, src string, wholeIfNone bool) int {
	if md.CaptureLength() == 2 {
		if wholeIfNone {
			L.Push(lua.LString(src[md.Capture(0):md.Capture(1)]))
			return 1
		}
		return 0
	}
	n := 0
	for i := 2; i < md.CaptureLength(); i += 2 {
		if md.IsPosCapture(i) {
			L.Push(lua.LNumber(md.Capture(i)))
		} else {
			L.Push(lua.LString(src[md.Capture(i):md.Capture(i+1)]))
		}
		n++
	}
	return n
}

func (r *Run) strFind(L *lua.LState) int {
	s := L.CheckString(1)
	pattern := L.CheckString(2)
	init := strIndex(s, L.OptInt(3, 1))
	if init > len(s) {
		L.Push(lua.LNil)
		return 1
	}
	if pattern == "" {
		L.Push(lua.LNumber(init + 1))
		L.Push(lua.LNumber(init))
		return 2
	}
	if lua.LVAsBool(L.Get(4)) {
		pos := strings.Index(s[init:], pattern)
		if pos < 0 {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LNumber(init + pos + 1))
		L.Push(lua.LNumber(init + pos + len(pattern)))
		return 2
	}
	mds := r.find(L, pattern, s, init, 1)
	if len(mds) == 0 {
		L.Push(lua.LNil)
		return 1
	}
	md := mds[0]
	L.Push(lua.LNumber(md.Capture(0) + 1))
	L.Push(lua.LNumber(md.Capture(1)))
	return 2 + pushCaptures(L, md, s, false)
}

func (r *Run) strMatch(L *lua.LState) int {
	s := L.CheckString(1)
	pattern := L.CheckString(2)
	init := strIndex(s, L.OptInt(3, 1))
	if init > len(s) {
		L.Push(lua.LNil)
		return 1
	}
	mds := r.find(L, pattern, s, init, 1)
	if len(mds) == 0 {
		L.Push(lua.LNil)
		return 1
	}
	return pushCaptures(L, mds[0], s, true)
}

func (r *Run) strGmatch(L *lua.LState) int {
	s := L.CheckString(1)
	pattern := L.CheckString(2)
	mds := r.find(L, pattern, s, 0, -1)
	i := 0
	L.Push(L.NewFunction(func(L *lua.LState) int {
		if i >= len(mds) {
			return 0
		}
		md := mds[i]
		i++
		return pushCaptures(L, md, s, true)
	}))
	return 1
}

func (r *Run) strGsub(L *lua.LState) int {
	s := L.CheckString(1)
	pattern := L.CheckString(2)
	L.CheckTypes(3, lua.LTString, lua.LTNumber, lua.LTTable, lua.LTFunction)
	repl := L.Get(3)
	limit := L.OptInt(4, -1)
	mds := r.find(L, pattern, s, 0, limit)
	var out strings.Builder
	last := 0
	for _, md := range mds {
		start, end := md.Capture(0), md.Capture(1)
		out.WriteString(s[last:start])
		whole := s[start:end]
		// the first capture, or the whole match when there is none
		first := func() lua.LValue {
			if md.CaptureLength() > 2 {
				if md.IsPosCapture(2) {
					return lua.LNumber(md.Capture(2))
				}
				return lua.LString(s[md.Capture(2):md.Capture(3)])
			}
			return lua.LString(whole)
		}
		var rep lua.LValue
		switch rv := repl.(type) {
		case lua.LString, lua.LNumber:
			rep = lua.LString(expandRepl(L, rv.String(), md, s))
		case *lua.LTable:
			rep = L.GetTable(rv, first())
		case *lua.LFunction:
			L.Push(rv)
			n := pushCaptures(L, md, s, true)
			L.Call(n, 1)
			rep = L.Get(-1)
			L.Pop(1)
		}
		if lua.LVIsFalse(rep) {
			out.WriteString(whole)
		} else {
			str, ok := rep.(lua.LString)
			if !ok {
				if num, isNum := rep.(lua.LNumber); isNum {
					str = lua.LString(num.String())
				} else {
					L.RaiseError("invalid replacement value (a %s)", rep.Type().String())
				}
			}
			out.WriteString(string(str))
		}
		if out.Len() > r.limits.MaxString {
			L.Error(sandboxError(L, "string.gsub would build more than the sandbox's string limit"), 1)
		}
		last = end
	}
	out.WriteString(s[last:])
	L.Push(lua.LString(out.String()))
	L.Push(lua.LNumber(len(mds)))
	return 2
}

// expandRepl expands %0-%9 and %% in a gsub replacement string.
func expandRepl(L *lua.LState, repl string, md *luapattern.MatchData, s string) string {
	if !strings.Contains(repl, "%") {
		return repl
	}
	var b strings.Builder
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '%' || i+1 == len(repl) {
			b.WriteByte(c)
			continue
		}
		i++
		d := repl[i]
		switch {
		case d == '0':
			b.WriteString(s[md.Capture(0):md.Capture(1)])
		case d >= '1' && d <= '9':
			idx := 2 * int(d-'0')
			if md.CaptureLength() == 2 && d == '1' {
				b.WriteString(s[md.Capture(0):md.Capture(1)])
				continue
			}
			if idx >= md.CaptureLength() {
				L.RaiseError("invalid capture index %%%c in replacement string", d)
			}
			if md.IsPosCapture(idx) {
				fmt.Fprint(&b, md.Capture(idx))
			} else {
				b.WriteString(s[md.Capture(idx):md.Capture(idx+1)])
			}
		default:
			b.WriteByte(d)
		}
	}
	return b.String()
}
