package main

import (
	"fmt"

	"github.com/vmlua/vmlua/runtime"
)

func init() { register(func() verb { return &versionVerb{} }) }

// versionVerb is vmlua version.
type versionVerb struct{ noFlags }

func (*versionVerb) About() about {
	return about{
		name:    "version",
		summary: "print vmlua's version (also: vmlua --version)",
		usage:   "Usage: vmlua version\n       vmlua --version\n\nPrints vmlua's version.",
	}
}

func (*versionVerb) Run(inv *call, pos []string) int {
	if len(pos) > 0 {
		fmt.Fprintf(inv.stderr, "vmlua version: unexpected argument %q\n", pos[0])
		return exitUsage
	}
	fmt.Fprintf(inv.stdout, "vmlua %s\n", runtime.Version)
	return exitOK
}
