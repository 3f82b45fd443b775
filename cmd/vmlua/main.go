// Command vmlua runs a site's Lua scripts to back up, restore and look after
// VMware virtual machines. This package is wiring only: flags, config and the
// hand-over to runtime and modules. Each subcommand lives in its own file and
// registers itself in init().
package main

import (
	"flag"
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
)

// verb is one subcommand of vmlua. It names and describes itself and
// declares its flags, so that dispatch, --help and the CLI reference
// (docs/cli.md, written by vmlua docs) come from one place, as govc's
// commands and USAGE.md. A verb holds its flags' values: commands makes a
// fresh one for every invocation.
type verb interface {
	Name() string    // as typed after vmlua (after its parent for a sub-verb)
	Summary() string // one line, for vmlua --help
	// Usage is what --help prints before the flags: the "Usage: vmlua ..."
	// lines, a blank line, and what the verb does.
	Usage() string
	// Flags declares the verb's flags on fs, bound to the verb's fields.
	Flags(fs *flag.FlagSet)
	// Run does the work once the flags are parsed, with the positional
	// arguments, and returns the exit status. It prints its own errors to
	// stderr.
	Run(c *call, pos []string) int
}

// footer is a verb whose --help has more to say after the flags (its exit
// statuses).
type footer interface{ Footer() string }

// parent is a verb with sub-verbs (vmlua sim ask), chosen by the first
// argument.
type parent interface{ Subverbs() []verb }

// call is one invocation of a verb: its parsed flag set and where it
// writes.
type call struct {
	fs             *flag.FlagSet
	stdout, stderr io.Writer
}

// usageError prints the verb's usage on stderr and returns exit status 2.
func (c *call) usageError() int {
	c.fs.SetOutput(c.stderr)
	c.fs.Usage()
	return exitUsage
}

// commands are vmlua's verbs by name; each file registers its own in
// init().
var commands = map[string]func() verb{}

func register(newVerb func() verb) {
	name := newVerb().Name()
	if _, dup := commands[name]; dup {
		panic("vmlua: command registered twice: " + name)
	}
	commands[name] = newVerb
}

// newFlagSet builds the flag set of the verb v, called path ("vmlua run"),
// with its flags and its --help.
func newFlagSet(path string, v verb, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	fs.SetOutput(stderr)
	v.Flags(fs)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, v.Usage())
		fs.PrintDefaults()
		if f, ok := v.(footer); ok {
			fmt.Fprintln(w, "\n"+f.Footer())
		}
	}
	return fs
}

// execVerb runs the verb v, called path, with the arguments after its
// name: a sub-verb when the first argument names one, else v itself with
// its flags parsed (parseFlags: anywhere before a lone --).
func execVerb(v verb, path string, args []string, stdout, stderr io.Writer) int {
	if p, ok := v.(parent); ok && len(args) > 0 {
		for _, sub := range p.Subverbs() {
			if sub.Name() == args[0] {
				return execVerb(sub, path+" "+sub.Name(), args[1:], stdout, stderr)
			}
		}
	}
	if l, ok := v.(legacyCommand); ok {
		return l.run(args, stdout, stderr)
	}
	fs := newFlagSet(path, v, stderr)
	pos, code, done := parseFlags(fs, args, stdout, stderr)
	if done {
		return code
	}
	return v.Run(&call{fs: fs, stdout: stdout, stderr: stderr}, pos)
}

// legacyCommand is a subcommand not yet converted to a verb: it parses its
// own arguments.
type legacyCommand struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

func (l legacyCommand) Name() string           { return l.name }
func (l legacyCommand) Summary() string        { return l.summary }
func (l legacyCommand) Usage() string          { return "" }
func (l legacyCommand) Flags(fs *flag.FlagSet) {}
func (l legacyCommand) Run(*call, []string) int {
	panic("vmlua: legacyCommand.Run")
}

// command registers a subcommand not yet converted to a verb.
type command legacyCommand

func registerLegacy(c command) { register(func() verb { return legacyCommand(c) }) }

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
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n]().Summary())
	}
	fmt.Fprintln(w, "\nRun 'vmlua COMMAND --help' (or 'vmlua help COMMAND') for a command's flags; 'vmlua --version' prints the version.\nExit statuses: docs/operations.md. Docs: docs/README.md")
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }
