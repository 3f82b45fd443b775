package log

import (
	"context"
	"log/slog"
	"sort"

	"github.com/vmlua/vmlua/runtime"
	lua "github.com/yuin/gopher-lua"
)

// Module is the "log" Lua module.
var Module = &runtime.Module{
	Name:    "log",
	Summary: "Structured log lines: log.info(msg, {key=value, ...}).",
	Doc: "Each function writes one record at its level with the message and the fields of the optional table. " +
		"`print(...)` writes to standard output, not to the log. Secrets are masked with `xxxxx` where they are written: " +
		"the password of a URL (`sftp://user:xxxxx@host`) and the value of a field named like a credential (`password`, `db_password`, `token`, `secret`, ...); other text is written as it is.",
	Funcs: []runtime.Func{
		level("debug", slog.LevelDebug),
		level("info", slog.LevelInfo),
		level("warn", slog.LevelWarn),
		level("error", slog.LevelError),
	},
}

func level(name string, lvl slog.Level) runtime.Func {
	return runtime.Func{
		Name: name,
		Args: []runtime.Arg{
			{Name: "message", Type: "string", Doc: "what happened"},
			{Name: "fields", Type: "table", Optional: true, Doc: "key/value pairs added to the record"},
		},
		Doc: "Writes a log record at " + name + " level.",
		Fn: func(r *runtime.Run, L *lua.LState) int {
			msg := L.CheckString(1)
			var attrs []any
			if t, ok := L.Get(2).(*lua.LTable); ok {
				attrs = fields(L, t)
			} else if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
				L.ArgError(2, "table of fields expected")
			}
			r.Log.Log(context.Background(), lvl, msg, attrs...)
			return 0
		},
	}
}

// fields converts a Lua table to slog attributes, sorted by key so that
// output is stable.
func fields(L *lua.LState, t *lua.LTable) []any {
	var keys []string
	vals := map[string]lua.LValue{}
	t.ForEach(func(k, v lua.LValue) {
		ks := k.String()
		keys = append(keys, ks)
		vals[ks] = v
	})
	sort.Strings(keys)
	var out []any
	for _, k := range keys {
		switch v := vals[k].(type) {
		case lua.LNumber:
			if float64(v) == float64(int64(v)) {
				out = append(out, slog.Int64(k, int64(v)))
			} else {
				out = append(out, slog.Float64(k, float64(v)))
			}
		case lua.LBool:
			out = append(out, slog.Bool(k, bool(v)))
		case lua.LString:
			out = append(out, slog.String(k, string(v)))
		default:
			out = append(out, slog.String(k, L.ToStringMeta(v).String()))
		}
	}
	return out
}
