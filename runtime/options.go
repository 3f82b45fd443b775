package runtime

import (
	"math"

	lua "github.com/yuin/gopher-lua"
)

// OptionsTable returns the options table at argument n of a Lua call: an
// empty table when the argument is absent or nil, a Lua argument error
// when it is something else.
func OptionsTable(L *lua.LState, n int) *lua.LTable {
	switch v := L.Get(n).(type) {
	case *lua.LTable:
		return v
	case *lua.LNilType:
		return L.NewTable()
	}
	L.ArgError(n, "table of options expected")
	return nil
}

// OptString reads string option key of t (def when absent); another
// type raises a Lua error that names the option.
func OptString(L *lua.LState, t *lua.LTable, key, def string) string {
	switch v := t.RawGetString(key).(type) {
	case lua.LString:
		return string(v)
	case *lua.LNilType:
		return def
	default:
		L.RaiseError("option %s: string expected, got %s", key, v.Type().String())
	}
	return def
}

// OptBool reads boolean option key of t (def when absent).
func OptBool(L *lua.LState, t *lua.LTable, key string, def bool) bool {
	switch v := t.RawGetString(key).(type) {
	case lua.LBool:
		return bool(v)
	case *lua.LNilType:
		return def
	default:
		L.RaiseError("option %s: boolean expected, got %s", key, v.Type().String())
	}
	return def
}

// OptInt reads whole-number option key of t, >= 0 (def when absent).
func OptInt(L *lua.LState, t *lua.LTable, key string, def int) int {
	switch v := t.RawGetString(key).(type) {
	case lua.LNumber:
		if float64(v) != math.Trunc(float64(v)) || v < 0 {
			L.RaiseError("option %s: a whole number >= 0 expected, got %v", key, v)
		}
		return int(v)
	case *lua.LNilType:
		return def
	default:
		L.RaiseError("option %s: number expected, got %s", key, v.Type().String())
	}
	return def
}

// OptStrings reads option key of t as a list of strings (one string is
// a list of one; nil when absent).
func OptStrings(L *lua.LState, t *lua.LTable, key string) []string {
	switch v := t.RawGetString(key).(type) {
	case *lua.LNilType:
		return nil
	case lua.LString:
		return []string{string(v)}
	case *lua.LTable:
		var out []string
		for i := 1; i <= v.Len(); i++ {
			s, ok := v.RawGetInt(i).(lua.LString)
			if !ok {
				L.RaiseError("option %s: a list of strings expected", key)
			}
			out = append(out, string(s))
		}
		return out
	default:
		L.RaiseError("option %s: a list of strings expected, got %s", key, v.Type().String())
	}
	return nil
}
