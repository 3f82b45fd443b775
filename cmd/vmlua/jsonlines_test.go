package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/vsim"
)

// jsonRecords parses every line of stderr as a JSON object and fails for
// any that is not one.
func jsonRecords(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimRight(stderr, "\n"), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("a stderr line is not JSON: %q\nstderr:\n%s", line, stderr)
			continue
		}
		out = append(out, rec)
	}
	return out
}

// hasRecord reports whether a record has the level and a message holding
// msg (and every attribute of attrs).
func hasRecord(recs []map[string]any, level, msg string, attrs map[string]any) bool {
	for _, r := range recs {
		if r["level"] != level || !strings.Contains(r["msg"].(string), msg) {
			continue
		}
		ok := true
		for k, v := range attrs {
			ok = ok && r[k] == v
		}
		if ok {
			return true
		}
	}
	return false
}

// TestJSONLogsKeepStderrPureJSON: with --log-format json every line vmlua
// writes to stderr is a JSON object: the script's print under --json (a
// record with stream=print), the error the run ended with, a script check
// refused, and a fleet run's messages; stdout holds the one --json report.
func TestJSONLogsKeepStderrPureJSON(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{VMs: 1, Password: "sim-Pa55word"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fails := script(t, "print('summary: 3 backed up')\nerror('boom')\n")
	refused := script(t, "local log = require 'log'\nlog.inf('x')\n")
	each := script(t, "local a = require('script').args{vm = {each = true}}\nprint('handled ' .. a.vm_name)\n")
	cases := []struct {
		name  string
		args  []string
		exit  int
		level string // a record stderr must hold
		msg   string
		attrs map[string]any
	}{
		{"the script's print is a record", []string{"--json", fails}, exitFailure, "INFO", "summary: 3 backed up", map[string]any{"stream": "print"}},
		{"the error the run ended with is a record", []string{"--json", fails}, exitFailure, "ERROR", "boom", nil},
		{"the same without --json", []string{fails}, exitFailure, "ERROR", "boom", nil},
		{"a script check refuses", []string{"--json", refused}, exitUsage, "ERROR", `did you mean \"info\"?`, nil},
		{"a fleet run's print", []string{"--json", "--url", s.URL.String(), "--insecure", "--each", "name:VM1", each}, exitOK, "INFO", "handled VM1", map[string]any{"stream": "print"}},
		{"a fleet run that selects nothing", []string{"--json", "--url", s.URL.String(), "--insecure", "--each", "name:nothing*", each}, exitNothingSelected, "ERROR", "matches no VM", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runBin(t, append([]string{"run", "--log-format", "json"}, tc.args...)...)
			if code != tc.exit {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.exit, out, errOut)
			}
			recs := jsonRecords(t, errOut)
			if !hasRecord(recs, tc.level, strings.ReplaceAll(tc.msg, `\"`, `"`), tc.attrs) {
				t.Errorf("stderr has no %s record with %q %v:\n%s", tc.level, tc.msg, tc.attrs, errOut)
			}
			if strings.Contains(strings.Join(tc.args, " "), "--json") {
				var rep runReport
				if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Exit != tc.exit {
					t.Errorf("stdout is not the one report with exit %d: %v\n%s", tc.exit, err, out)
				}
			}
		})
	}
}

// TestNumbersAreRoundedForPeople: durations in reports are whole
// milliseconds, and floats in logs and result rows lose their binary
// noise (14 significant digits, as Lua prints them).
func TestNumbersAreRoundedForPeople(t *testing.T) {
	for _, tc := range []struct {
		in, want float64
	}{{1 + 0.118, 1.118}, {0.1 + 0.2, 0.3}, {2.554, 2.554}, {1e21 / 3, 333333333333330000000}, {-0.1 - 0.2, -0.3}, {3, 3}} {
		if got := forPeople(tc.in); got != tc.want {
			t.Errorf("forPeople(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	for ms := 0; ms < 5000; ms++ {
		got := seconds(time.Duration(ms) * time.Millisecond)
		if b, _ := json.Marshal(got); len(b) > 5 {
			t.Fatalf("seconds(%dms) prints as %s", ms, b)
		}
	}
	src := script(t, "local log = require 'log'\nlocal s = require 'script'\nlog.info('ratio', {r = 1 + 0.118})\ns.result{ratio = 0.1 + 0.2}\n")
	out, errOut, code := runBin(t, "run", "--json", src)
	if code != exitOK || !strings.Contains(errOut, "r=1.118") || !strings.Contains(out, `"ratio":0.3`) {
		t.Errorf("exit %d; want r=1.118 in the log and ratio 0.3 in the report:\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	_, errOut, _ = runBin(t, "run", "--log-format", "json", src)
	if !strings.Contains(errOut, `"r":1.118`) {
		t.Errorf("JSON log lacks \"r\":1.118:\n%s", errOut)
	}
}

// TestJSONLinesPassesRecordsAndWrapsOtherLines: a JSON object passes as
// it is; a plain line, a line written in pieces and an unfinished last
// line become records at the writer's level.
func TestJSONLinesPassesRecordsAndWrapsOtherLines(t *testing.T) {
	var b strings.Builder
	j := newJSONLines(&b, slog.LevelWarn)
	j.Write([]byte(`{"level":"INFO","msg":"a record"}` + "\n"))
	j.Write([]byte("vmlua: half "))
	j.Write([]byte("a line\n{not json\n"))
	j.Write([]byte("unfinished"))
	j.Flush()
	recs := jsonRecords(t, b.String())
	want := []struct{ level, msg string }{{"INFO", "a record"}, {"WARN", "vmlua: half a line"}, {"WARN", "{not json"}, {"WARN", "unfinished"}}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d:\n%s", len(recs), len(want), b.String())
	}
	for i, w := range want {
		if recs[i]["level"] != w.level || recs[i]["msg"] != w.msg {
			t.Errorf("record %d = %v, want level %s msg %q", i, recs[i], w.level, w.msg)
		}
	}
}
