package runtime_test

import (
	"io"
	"log/slog"
	"testing"

	lua "github.com/yuin/gopher-lua"

	vlog "github.com/vmlua/vmlua/modules/log"
	"github.com/vmlua/vmlua/runtime"
)

// BenchmarkNewState: the cost of one sandboxed Lua state (goal < 1 ms; a
// fleet run makes one per VM).
func BenchmarkNewState(b *testing.B) {
	r, err := runtime.New(runtime.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Modules: []*runtime.Module{vlog.Module}, Limits: runtime.Limits{MemoryBytes: -1}})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ReportAllocs()
	for b.Loop() {
		L := r.NewState()
		L.Close()
	}
}

// BenchmarkTrivialRun: a whole run (options, state, script, cleanup) of a
// one-line script, in process.
func BenchmarkTrivialRun(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		r, err := runtime.New(runtime.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Modules: []*runtime.Module{vlog.Module}, Limits: runtime.Limits{MemoryBytes: -1}})
		if err != nil {
			b.Fatal(err)
		}
		if err := r.ExecString("t.lua", `local log = require "log"; log.info("x")`); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareLState: a plain gopher-lua state with its standard
// libraries, no sandbox: the floor BenchmarkNewState is compared with.
func BenchmarkBareLState(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		L := lua.NewState()
		L.Close()
	}
}
