package main

import (
	"flag"
	"fmt"
	"io"
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
	fs := newFlagSet(path, v, stderr)
	pos, code, done := parseFlags(fs, args, stdout, stderr)
	if done {
		return code
	}
	return v.Run(&call{fs: fs, stdout: stdout, stderr: stderr}, pos)
}
