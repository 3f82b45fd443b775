package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
)

// profileVerbArgs are the arguments after --profile that bring each verb
// with a --profile flag to the point where it reads its configuration.
// A verb that gains --profile must be added here
// (TestAnUnknownProfileIsExit3OnEveryVerb fails until it is).
func profileVerbArgs(dir string) map[string][]string {
	script := filepath.Join(dir, "x.lua")
	target := "file://" + dir
	return map[string][]string{
		"vmlua run":                    {script},
		"vmlua cleanup":                {"name:DB01"},
		"vmlua doctor":                 {"--to", target, "name:DB01"},
		"vmlua cbt-reset":              {"name:DB01"},
		"vmlua answer":                 {"--once"},
		"vmlua sets list":              {target},
		"vmlua verify":                 {target},
		"vmlua prune":                  {"--keep", "2", target},
		"vmlua restore":                {target, "DB01"},
		"vmlua restore-disk":           {target, "DB01", "scsi0:0", "name:VM1"},
		"vmlua host maintenance enter": {"DC0_H0"},
		"vmlua host maintenance exit":  {"DC0_H0"},
		"vmlua serve nbd":              {target, "DB01"},
		"vmlua mount":                  {target, dir},
		"vmlua serve nfs":              {target, "DB01"},
		"vmlua files ls":               {target, "DB01"},
		"vmlua files get":              {target, "DB01", "/etc/hostname"},
	}
}

// TestAnUnknownProfileIsExit3OnEveryVerb: --profile NAME that the config
// file does not have ends every verb that takes --profile with exit 3,
// naming the profile, also when VMLUA_URL (or --url) names a vCenter the
// run could have used instead; nothing is connected (the URL is a port
// nothing listens on: a connection attempt would say so).
func TestAnUnknownProfileIsExit3OnEveryVerb(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.lua"), []byte(`print("ran")`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "vmlua.toml")
	if err := os.WriteFile(cfg, []byte("[vsphere.prod]\nurl = \"https://127.0.0.1:1/sdk\"\nusername = \"u\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := profileVerbArgs(dir)
	seen := map[string]bool{}
	for _, v := range cliVerbs() {
		if v.Flags.Lookup("profile") == nil {
			continue
		}
		seen[v.Path] = true
		rest, ok := args[v.Path]
		if !ok {
			t.Errorf("%s takes --profile but profileVerbArgs has no arguments for it", v.Path)
			continue
		}
		for _, how := range []struct {
			name string
			env  []string
			flag []string
		}{
			{"with VMLUA_URL", []string{"VMLUA_URL=https://127.0.0.1:1/sdk"}, nil},
			{"with --url", nil, []string{"--url", "https://127.0.0.1:1/sdk"}},
		} {
			t.Run(v.Path+" "+how.name, func(t *testing.T) {
				words := strings.Fields(strings.TrimPrefix(v.Path, "vmlua "))
				argv := append(append(append(words, "--config", cfg, "--profile", "prd"), how.flag...), rest...)
				cmd := exec.Command(simtest.Binary(t), argv...)
				cmd.Env = append(cleanEnv(), how.env...)
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				code := exitCode(cmd.Run())
				if code != exitConfig || !strings.Contains(errb.String(), "--profile prd: there is no [vsphere.prd]") || !strings.Contains(errb.String(), "did you mean prod?") {
					t.Errorf("vmlua %s: exit %d, want 3 and the unknown profile named:\n%s%s", strings.Join(argv, " "), code, out.String(), errb.String())
				}
				if strings.Contains(out.String()+errb.String(), "connect") && !strings.Contains(errb.String(), "nothing was connected") {
					t.Errorf("vmlua %s tried to connect:\n%s", strings.Join(argv, " "), errb.String())
				}
			})
		}
	}
	for path := range args {
		if !seen[path] {
			t.Errorf("profileVerbArgs has %s, which takes no --profile", path)
		}
	}
}

// cleanEnv is the test's environment without VMLUA_* variables.
func cleanEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "VMLUA_") {
			env = append(env, e)
		}
	}
	return env
}
