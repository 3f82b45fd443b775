package backup

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/vmlua/vmlua/modules/backup/catalog"
	lua "github.com/yuin/gopher-lua"
)

// toLua converts a JSON-shaped Go value into Lua values.
func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case []any:
		t := L.NewTable()
		for _, e := range x {
			t.Append(toLua(L, e))
		}
		return t
	case map[string]any:
		t := L.NewTable()
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t.RawSetString(k, toLua(L, x[k]))
		}
		return t
	}
	return lua.LString(fmt.Sprint(v))
}

// jsonToLua renders any JSON-marshalable value as a Lua table.
func jsonToLua(L *lua.LState, v any) lua.LValue {
	b, err := json.Marshal(v)
	if err != nil {
		return lua.LNil
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		return lua.LNil
	}
	return toLua(L, x)
}

// fromLua converts a Lua table into JSON-shaped Go values: a table whose
// keys are 1..n is a list.
func fromLua(v lua.LValue, depth int) (any, error) {
	if depth > 32 {
		return nil, fmt.Errorf("table nested too deeply")
	}
	switch x := v.(type) {
	case *lua.LNilType:
		return nil, nil
	case lua.LBool:
		return bool(x), nil
	case lua.LNumber:
		f := float64(x)
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("number %v cannot be stored", f)
		}
		return f, nil
	case lua.LString:
		return string(x), nil
	case *lua.LTable:
		n := x.Len()
		count := 0
		x.ForEach(func(lua.LValue, lua.LValue) { count++ })
		if n > 0 && n == count {
			out := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				e, err := fromLua(x.RawGetInt(i), depth+1)
				if err != nil {
					return nil, err
				}
				out = append(out, e)
			}
			return out, nil
		}
		out := map[string]any{}
		var ferr error
		x.ForEach(func(k, val lua.LValue) {
			if ferr != nil {
				return
			}
			e, err := fromLua(val, depth+1)
			if err != nil {
				ferr = err
				return
			}
			out[k.String()] = e
		})
		return out, ferr
	}
	return nil, fmt.Errorf("%s values cannot be part of a catalog", v.Type().String())
}

// catalogFromLua reads an alternate catalog given as a Lua table.
func catalogFromLua(t *lua.LTable) (*catalog.Catalog, error) {
	x, err := fromLua(t, 0)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(x)
	if err != nil {
		return nil, err
	}
	return catalog.Parse(b)
}

// setTable renders a catalog for scripts: the catalog's fields, plus
// path (the set's folder under the target), status (also for old sets)
// and, per disk, bytes (stored) and sha256 (the content digest); a dry
// run's plan has bytes 0 and planned_bytes (the disk's capacity, read).
func setTable(L *lua.LState, c *catalog.Catalog) *lua.LTable {
	t, ok := jsonToLua(L, c).(*lua.LTable)
	if !ok {
		return L.NewTable()
	}
	t.RawSetString("path", lua.LString(c.ID))
	t.RawSetString("status", lua.LString(c.StatusOf()))
	if ds, ok := t.RawGetString("disks").(*lua.LTable); ok {
		for i, d := range c.Disks {
			if dt, ok := ds.RawGetInt(i + 1).(*lua.LTable); ok {
				f, _ := c.File(d.File)
				dt.RawSetString("bytes", lua.LNumber(f.Size))
				dt.RawSetString("sha256", lua.LString(d.ContentSHA256))
				if c.DryRun {
					dt.RawSetString("planned_bytes", lua.LNumber(d.Capacity))
				}
			}
		}
	}
	return t
}

// JSONToLua renders any JSON-marshalable value as a Lua table (for
// modules whose results are plain data, such as host).
func JSONToLua(L *lua.LState, v any) lua.LValue { return jsonToLua(L, v) }
