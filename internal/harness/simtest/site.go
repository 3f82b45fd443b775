package simtest

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// Site is what an operator configured for runs: the vSphere endpoint, the
// granted URL prefixes, named credentials and the script library. Its Run
// executes a script file as 'vmlua run' does and returns what it printed.
type Site struct {
	Endpoint runtime.Endpoint
	Allow    []string
	Creds    map[string]transports.Credentials
	Lib      string
	Timeout  time.Duration // default 30 min, as simtest.Env.Run
	// Ctx is the runs' context (nil: none); it carries what the CLI puts
	// there, e.g. the keyring of [encryption] (sets.WithKeyring).
	Ctx context.Context
}

// Printed returns the lines the script printed to its stdout, in order.
func (h *Records) Printed() []string {
	var out []string
	for _, r := range h.All() {
		if r["source"] == "print" {
			out = append(out, r["msg"].(string))
		}
	}
	return out
}

// Run executes a Lua file with every module and returns what it printed.
func (s Site) Run(t testing.TB, script string, args ...string) ([]string, error) {
	t.Helper()
	recs := &Records{}
	timeout := s.Timeout
	if timeout == 0 {
		timeout = 30 * time.Minute
	}
	opts := runtime.Options{
		Context: s.Ctx, Logger: slog.New(recs), Modules: all.Modules(), Timeout: timeout,
		Endpoints: map[string]runtime.Endpoint{"sim": s.Endpoint}, DefaultEndpoint: "sim",
		Args: args, Credentials: s.Creds, LibDir: s.Lib, Stdout: recs.Stdout(),
	}
	for _, a := range s.Allow {
		if err := opts.Grants.Allow(a); err != nil {
			t.Fatal(err)
		}
	}
	r, err := runtime.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = r.ExecFile(script)
	return recs.Printed(), err
}

// RunLua runs a snippet (written to a temporary file) and fails the test
// when it fails.
func (s Site) RunLua(t testing.TB, src string, args ...string) []string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "snippet.lua")
	if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, err := s.Run(t, f, args...)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return lines
}

// Verified lists the sets on a target, verifies each, and returns per VM
// how many complete sets verify; a set that does not fails the test.
func (s Site) Verified(t testing.TB, at, credentials string) map[string]int {
	t.Helper()
	lines := s.RunLua(t, `
local backup = require "backup"
local c = arg.credentials ~= "" and arg.credentials or nil
for _, x in ipairs(backup.list{ at = arg.at, credentials = c }) do
  local r = backup.verify{ at = arg.at, set = x.id, credentials = c }
  print(x.id .. " " .. tostring(x.complete and r.ok))
end`, "at="+at, "credentials="+credentials)
	n := map[string]int{}
	for _, l := range lines {
		id, ok, _ := strings.Cut(l, " ")
		if ok != "true" {
			t.Errorf("set %s at %s does not verify", id, at)
			continue
		}
		vmName, _, _ := strings.Cut(id, "/")
		n[vmName]++
	}
	return n
}

// Contains reports whether any line contains sub.
func Contains(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// Glob is filepath.Glob that fails the test on a bad pattern.
func Glob(t testing.TB, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
