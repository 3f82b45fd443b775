// Command vmlua runs a site's Lua scripts to back up, restore and look after
// VMware virtual machines. This package is wiring only: flags, config and the
// hand-over to runtime and modules. Each subcommand is a verb (verb.go) in
// its own file that registers itself in init().
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/vmlua/vmlua/runtime"
	_ "github.com/vmlua/vmlua/transports/all" // registers every transport scheme
)

// Exit statuses, documented in docs/operations.md (runtime defines them:
// scripts set 6 and 7 themselves with script.status).
const (
	exitOK              = runtime.ExitOK
	exitFailure         = runtime.ExitFailed          // the script or command failed
	exitUsage           = runtime.ExitUsage           // bad flags or arguments, missing script
	exitConfig          = runtime.ExitConfig          // config file unreadable, unsafe permissions, no endpoint
	exitTimeout         = runtime.ExitTimeout         // the run hit its --timeout
	exitCanceled        = runtime.ExitCanceled        // SIGINT/SIGTERM
	exitNothingSelected = runtime.ExitNothingSelected // the selection matched no VM
	exitPartial         = runtime.ExitPartial         // finished, but left something out
	exitBlocked         = runtime.ExitBlocked         // vmlua doctor found what stands in the way of a backup
)

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	case "help":
		if len(args) > 1 {
			if newVerb, ok := commands[args[1]]; ok {
				return execVerb(newVerb(), "vmlua "+args[1], []string{"--help"}, stdout, stderr)
			}
		}
		usage(stdout)
		return exitOK
	case "-v", "-version", "--version":
		args = []string{"version"}
	}
	newVerb, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "vmlua: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	defer startProfiles(stderr)()
	return execVerb(newVerb(), "vmlua "+args[0], args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "vmlua runs Lua scripts that back up, restore and look after VMware virtual machines.")
	fmt.Fprintln(w, "\nUsage: vmlua COMMAND [FLAGS] [ARGS]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n]().About().summary)
	}
	fmt.Fprintln(w, "\nRun 'vmlua COMMAND --help' (or 'vmlua help COMMAND') for a command's flags; 'vmlua --version' prints the version.\nExit statuses: docs/operations.md. Docs: docs/README.md")
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
