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
	About() about
	// Flags declares the verb's flags on fs, bound to the verb's fields.
	Flags(fs *flag.FlagSet)
	// Run does the work once the flags are parsed, with the positional
	// arguments, and returns the exit status. It prints its own errors to
	// stderr.
	Run(inv *call, pos []string) int
}

// about is what a verb says about itself.
type about struct {
	name    string // as typed after vmlua (after its parent for a sub-verb)
	summary string // one line, for vmlua --help
	// usage is what --help prints before the flags: the "Usage: vmlua ..."
	// lines, a blank line, and what the verb does.
	usage  string
	footer string // what --help prints after the flags (the exit statuses), if anything
	subs   []verb // sub-verbs (vmlua sim ask), chosen by the first argument
}

// noFlags is embedded by the verbs that have none.
type noFlags struct{}

func (noFlags) Flags(*flag.FlagSet) {}

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
	name := newVerb().About().name
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
		a := v.About()
		fmt.Fprintln(fs.Output(), a.usage)
		fs.PrintDefaults()
		if a.footer != "" {
			fmt.Fprintln(fs.Output(), "\n"+a.footer)
		}
	}
	return fs
}

// execVerb runs the verb v, called path, with the arguments after its
// name: a sub-verb when the first argument names one, else v itself with
// its flags parsed (parseFlags: anywhere before a lone --).
func execVerb(v verb, path string, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		for _, sub := range v.About().subs {
			if name := sub.About().name; name == args[0] {
				return execVerb(sub, path+" "+name, args[1:], stdout, stderr)
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
