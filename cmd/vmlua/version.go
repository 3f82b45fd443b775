package main

import (
	"fmt"
	"io"

	"github.com/vmlua/vmlua/runtime"
)

func init() {
	register(command{name: "version", summary: "print vmlua's version", run: func(args []string, stdout, stderr io.Writer) int {
		fmt.Fprintf(stdout, "vmlua %s\n", runtime.Version)
		return exitOK
	}})
}
