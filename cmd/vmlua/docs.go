package main

import (
	"flag"
	"fmt"

	"github.com/vmlua/vmlua/internal/docgen"
	"github.com/vmlua/vmlua/modules/all"
)

func init() { register(func() verb { return &docsVerb{} }) }

// docsVerb is vmlua docs.
type docsVerb struct {
	out   string
	check bool
}

func (*docsVerb) Name() string    { return "docs" }
func (*docsVerb) Summary() string { return "write the Lua API reference and editor definitions" }
func (*docsVerb) Usage() string {
	return "Usage: vmlua docs [--out DIR] [--check]\n\nGenerates, from the modules' and transports' own registration:\n  docs/lua-api.md       the Lua API reference\n  docs/transports.md    transport URLs and options\n  editor/vmlua.d.lua    lua-language-server definitions (and editor/library/*.lua, editor/README.md)\nRun it from the repository root after changing a module: go run ./cmd/vmlua docs\nExit status: 0 done (or up to date), 1 failure (or stale with --check), 2 usage.\n\nFlags:"
}

func (v *docsVerb) Flags(fs *flag.FlagSet) {
	fs.StringVar(&v.out, "out", ".", "root `DIR` to write docs/ and editor/ under (the repository root to regenerate the committed files)")
	fs.BoolVar(&v.check, "check", false, "write nothing; exit 1 when a file under --out differs from what would be written")
}

func (v *docsVerb) Run(inv *call, pos []string) int {
	stdout, stderr := inv.stdout, inv.stderr
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "vmlua docs: unexpected argument %q\n", pos[0])
		return exitUsage
	}
	files, err := docgen.Generate(all.Modules())
	if err != nil {
		fmt.Fprintf(stderr, "vmlua docs: %v\n", err)
		return exitFailure
	}
	if v.check {
		stale := docgen.Stale(v.out, files)
		for _, p := range stale {
			fmt.Fprintf(stdout, "stale: %s\n", p)
		}
		if len(stale) > 0 {
			fmt.Fprintf(stderr, "vmlua docs: generated files are stale; run: %s\n", docgen.Command)
			return exitFailure
		}
		return exitOK
	}
	changed, err := docgen.Write(v.out, files)
	for _, p := range changed {
		fmt.Fprintf(stdout, "wrote %s\n", p)
	}
	if err != nil {
		fmt.Fprintf(stderr, "vmlua docs: %v\n", err)
		return exitFailure
	}
	if len(changed) == 0 {
		fmt.Fprintln(stdout, "up to date")
	}
	return exitOK
}
