package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/runtime"
)

// codeBlock is one fenced block of a Markdown file.
type codeBlock struct {
	lang, body string
	line       int
}

var fenceRe = regexp.MustCompile("(?ms)^```([a-z]*)\n(.*?)^```")

func codeBlocks(t *testing.T, path string) []codeBlock {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []codeBlock
	for _, m := range fenceRe.FindAllSubmatchIndex(b, -1) {
		out = append(out, codeBlock{lang: string(b[m[2]:m[3]]), body: string(b[m[4]:m[5]]), line: bytes.Count(b[:m[0]], []byte("\n")) + 1})
	}
	return out
}

var (
	cronEnvRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
	cronFieldRe = regexp.MustCompile(`^[0-9*/,\-A-Za-z]+$`)
)

// TestOperationsExamplesArePasteable checks the cron, systemd and
// Kubernetes examples of docs/operations.md as the programs that read them
// would, and every vmlua command in them against vmlua's real flags and
// the shipped script's declared arguments.
func TestOperationsExamplesArePasteable(t *testing.T) {
	var cronEntries, execStarts, k8s int
	for _, b := range codeBlocks(t, "../../docs/operations.md") {
		switch b.lang {
		case "cron":
			for i, line := range strings.Split(strings.TrimRight(b.body, "\n"), "\n") {
				where := func() string { return "docs/operations.md:" + strconv.Itoa(b.line+1+i) }
				trimmed := strings.TrimSpace(line)
				if trimmed == "" || strings.HasPrefix(trimmed, "#") || cronEnvRe.MatchString(trimmed) {
					continue
				}
				if strings.HasSuffix(trimmed, `\`) {
					t.Errorf("%s: a cron line ends in \\: crontab has no line continuation", where())
				}
				f := strings.Fields(trimmed)
				if len(f) < 7 {
					t.Errorf("%s: %q: want 5 time fields, a user and a command", where(), line)
					continue
				}
				for _, tf := range f[:5] {
					if !cronFieldRe.MatchString(tf) {
						t.Errorf("%s: time field %q is not a cron field", where(), tf)
					}
				}
				cmd := strings.Join(f[6:], " ")
				if regexp.MustCompile(`(^|[^\\])%`).MatchString(cmd) {
					t.Errorf("%s: an unescaped %% in a cron command is a newline to cron", where())
				}
				checkVmluaCommand(t, where(), f[6:])
				cronEntries++
			}
		case "ini":
			if n := strings.Count(b.body, "[Unit]"); n > 1 {
				t.Errorf("docs/operations.md:%d: one block holds %d unit files; one file per block, so that it can be pasted", b.line, n)
			}
			if !regexp.MustCompile(`^# /etc/systemd/system/\S+\.(service|timer)\n`).MatchString(b.body) {
				t.Errorf("docs/operations.md:%d: a unit block does not start by naming its file", b.line)
			}
			joined := strings.ReplaceAll(b.body, "\\\n", " ")
			for _, line := range strings.Split(joined, "\n") {
				if cmd, ok := strings.CutPrefix(line, "ExecStart="); ok {
					checkVmluaCommand(t, "docs/operations.md:"+strconv.Itoa(b.line)+" ExecStart", strings.Fields(cmd))
					execStarts++
				}
			}
		case "yaml":
			// the container's args: a folded scalar (>-) run by sh -c
			cmd, ok := foldedScalar(b.body)
			if !ok {
				continue
			}
			cmd = strings.ReplaceAll(cmd, "$((JOB_COMPLETION_INDEX + 1))", "1")
			checkVmluaCommand(t, "docs/operations.md:"+strconv.Itoa(b.line)+" CronJob args", strings.Fields(strings.TrimPrefix(cmd, "exec ")))
			k8s++
		}
	}
	if cronEntries < 2 || execStarts < 1 || k8s < 1 {
		t.Errorf("found %d cron entries, %d ExecStart lines and %d CronJob commands; the examples are not where this test looks", cronEntries, execStarts, k8s)
	}
}

// TestQuickstartCommandsArePasteable checks every ./vmlua command of
// docs/quickstart.md against vmlua's real commands, flags and the shipped
// scripts' arguments.
func TestQuickstartCommandsArePasteable(t *testing.T) {
	if n := checkDocCommands(t, "docs/quickstart.md", "./vmlua"); n < 8 {
		t.Errorf("found %d vmlua commands in docs/quickstart.md; the examples are not where this test looks", n)
	}
}

// checkDocCommands checks every command of the sh blocks of the doc
// (relative to the repository) that starts with prefix ("./vmlua",
// "vmlua") against vmlua's real commands, flags and the shipped scripts'
// arguments, as a shell would split it (comments, a redirection and
// single quotes dropped), and returns how many it checked.
func checkDocCommands(t *testing.T, doc, prefix string) int {
	t.Helper()
	n := 0
	for _, b := range codeBlocks(t, "../../"+doc) {
		if b.lang != "sh" {
			continue
		}
		for i, line := range strings.Split(b.body, "\n") {
			if c := strings.Index(line, " #"); c >= 0 {
				line = line[:c]
			}
			line, _, _ = strings.Cut(line, " >")
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != prefix {
				continue
			}
			f[0] = "vmlua"
			for j := range f {
				f[j] = strings.Trim(f[j], "'")
			}
			checkVmluaCommand(t, doc+":"+strconv.Itoa(b.line+1+i), f)
			n++
		}
	}
	return n
}

// foldedScalar returns the first "- >-" list item of a YAML block, folded
// into one line.
func foldedScalar(body string) (string, bool) {
	lines := strings.Split(body, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "- >-" {
			continue
		}
		indent := len(l) - len(strings.TrimLeft(l, " "))
		var parts []string
		for _, m := range lines[i+1:] {
			if len(m)-len(strings.TrimLeft(m, " ")) <= indent || strings.TrimSpace(m) == "" {
				break
			}
			parts = append(parts, strings.TrimSpace(m))
		}
		return strings.Join(parts, " "), true
	}
	return "", false
}

// checkVmluaCommand parses a documented vmlua command line with the real
// flag set, checks that its script is a shipped one, and runs the script
// far enough to see that it accepts the key=value arguments given (it
// fails at once, with no endpoint or grant, after script.args).
func checkVmluaCommand(t *testing.T, where string, argv []string) {
	t.Helper()
	if len(argv) < 2 || filepath.Base(argv[0]) != "vmlua" {
		t.Errorf("%s: %q is not a vmlua command", where, strings.Join(argv, " "))
		return
	}
	if argv[1] != "run" {
		newVerb, ok := commands[argv[1]]
		if !ok {
			t.Errorf("%s: unknown command %q", where, argv[1])
			return
		}
		v, path, rest := newVerb(), "vmlua "+argv[1], argv[2:]
	subs:
		for len(rest) > 0 {
			for _, sub := range v.About().subs {
				if sub.About().name == rest[0] {
					v, path, rest = sub, path+" "+rest[0], rest[1:]
					continue subs
				}
			}
			break
		}
		var errb bytes.Buffer
		if _, _, done := parseFlags(newFlagSet(path, v, io.Discard), rest, io.Discard, &errb); done {
			t.Errorf("%s: the flags of %s do not parse: %s", where, path, errb.String())
		}
		return
	}
	fs, _ := newRunFlagSet()
	var errb bytes.Buffer
	pos, _, done := parseFlags(fs, argv[2:], io.Discard, &errb)
	if done {
		t.Errorf("%s: the flags do not parse: %s", where, errb.String())
		return
	}
	if len(pos) == 0 {
		t.Errorf("%s: no script", where)
		return
	}
	name := filepath.Base(pos[0])
	src := filepath.Join("../../scripts", name)
	if _, err := os.Stat(src); err != nil {
		t.Errorf("%s: %s is not a shipped script", where, pos[0])
		return
	}
	r, err := runtime.New(runtime.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Modules: all.Modules(), Args: pos[1:], Stdout: io.Discard, HostArgs: []string{"vm", "vm_name"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ExecFile(src); err != nil && (strings.Contains(err.Error(), "unknown argument") || strings.Contains(err.Error(), "missing argument") || strings.Contains(err.Error(), " positional argument")) {
		t.Errorf("%s: %s refuses the documented arguments: %v", where, name, err)
	}
}
