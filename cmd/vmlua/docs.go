package main

import (
	"flag"
	"fmt"
	"io"
	"sort"

	"github.com/vmlua/vmlua/internal/cli/docgen"
	"github.com/vmlua/vmlua/modules/all"
)

func init() { register(func() verb { return &docsVerb{} }) }

// docsVerb is vmlua docs.
type docsVerb struct {
	out   string
	check bool
}

func (*docsVerb) About() about {
	return about{
		name:    "docs",
		summary: "write the Lua API and command-line references and editor definitions",
		usage:   "Usage: vmlua docs [--out DIR] [--check]\n\nGenerates, from the modules', transports' and commands' own registration:\n  docs/lua-api.md       the Lua API reference\n  docs/transports.md    transport URLs and options\n  docs/cli.md           the command-line reference (every command and its flags)\n  editor/vmlua.d.lua    lua-language-server definitions (and editor/library/*.lua, editor/README.md)\nRun it from the repository root after changing a module: go run ./cmd/vmlua docs\nExit status: 0 done (or up to date), 1 failure (or stale with --check), 2 usage.\n\nFlags:",
	}
}

func (v *docsVerb) Flags(fs *flag.FlagSet) {
	fs.StringVar(&v.out, "out", ".", "root `DIR` to write docs/ and editor/ under (the repository root to regenerate the committed files)")
	fs.BoolVar(&v.check, "check", false, "write nothing; exit 1 when a file under --out differs from what would be written")
}

func (v *docsVerb) Run(inv *call, pos []string) int {
	if len(pos) > 0 {
		fmt.Fprintf(inv.stderr, "vmlua docs: unexpected argument %q\n", pos[0])
		return exitUsage
	}
	files, err := docgen.Generate(all.Modules())
	if err != nil {
		fmt.Fprintf(inv.stderr, "vmlua docs: %v\n", err)
		return exitFailure
	}
	files = append(files, docgen.CLI(cliVerbs()))
	if v.check {
		stale := docgen.Stale(v.out, files)
		for _, p := range stale {
			fmt.Fprintf(inv.stdout, "stale: %s\n", p)
		}
		if len(stale) > 0 {
			fmt.Fprintf(inv.stderr, "vmlua docs: generated files are stale; run: %s\n", docgen.Command)
			return exitFailure
		}
		return exitOK
	}
	changed, err := docgen.Write(v.out, files)
	for _, p := range changed {
		fmt.Fprintf(inv.stdout, "wrote %s\n", p)
	}
	if err != nil {
		fmt.Fprintf(inv.stderr, "vmlua docs: %v\n", err)
		return exitFailure
	}
	if len(changed) == 0 {
		fmt.Fprintln(inv.stdout, "up to date")
	}
	return exitOK
}

// cliVerbs lists every verb for the command-line reference, sorted by name,
// each followed by its sub-verbs.
func cliVerbs() []docgen.Verb {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []docgen.Verb
	var add func(v verb, path string)
	add = func(v verb, path string) {
		a := v.About()
		out = append(out, docgen.Verb{Path: path, Summary: a.summary, Usage: a.usage, Flags: newFlagSet(path, v, io.Discard), Footer: a.footer})
		for _, sub := range a.subs {
			add(sub, path+" "+sub.About().name)
		}
	}
	for _, n := range names {
		add(commands[n](), "vmlua "+n)
	}
	return out
}
