package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/vmlua/vmlua/runtime"
)

func init() {
	register(command{name: "version", summary: "print vmlua's version (also: vmlua --version)", run: cmdVersion})
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vmlua version", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: vmlua version\n       vmlua --version\n\nPrints vmlua's version.")
	}
	pos, code, done := parseFlags(fs, args, stdout, stderr)
	if done {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "vmlua version: unexpected argument %q\n", pos[0])
		return exitUsage
	}
	fmt.Fprintf(stdout, "vmlua %s\n", runtime.Version)
	return exitOK
}
