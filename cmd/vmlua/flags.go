package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// parseFlags parses a command's arguments. Flags may come anywhere before
// a lone "--" — before or after the script name, as users type them
// (vmlua run x.lua --allow file:///srv to=...); everything after "--" is
// an argument even if it starts with "-". The positional arguments are
// returned in order.
//
// -h/--help prints the command's usage once, on stdout, and returns done
// with status 0. A bad flag prints one line saying what is wrong and how
// to get help, on stderr, and returns done with status 2.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (pos []string, code int, done bool) {
	// The flag package prints the usage itself on -h and on errors (to
	// stderr); collect that and decide here what is shown, once.
	fs.SetOutput(io.Discard)
	defer fs.SetOutput(stderr)
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(stdout)
				fs.Usage()
				return nil, exitOK, true
			}
			fmt.Fprintf(stderr, "%s: %s\nRun '%s --help' for its flags.\n", fs.Name(), flagError(err), fs.Name())
			return nil, exitUsage, true
		}
		rem := fs.Args()
		if used := len(rest) - len(rem); used > 0 && rest[used-1] == "--" {
			return append(pos, rem...), exitOK, false
		}
		if len(rem) == 0 {
			return pos, exitOK, false
		}
		pos = append(pos, rem[0])
		rest = rem[1:]
	}
}

// flagError rewords the flag package's errors for a person.
func flagError(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return fmt.Sprintf("unknown flag %s (a script's own arguments are key=value, e.g. keep=3; put arguments that start with - after a lone --)", "--"+strings.TrimLeft(name, "-"))
	}
	return msg
}
