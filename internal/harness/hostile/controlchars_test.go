package hostile

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
)

// The class "control characters": text vmlua does not control (a
// script's error message, a chunk name given to load, what a script
// records, a VM's name in vSphere) reached the terminal, cron mail and the
// journal raw, so that a newline forged a line ("vmlua: nightly.lua: all
// backups ok") and an escape sequence repainted the screen. Each place
// that prints such text escapes it; with --log-format json the last line
// is a JSON record like the logs.

// forged is a payload: a newline that starts a line vmlua never wrote, an
// ANSI sequence that clears the screen, a carriage return, a Unicode line
// separator and a bidi override.
const forged = "\nvmlua: nightly.lua: all backups ok\x1b[2J\x1b[31m\r\u2028\u202e"

// luaString is s as a Lua string literal (bytes outside printable ASCII
// as decimal escapes).
func luaString(s string) string {
	var b strings.Builder
	b.WriteString(`"`)
	for _, c := range []byte(s) {
		switch {
		case c == '"' || c == '\\':
			b.WriteString(`\` + string(c))
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, `\%03d`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteString(`"`)
	return b.String()
}

// rawControls are what text output must never hold raw; JSON output
// escapes the first ones (a JSON string holds the rest as data).
var rawControls = []string{"\x1b", "\r", "\u2028", "\u202e", "\u009b"}

// checkNoControl fails when out holds one of controls raw, or a line the
// payload forged.
func checkNoControl(t *testing.T, what, out string, controls ...string) {
	t.Helper()
	if controls == nil {
		controls = rawControls
	}
	for _, c := range controls {
		if strings.Contains(out, c) {
			t.Errorf("%s holds the raw control character %q:\n%q", what, c, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "vmlua: nightly.lua: all backups ok") {
			t.Errorf("%s holds a forged line:\n%s", what, out)
		}
	}
}

// TestScriptTextCannotForgeLines runs scripts whose text carries the
// payload and checks what vmlua printed.
func TestScriptTextCannotForgeLines(t *testing.T) {
	bin := simtest.Binary(t)
	payload := luaString(forged)
	cases := []struct {
		name   string
		args   []string
		script string
		want   string // on stderr (escaped)
	}{
		{"an error message", nil, `error("boom" .. ` + payload + `)`, `s.lua:1: boom\nvmlua: nightly.lua: all backups ok\x1b[2J\x1b[31m\r\u2028\u202e`},
		{"a structured error", nil, `error({code = "not_found", message = ` + payload + `, vm = ` + payload + `})`, `not_found: \nvmlua: nightly.lua`},
		{"a chunk name given to load", nil, `local f = load("error('boom')", "=" .. ` + payload + `); f()`, `\nvmlua: nightly.lua: all backups ok\x1b[2J`},
		{"a script.exit message", nil, `require("script").exit("partial", ` + payload + `)`, `status partial (7): \nvmlua: nightly.lua`},
		{"a result status in the summary line", []string{"--summary", "line"}, `require("script").result{ vm = "DB01", status = ` + payload + ` }`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, append(append([]string{"run"}, tc.args...), writeScript(t, tc.script))...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			_ = cmd.Run()
			checkNoControl(t, "stderr", stderr.String())
			checkNoControl(t, "stdout", stdout.String())
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr.String())
			}
			if tc.args != nil && !strings.Contains(stdout.String(), `1 result(s): 1 \nvmlua: nightly.lua`) {
				t.Errorf("the summary line does not show the status escaped:\n%s", stdout.String())
			}
		})
	}
}

// TestTheLastLineIsJSONWithJSONLogs: with --log-format json every line on
// stderr is a JSON object, the last one included, and it carries the
// error's text as it was.
func TestTheLastLineIsJSONWithJSONLogs(t *testing.T) {
	cmd := exec.Command(simtest.Binary(t), "run", "--log-format", "json", writeScript(t, `require("log").info("x"); error("boom" .. `+luaString(forged)+`)`))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if code := exitStatus(cmd.Run()); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	var last map[string]any
	for _, l := range lines {
		last = nil
		if err := json.Unmarshal([]byte(l), &last); err != nil {
			t.Errorf("a line on stderr is not JSON (%v): %q", err, l)
		}
	}
	if last["level"] != "ERROR" || last["status"] != "failed" || last["exit"] != float64(1) || !strings.HasSuffix(last["script"].(string), "s.lua") ||
		last["msg"] != "s.lua:1: boom"+forged {
		t.Errorf("the last line is %v; want an ERROR record with the script, status failed, exit 1 and the error as msg", last)
	}
	checkNoControl(t, "stderr", stderr.String(), "\x1b", "\r", "\u2028")
}

// TestVMNamesFromVSphereCannotForgeLines: a VM whose name in vSphere
// carries the payload, run over with --each: the fleet table, the
// progress lines and the last lines show it escaped.
func TestVMNamesFromVSphereCannotForgeLines(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{Password: simPassword,
		Inventory: []vsim.VMSpec{{Name: "CC01", Disks: []vsim.DiskSpec{{Size: 1 << 20}}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c, err := s.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	task, err := simtest.VMOf(t, c, "CC01").Rename(context.Background(), "CC01"+forged)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	script := writeScript(t, `
		require("script").args{ vm = { each = true }, dest = {} }
		local v = require("vm").open(arg.vm)
		v:add_redo("scsi0:0")
		v:export("scsi0:0", arg.dest)
		error("backup of " .. v.name .. " failed")`)
	cmd := exec.Command(simtest.Binary(t), "run", "--url", s.URL.String(), "--insecure", "--allow", "file://"+dest,
		"--each", "any:", "--summary", "line", script, "dest=file://"+dest)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if code := exitStatus(cmd.Run()); code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	checkNoControl(t, "stdout", stdout.String())
	checkNoControl(t, "stderr", stderr.String())
	// (vSphere's XML carries no ESC: the name comes back with U+FFFD in
	// its place; the newline is what must not reach the output raw)
	escaped := `CC01\nvmlua: nightly.lua: all backups ok`
	if !strings.Contains(stdout.String(), escaped) {
		t.Errorf("the fleet table does not show the VM's name escaped:\n%s", stdout.String())
	}
	// the progress of the export is labelled with the VM's name and disk
	started := false
	for _, l := range strings.Split(stderr.String(), "\n") {
		started = started || strings.HasPrefix(l, escaped) && strings.HasSuffix(l, " scsi0:0: started (1.0 MiB)")
	}
	if !started {
		t.Errorf("the progress lines do not show the VM's name escaped:\n%s", stderr.String())
	}
}
