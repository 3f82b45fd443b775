package main

import (
	"fmt"
	"os"

	"github.com/vmlua/vmlua/internal/oneline"
	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/runtime"
)

func init() { register(func() verb { return &checkVerb{} }) }

// checkVerb is vmlua check.
type checkVerb struct{ noFlags }

func (*checkVerb) About() about {
	return about{
		name:    "check",
		summary: "check scripts without running them",
		usage:   "Usage: vmlua check SCRIPT...\n\nCompiles each script and reports, with file:line, calls of vmlua functions and methods that do not exist or get the wrong number of arguments. Nothing is run.\nvmlua run does the same check before it runs a script (unless --no-check).\nExit status: 0 when every script is clean, 1 when anything was found, 2 usage (no script given, or a script that cannot be read).",
	}
}

func (*checkVerb) Run(inv *call, pos []string) int {
	if len(pos) == 0 {
		return inv.usageError()
	}
	status := exitOK
	for _, file := range pos {
		src, err := os.ReadFile(file)
		if err != nil {
			// A script that is not there is a usage error, as with run.
			fmt.Fprintf(inv.stderr, "vmlua check: %v\n", err)
			status = exitUsage
			continue
		}
		for _, f := range runtime.Check(file, string(src), all.Modules()) {
			fmt.Fprintln(inv.stdout, oneline.Escape(f.String()))
			status = max(status, exitFailure) // a usage error (2) stays
		}
	}
	return status
}
