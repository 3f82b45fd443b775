package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/cli/docgen"
)

// TestTheCommittedCLIReferenceIsUpToDate fails when a verb, its flags or
// its help changed and docs/cli.md was not regenerated.
func TestTheCommittedCLIReferenceIsUpToDate(t *testing.T) {
	want := docgen.CLI(cliVerbs())
	got, err := os.ReadFile(filepath.Join("../..", filepath.FromSlash(want.Path)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Data) {
		t.Errorf("%s is stale; run: %s", want.Path, docgen.Command)
	}
}

// TestTheCLIReferenceShowsEveryVerbAndFlag: every verb, sub-verbs
// included, has a section with its usage and a row per flag with its
// default.
func TestTheCLIReferenceShowsEveryVerbAndFlag(t *testing.T) {
	doc := string(docgen.CLI(cliVerbs()).Data)
	paths := map[string]bool{}
	for _, v := range cliVerbs() {
		paths[v.Path] = true
		head := "\n## " + v.Path + "\n"
		i := strings.Index(doc, head)
		if i < 0 {
			t.Errorf("no section %q", strings.TrimSpace(head))
			continue
		}
		section := doc[i+len(head):]
		if j := strings.Index(section, "\n## "); j >= 0 {
			section = section[:j]
		}
		if !strings.Contains(section, "Usage: "+v.Path) {
			t.Errorf("%s: the section does not show its usage", v.Path)
		}
		v.Flags.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(section, "| `--"+f.Name) {
				t.Errorf("%s: no row for --%s", v.Path, f.Name)
			}
		})
	}
	for name := range commands {
		if !paths["vmlua "+name] {
			t.Errorf("vmlua %s is not in the reference", name)
		}
	}
	if !paths["vmlua sim ask"] {
		t.Error("the sub-verb vmlua sim ask is not in the reference")
	}
}

// fakeVerb is a verb a test adds to see the reference go stale.
type fakeVerb struct {
	help string
	n    int
}

func (*fakeVerb) About() about {
	return about{name: "zz-fake", summary: "a verb added by a test", usage: "Usage: vmlua zz-fake [--n N]\n\nDoes nothing."}
}
func (v *fakeVerb) Flags(fs *flag.FlagSet) {
	fs.IntVar(&v.n, "n", 1, v.help)
}
func (*fakeVerb) Run(*call, []string) int { return exitOK }

// TestDocsCheckFailsWhenTheCLIReferenceIsStale: vmlua docs --check exits 1
// and names docs/cli.md when a verb or a flag changed after the reference
// was written, or the file was edited by hand.
func TestDocsCheckFailsWhenTheCLIReferenceIsStale(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, dir string)
	}{
		{"a verb was added", func(t *testing.T, dir string) {
			addVerb(t, func() verb { return &fakeVerb{help: "how many"} })
		}},
		{"a flag's help changed", func(t *testing.T, dir string) {
			addVerb(t, func() verb { return &fakeVerb{help: "how many"} })
			write(t, dir)
			commands["zz-fake"] = func() verb { return &fakeVerb{help: "how many times"} }
		}},
		{"the file was edited by hand", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "docs", "cli.md")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, append(b, "\nedited\n"...), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir)
			tc.change(t, dir)
			var out, errb bytes.Buffer
			if got := dispatch([]string{"docs", "--out", dir, "--check"}, &out, &errb); got != exitFailure {
				t.Fatalf("docs --check: status %d, want %d\nstdout:\n%s\nstderr:\n%s", got, exitFailure, out.String(), errb.String())
			}
			if out.String() != "stale: docs/cli.md\n" {
				t.Errorf("docs --check says %q, want only docs/cli.md stale", out.String())
			}
		})
	}
}

// addVerb registers a verb for the rest of the test.
func addVerb(t *testing.T, v func() verb) {
	t.Helper()
	register(v)
	name := v().About().name
	t.Cleanup(func() { delete(commands, name) })
}

// write runs vmlua docs --out dir.
func write(t *testing.T, dir string) {
	t.Helper()
	var out, errb bytes.Buffer
	if got := dispatch([]string{"docs", "--out", dir}, &out, &errb); got != exitOK {
		t.Fatalf("docs --out %s: status %d\n%s", dir, got, errb.String())
	}
}
