package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/runtime"
)

func init() {
	register(command{name: "check", summary: "check scripts without running them", run: cmdCheck})
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vmlua check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: vmlua check SCRIPT...\n\nCompiles each script and reports, with file:line, calls of vmlua functions and methods that do not exist or get the wrong number of arguments. Nothing is run.\nExit status: 0 when every script is clean, 1 when anything was found, 2 usage.")
	}
	pos, code, done := parseFlags(fs, args, stdout, stderr)
	if done {
		return code
	}
	if len(pos) == 0 {
		fs.Usage()
		return exitUsage
	}
	status := exitOK
	for _, file := range pos {
		src, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintf(stderr, "vmlua check: %v\n", err)
			status = exitFailure
			continue
		}
		for _, f := range runtime.Check(file, string(src), all.Modules()) {
			fmt.Fprintln(stdout, f)
			status = exitFailure
		}
	}
	return status
}
