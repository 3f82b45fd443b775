package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/vsim"
)

// TestEachReportsEveryRunsStatus: with --each, each VM's own status
// (script.status, an error) is its row's status in the table and in
// --json, and the run ends with the worst of them.
func TestEachReportsEveryRunsStatus(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{VMs: 3, Password: "sim-Pa55word"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src := script(t, `local script = require "script"
local a = script.args{ vm = { each = true }, keep = { type = "number", default = 1 }, fail = { type = "boolean", default = false } }
script.result{ status = a.vm_name == "VM2" and "partial" or "ok", keep = a.keep }
print("did " .. a.vm_name)
if a.vm_name == "VM2" then script.status("partial") end
if a.vm_name == "VM3" and a.fail then error("VM3 broke") end`)
	base := []string{"run", "--url", s.URL.String(), "--insecure", "--each", "name:VM*", src, "keep=2"}

	out, errb, code := runBin(t, base...)
	if code != exitPartial {
		t.Errorf("exit %d, want %d (one VM partial)\n%s\n%s", code, exitPartial, out, errb)
	}
	for _, row := range []string{`(?m)^VM1\s+\S+\s+ok\s`, `(?m)^VM2\s+\S+\s+partial\s`, `(?m)^VM3\s+\S+\s+ok\s`, `(?m)^VM2: did VM2$`} {
		if !regexp.MustCompile(row).MatchString(out) {
			t.Errorf("stdout lacks %s:\n%s", row, out)
		}
	}

	out, errb, code = runBin(t, append(append([]string{}, base[:len(base)-2]...), "--json", src, "keep=2", "fail=1")...)
	if code != exitFailure {
		t.Errorf("exit %d, want %d (a failure is worse than partial)\n%s", code, exitFailure, errb)
	}
	var rep runReport
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&rep); err != nil || dec.More() {
		t.Fatalf("stdout is not one JSON object (%v): %q", err, out)
	}
	got := map[string]string{}
	for _, r := range rep.Runs {
		got[r.VM] = r.Status
	}
	if got["VM1"] != "ok" || got["VM2"] != "partial" || got["VM3"] != "failed" || rep.Status != "failed" || rep.Exit != 1 {
		t.Errorf("report runs %v, status %s/%d", got, rep.Status, rep.Exit)
	}
	if len(rep.Results) != 3 || rep.Results[0]["keep"] != float64(2) || rep.Results[0]["vm"] == nil {
		t.Errorf("results %v: want one row per VM with its vm and keep=2", rep.Results)
	}
	if !strings.Contains(errb, "did VM1") {
		t.Errorf("with --json print goes to stderr:\n%s", errb)
	}
}
