//go:build vmlua_testhooks

// This file is compiled only into the binaries that process-level tests
// build with -tags vmlua_testhooks (internal/harness/hostile): it gives
// scripts a "testhook" module whose stuck() blocks for ever without
// looking at the run's context, as a Go call doing unbounded work would.
// The tests use it to check that SIGTERM and --timeout still run the
// cleanup stack and exit with the documented status, whatever call a
// script is stuck in. A release build has no such module.

package main

import (
	"io"

	"github.com/vmlua/vmlua/runtime"
	lua "github.com/yuin/gopher-lua"
)

var testhookModule = &runtime.Module{
	Name:    "testhook",
	Summary: "Test hooks (test builds only).",
	Funcs: []runtime.Func{{
		Name: "stuck",
		Doc:  "Prints \"stuck\" (a line tests wait for), then blocks for ever, ignoring the run's context.",
		Fn: func(r *runtime.Run, L *lua.LState) int {
			_, _ = io.WriteString(r.Stdout(), "stuck\n")
			select {}
		},
	}},
}

func init() {
	base := modules
	modules = func() []*runtime.Module { return append(base(), testhookModule) }
}
