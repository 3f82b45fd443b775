package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDocsCommand(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name   string
		args   []string
		status int
		stdout string // substring
		stderr string // substring
	}{
		{"help prints the usage and the files it writes", []string{"--help"}, exitOK, "editor/vmlua.d.lua", ""},
		{"check on an empty tree reports every file stale", []string{"--out", dir, "--check"}, exitFailure, "stale: docs/lua-api.md", "run: go run ./cmd/vmlua docs"},
		{"a run writes the files", []string{"--out", dir}, exitOK, "wrote docs/lua-api.md", ""},
		{"a second run changes nothing", []string{"--out", dir}, exitOK, "up to date", ""},
		{"check after a run passes", []string{"--out", dir, "--check"}, exitOK, "", ""},
		{"a stray argument is a usage error", []string{"extra"}, exitUsage, "", "unexpected argument"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			got := dispatch(append([]string{"docs"}, tc.args...), &out, &errb)
			if got != tc.status || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errb.String(), tc.stderr) {
				t.Errorf("status %d, want %d\nstdout:\n%s\nstderr:\n%s", got, tc.status, out.String(), errb.String())
			}
		})
	}
	for _, p := range []string{"docs/lua-api.md", "docs/transports.md", "editor/vmlua.d.lua", "editor/README.md", "editor/library/vm.lua"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s was not written: %v", p, err)
		}
	}
}
