package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vmlua/vmlua/internal/oneline"
	"github.com/vmlua/vmlua/internal/redact"
	"github.com/vmlua/vmlua/runtime"
)

// outputFlags choose what 'vmlua run' writes to stdout besides logs.
type outputFlags struct {
	json    bool   // one JSON object with the status and the result rows
	quiet   bool   // cron mode: nothing on success unless --summary line
	summary string // "none" or "line"
}

func (o *outputFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&o.json, "json", false, "print the run's status and the script's result rows (script.result; with --each one row per VM too) as one JSON object on stdout when it ends; the script's print goes to stderr (as JSON records with --log-format json)")
	fs.BoolVar(&o.quiet, "quiet", false, "for cron: log at warn level (unless --log-level is given), no progress lines, and hold the script's printed output back: it is written only when the run fails (exit status not 0)")
	fs.StringVar(&o.summary, "summary", "none", "none, or line: print one line when the run ends (script, status, exit status, time, result rows by status), also with --quiet")
}

func (o *outputFlags) check() error {
	if o.summary != "none" && o.summary != "line" {
		return fmt.Errorf("--summary %q: want none or line", o.summary)
	}
	return nil
}

// heldOutput keeps the last max bytes a script printed (--quiet), to be
// written out only if the run fails.
type heldOutput struct {
	mu      sync.Mutex
	max     int
	buf     []byte
	dropped int64
}

func newHeldOutput() *heldOutput { return &heldOutput{max: 1 << 20} }

func (h *heldOutput) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf = append(h.buf, p...)
	if over := len(h.buf) - h.max; over > 0 {
		// drop whole lines from the front
		cut := over
		if i := strings.IndexByte(string(h.buf[over:]), '\n'); i >= 0 {
			cut = over + i + 1
		}
		h.dropped += int64(cut)
		h.buf = append(h.buf[:0], h.buf[cut:]...)
	}
	return len(p), nil
}

// flush writes what was held to w.
func (h *heldOutput) flush(w io.Writer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dropped > 0 {
		fmt.Fprintf(w, "(the first %d bytes the script printed were dropped; the last %d follow)\n", h.dropped, len(h.buf))
	}
	_, _ = w.Write(h.buf)
}

// runRow is one VM of a fleet run in the JSON report.
type runRow struct {
	VM      string  `json:"vm"`
	Host    string  `json:"host,omitempty"`
	Status  string  `json:"status"`
	Exit    int     `json:"exit"`
	Seconds float64 `json:"seconds"`
	Message string  `json:"message,omitempty"`
}

// runReport is what --json prints.
type runReport struct {
	Script  string           `json:"script"`
	Status  string           `json:"status"`
	Exit    int              `json:"exit"`
	Error   string           `json:"error,omitempty"`
	Seconds float64          `json:"seconds"`
	Results []map[string]any `json:"results"`
	Runs    []runRow         `json:"runs,omitempty"`
}

func newReport(script string, code int, err error, took time.Duration, results []map[string]any) *runReport {
	rep := &runReport{Script: filepath.Base(script), Status: runtime.StatusName(code), Exit: code,
		Seconds: seconds(took), Results: results}
	roundRows(results)
	if rep.Results == nil {
		rep.Results = []map[string]any{}
	}
	if err != nil {
		rep.Error = errMessage(err)
	}
	return rep
}

// errMessage is the one line that says why a run ended as it did.
func errMessage(err error) string {
	var ee *runtime.ExitError
	if errors.As(err, &ee) && ee.Message != "" {
		return ee.Message
	}
	return err.Error()
}

func (rep *runReport) write(w io.Writer) {
	b, err := json.Marshal(rep)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"script": rep.Script, "status": rep.Status, "exit": rep.Exit, "error": "the result rows could not be encoded: " + err.Error()})
	}
	fmt.Fprintf(w, "%s\n", b)
}

// finalLine writes the line that says why a run ended as it did (err is
// not nil) on stderr: "vmlua: SCRIPT: ERROR" with the control characters
// of the script's text escaped (a newline in an error message, or in a
// chunk name given to load, cannot forge a line in cron mail or the
// journal), or, with --log-format json, one JSON record like the logs'
// (msg is the error; script, status and exit are fields). script is ""
// for a failure before a script ran.
func finalLine(w io.Writer, logFormat, script string, code int, err error) {
	msg := redact.Text(err.Error())
	if logFormat == "json" {
		level := slog.LevelError
		if code == exitPartial || code == exitNothingSelected {
			level = slog.LevelWarn
		}
		var attrs []any
		if script != "" {
			attrs = append(attrs, "script", script)
		}
		attrs = append(attrs, "status", runtime.StatusName(code), "exit", code)
		slog.New(redact.NewHandler(slog.NewJSONHandler(w, nil))).Log(context.Background(), level, msg, attrs...)
		return
	}
	if script != "" {
		fmt.Fprintf(w, "vmlua: %s: %s\n", oneline.Escape(script), oneline.Escape(msg))
		return
	}
	fmt.Fprintf(w, "vmlua: %s\n", oneline.Escape(msg))
}

// summaryLine is --summary line: "nightly.lua: ok (exit 0) in 12.3s, 4
// results: 3 ok, 1 partial". What a script recorded is escaped.
func (rep *runReport) summaryLine() string {
	took := time.Duration(rep.Seconds * float64(time.Second))
	if took >= time.Second {
		took = took.Round(100 * time.Millisecond)
	}
	s := fmt.Sprintf("%s: %s (exit %d) in %s", oneline.Escape(rep.Script), rep.Status, rep.Exit, took)
	if rep.Runs != nil {
		s += fmt.Sprintf(", %d VM(s)%s", len(rep.Runs), countBy(len(rep.Runs), func(i int) string { return oneline.Escape(rep.Runs[i].Status) }))
	}
	if len(rep.Results) > 0 {
		s += fmt.Sprintf(", %d result(s)%s", len(rep.Results), countBy(len(rep.Results), func(i int) string {
			if st, ok := rep.Results[i]["status"].(string); ok && st != "" {
				return oneline.Escape(st)
			}
			return "no status"
		}))
	}
	return s
}

func countBy(n int, key func(int) string) string {
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		counts[key(i)]++
	}
	names := make([]string, 0, len(counts))
	for k := range counts {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%d %s", counts[k], k)
	}
	return ": " + strings.Join(parts, ", ")
}

// worse returns the status a fleet run ends with when two of its runs
// ended with a and b: an interruption over a timeout over a failure over
// partial over nothing selected over success.
func worse(a, b int) int {
	rank := func(c int) int {
		switch c {
		case exitOK:
			return 0
		case exitNothingSelected:
			return 1
		case exitPartial:
			return 2
		case exitTimeout:
			return 4
		case exitCanceled:
			return 5
		}
		return 3
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}
