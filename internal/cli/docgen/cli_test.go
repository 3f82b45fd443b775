package docgen_test

import (
	"flag"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/cli/docgen"
)

func TestTheCLIReferenceRendersAVerbsHelp(t *testing.T) {
	fs := flag.NewFlagSet("vmlua copy", flag.ContinueOnError)
	fs.String("out", ".", "root `DIR` to write under")
	fs.Int("jobs", 4, "copies at once")
	fs.Int("per-host", 0, "at most this many per host; 0 = no limit")
	fs.Bool("dry-run", false, "change nothing")
	fs.String("mode", "", "a | b")
	doc := string(docgen.CLI([]docgen.Verb{
		{Path: "vmlua copy", Summary: "copy things", Usage: "Usage: vmlua copy [FLAGS] SRC DST\n\nCopies SRC to DST.\n\nFlags:", Flags: fs, Footer: "Exit status: 0 done, 1 failure."},
		{Path: "vmlua copy back", Summary: "copy them back.", Usage: "Usage: vmlua copy back DST\n\n" + strings.Repeat("word ", 40)},
	}).Data)
	cases := []struct {
		name string
		want string
	}{
		{"the index links each verb to its section", "| [`vmlua copy back`](#vmlua-copy-back) | copy them back. |"},
		{"a section starts with the summary as a sentence", "## vmlua copy\n\nCopy things.\n"},
		{"the usage is shown as --help prints it, without the Flags: line", "```text\nUsage: vmlua copy [FLAGS] SRC DST\n\nCopies SRC to DST.\n```\n"},
		{"a flag with a value shows its value's name and its default", "| `--out DIR` | `.` | root `DIR` to write under |"},
		{"a typed flag shows its type", "| `--jobs int` | `4` | copies at once |"},
		{"a zero default is left out", "| `--per-host int` |  | at most this many per host; 0 = no limit |"},
		{"a boolean flag has no value", "| `--dry-run` |  | change nothing |"},
		{"a | in the help is escaped", `| a \| b |`},
		{"the footer follows the flags' table", "|\n\nExit status: 0 done, 1 failure.\n"},
		{"long description lines are folded", "\nword word"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(doc, tc.want) {
				t.Errorf("missing %q in:\n%s", tc.want, doc)
			}
		})
	}
	if strings.Contains(doc, "Flags:") {
		t.Errorf("the Flags: line of --help is in the reference:\n%s", doc)
	}
}
