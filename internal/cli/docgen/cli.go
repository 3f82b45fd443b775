package docgen

import (
	"bytes"
	"flag"
	"fmt"
	"strings"
)

// CLIPath is the command-line reference, generated from cmd/vmlua's verbs.
const CLIPath = "docs/cli.md"

// Verb is one vmlua command as the command-line reference shows it: what
// its --help prints, taken apart.
type Verb struct {
	Path    string        // as typed: "vmlua run", "vmlua sim ask"
	Summary string        // one line
	Usage   string        // what --help prints before the flags ("Usage: ..." lines, a blank line, the description)
	Flags   *flag.FlagSet // the verb's flags (none: nil or empty)
	Footer  string        // what --help prints after the flags (the exit statuses), if anything
}

// CLI renders the command-line reference (CLIPath) from the verbs, in the
// order given: an index, then per verb its summary, its usage as --help
// prints it, a table of its flags with their defaults and help, and its
// footer.
func CLI(verbs []Verb) File {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Command-line reference\n\n<!-- Generated from cmd/vmlua's verbs (internal/cli/docgen); do not edit; run: %s -->\n", Command)
	b.WriteString(cliIntro)
	b.WriteString("\n| command | what it does |\n|---|---|\n")
	for _, v := range verbs {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s |\n", v.Path, anchor(v.Path), cell(v.Summary))
	}
	for _, v := range verbs {
		writeVerb(&b, v)
	}
	return File{CLIPath, tidy(b.Bytes())}
}

const cliIntro = `
Every command of vmlua, as ` + "`vmlua COMMAND --help`" + ` (or ` + "`vmlua help COMMAND`" + `) prints it, with its flags.
Flags may come before or after a command's arguments, anywhere before a lone ` + "`--`" + `; everything after
` + "`--`" + ` is an argument even if it starts with ` + "`-`" + `. A flag is written ` + "`--name value`" + `, ` + "`--name=value`" + ` or with one
dash; a boolean one is set by its name alone (` + "`--dry-run`" + `) or ` + "`--name=false`" + `. ` + "`vmlua --version`" + ` is
` + "`vmlua version`" + `. What each exit status means, and how to run vmlua from cron, systemd or Kubernetes:
[operations.md](operations.md#exit-statuses).
`

func writeVerb(b *bytes.Buffer, v Verb) {
	fmt.Fprintf(b, "\n## %s\n\n%s.\n\n", v.Path, sentence(v.Summary))
	usage := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v.Usage), "Flags:"))
	fmt.Fprintf(b, "```text\n%s\n```\n", wrapUsage(usage, 110))
	var rows []string
	if v.Flags != nil {
		v.Flags.VisitAll(func(f *flag.Flag) {
			rows = append(rows, fmt.Sprintf("| %s | %s | %s |", code(flagSynopsis(f)), code(flagDefault(f)), cell(f.Usage)))
		})
	}
	if len(rows) > 0 {
		b.WriteString("\n| flag | default | meaning |\n|---|---|---|\n")
		b.WriteString(strings.Join(rows, "\n") + "\n")
	}
	if s := strings.TrimSpace(v.Footer); s != "" {
		fmt.Fprintf(b, "\n%s\n", s)
	}
}

// flagSynopsis is how the flag is typed: "--jobs int", "--out DIR",
// "--dry-run" (the names --help shows).
func flagSynopsis(f *flag.Flag) string {
	name, _ := flag.UnquoteUsage(f)
	if name == "" {
		return "--" + f.Name
	}
	return "--" + f.Name + " " + name
}

// flagDefault is the flag's default, or "" when it is the zero value (as
// --help leaves it out).
func flagDefault(f *flag.Flag) string {
	switch f.DefValue {
	case "", "false", "0", "0s", "[]":
		return ""
	}
	return f.DefValue
}

// sentence capitalises a summary and drops its full stop.
func sentence(s string) string {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// wrapUsage folds the description's lines longer than width at spaces, so
// that the reference's code blocks need no scrolling; the "Usage:" lines
// (up to the first blank line) and indented lines are kept as they are.
func wrapUsage(s string, width int) string {
	lines := strings.Split(s, "\n")
	var out []string
	synopsis := true
	for _, l := range lines {
		if l == "" {
			synopsis = false
		}
		if synopsis || len(l) <= width || strings.HasPrefix(l, " ") {
			out = append(out, l)
			continue
		}
		cur := ""
		for _, w := range strings.Fields(l) {
			if cur != "" && len(cur)+1+len(w) > width {
				out = append(out, cur)
				cur = w
				continue
			}
			if cur != "" {
				cur += " "
			}
			cur += w
		}
		out = append(out, cur)
	}
	return strings.Join(out, "\n")
}
