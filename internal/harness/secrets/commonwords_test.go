package secrets

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/redact"
	"github.com/vmlua/vmlua/internal/vsim"
)

// commonWords are passwords that are also words of vmlua's output. A
// redaction that searched all text for a password's value wrote
// "xxxxx_all.lua" for backup_all.lua with the password "backup": logs
// garbled, and the password told to every reader.
var commonWords = []string{"backup", "vm", "disk", "a"}

// backupAll is named backup_all.lua: it backs a VM up, logs and records
// what it did in words that are the passwords, puts the password where
// a module or a library could (a URL's userinfo, a field named like a
// credential: vmlua must mask it there), and fails with a message made of
// the same words.
const backupAll = `
local vm, log, script = require "vm", require "log", require "script"
local v = vm.open("name:WORD01")
log.info("backup of the disk of vm a starts", { script = "backup_all.lua", disk = "scsi0:0", word = arg.pw })
local set = v:backup{ to = arg.dest }
log.info("backup done: vm a, disk scsi0:0", { set = set.id })
log.warn("login to https://root:" .. arg.pw .. "@vc.example.com/sdk refused", { password = arg.pw, url = "sftp://backup:" .. arg.pw .. "@nas/backup" })
script.result{ vm = v.name, status = "ok", note = "backup of the disk of vm a", password = arg.pw }
print("printed: backup disk vm a, from https://root:" .. arg.pw .. "@vc/sdk")
error("backup_all.lua: backup of the disk of vm a failed (password=" .. arg.pw .. ")")
`

// intact are phrases the run's output must hold as they were written,
// whatever the password.
var intact = []string{
	"backup_all.lua: backup of the disk of vm a failed",
	"backup of the disk of vm a starts",
	"backup done: vm a, disk scsi0:0",
	"printed: backup disk vm a",
	"login to https://root:xxxxx@vc.example.com/sdk refused",
}

// TestCommonWordPasswordsLeaveOutputIntactAndHidden runs backup_all.lua as
// a process, once per common-word password (the vSphere password, given in
// the config file or on --url), with text and JSON logs, and checks that
// the output is intact (no word garbled) and that no password appears
// where passwords are written: URL userinfo, fields named like a
// credential (text, JSON, results), in the output and in the files the
// run wrote.
func TestCommonWordPasswordsLeaveOutputIntactAndHidden(t *testing.T) {
	bin := simtest.Binary(t)
	for _, pw := range commonWords {
		t.Run("password "+strconv.Quote(pw), func(t *testing.T) {
			dsDir, dest := t.TempDir(), t.TempDir()
			sim, err := vsim.Start(context.Background(), vsim.Options{Password: pw, DatastoreDir: dsDir,
				Inventory: []vsim.VMSpec{{Name: "WORD01", Disks: []vsim.DiskSpec{{Size: 1 << 20}}}}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(sim.Close)
			u := *sim.URL
			u.User = nil
			user := sim.URL.User.Username()
			cfg := filepath.Join(t.TempDir(), "vmlua.toml")
			body := fmt.Sprintf("default_vsphere = \"sim\"\n[vsphere.sim]\nurl = %q\nusername = %q\npassword = %q\ninsecure = true\n[grants]\nallow = [%q]\n",
				u.String(), user, pw, "file://"+dest)
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			work := t.TempDir()
			script := filepath.Join(work, "backup_all.lua")
			if err := os.WriteFile(script, []byte(backupAll), 0o644); err != nil {
				t.Fatal(err)
			}
			withURL := *sim.URL // the password on --url, as govc takes it
			runs := map[string][]string{
				"config, text logs": {"run", "--config", cfg, "--log-level", "debug", script, "dest=file://" + dest, "pw=" + pw},
				"config, JSON logs": {"run", "--config", cfg, "--log-level", "debug", "--log-format", "json", "--json", script, "dest=file://" + dest, "pw=" + pw},
				"--url, text logs":  {"run", "--url", withURL.String(), "--insecure", "--allow", "file://" + dest, "--log-level", "debug", script, "dest=file://" + dest, "pw=" + pw},
			}
			for name, args := range runs {
				t.Run(name, func(t *testing.T) {
					cmd := exec.Command(bin, args...)
					cmd.Dir = work
					out, err := cmd.CombinedOutput()
					if code := exitStatus(err); code != 1 {
						t.Fatalf("exit %d, want 1 (the script fails at its end)\n%s", code, out)
					}
					text := string(out)
					for _, want := range intact {
						if !strings.Contains(text, want) {
							t.Errorf("the output lacks %q intact:\n%s", want, text)
						}
					}
					if strings.Contains(text, "xxxxx_") || strings.Contains(text, "_xxxxx") || strings.Contains(text, "xxxxx of") {
						t.Errorf("a word was garbled by redaction:\n%s", text)
					}
					for _, leak := range structuralLeaks(text, pw) {
						t.Errorf("the password %q appears %s:\n%s", pw, leak, text)
					}
				})
			}
			// what the runs wrote: the sets, their catalogs
			_ = filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() || strings.HasSuffix(p, ".vmdk") {
					return nil
				}
				b, err := os.ReadFile(p)
				if err == nil {
					for _, leak := range structuralLeaks(string(b), pw) {
						t.Errorf("the password %q appears %s in %s", pw, leak, p)
					}
				}
				return nil
			})
			if m, _ := filepath.Glob(filepath.Join(dest, "WORD01", "*", "catalog.json")); len(m) == 0 {
				t.Error("the runs wrote no catalog: nothing was scanned")
			}
		})
	}
}

var (
	// userinfo of a URL, written out or percent-encoded
	scanUserinfo = regexp.MustCompile(`(?i)\b[a-z][a-z0-9+.\-]*://([^\s/?#"'<>]*)@`)
	// key=value and key="value" of text logs and messages
	scanPair = regexp.MustCompile(`([A-Za-z0-9_.\-]+)=("(?:[^"\\]|\\.)*"|[^\s,;&)]+)`)
)

// structuralLeaks lists where, in text, the secret is written where
// secrets live: the password of a URL's userinfo; the value of a text
// field (key=value) or of a JSON member (any line that is a JSON object,
// at any depth) whose name is a credential's. It does not look for the
// secret's text elsewhere: a common word is everywhere.
func structuralLeaks(text, secret string) []string {
	var leaks []string
	for _, m := range scanUserinfo.FindAllStringSubmatch(text, -1) {
		if _, pw, ok := strings.Cut(m[1], ":"); ok {
			if dec, err := url.PathUnescape(pw); pw == secret || err == nil && dec == secret {
				leaks = append(leaks, "as the password of the URL in "+strconv.Quote(m[0]))
			}
		}
	}
	for _, m := range scanPair.FindAllStringSubmatch(text, -1) {
		v := m[2]
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		if redact.Key(m[1]) && v == secret {
			leaks = append(leaks, "as the value of "+m[1]+"=")
		}
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var v any
		if json.Unmarshal(sc.Bytes(), &v) == nil {
			leaks = append(leaks, jsonLeaks(v, "", secret)...)
		}
	}
	return leaks
}

func jsonLeaks(v any, key, secret string) []string {
	switch x := v.(type) {
	case map[string]any:
		var out []string
		for k, e := range x {
			out = append(out, jsonLeaks(e, k, secret)...)
		}
		return out
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, jsonLeaks(e, key, secret)...)
		}
		return out
	case string:
		if redact.Key(key) && x == secret {
			return []string{"as the JSON member " + strconv.Quote(key)}
		}
		return structuralLeaks(x, secret)
	}
	return nil
}

func exitStatus(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
