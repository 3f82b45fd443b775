package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
)

// duplicateKey walks one JSON value token by token and returns the first
// key that an object holds twice (json.Unmarshal keeps the last silently).
func duplicateKey(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return "", nil
	}
	switch d {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return "", err
			}
			key := k.(string)
			if seen[key] {
				return key, nil
			}
			seen[key] = true
			if dup, err := duplicateKey(dec); dup != "" || err != nil {
				return dup, err
			}
		}
	case '[':
		for dec.More() {
			if dup, err := duplicateKey(dec); dup != "" || err != nil {
				return dup, err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return "", err
}

// TestEachJSONLogsHaveEveryKeyOnce: each run of --each logs with its VM's
// name, and so do the vm module's records: every JSON line must still be
// an object with unique keys, as log stores require.
func TestEachJSONLogsHaveEveryKeyOnce(t *testing.T) {
	s, err := vsim.Start(context.Background(), vsim.Options{VMs: 2, Password: "sim-Pa55word"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src := script(t, `
		require("script").args{ vm = { each = true } }
		local v = require("vm").open(arg.vm)
		local d = v:disks()[1].id
		v:add_redo(d)
		v:commit(d, 0, 0, 1)
		print("done " .. v.name)
	`)
	cmd := exec.Command(simtest.Binary(t), "run", "--url", s.URL.String(), "--insecure", "--log-format", "json", "--log-level", "debug", "--each", "name:VM*", src)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr.String())
	}
	lines, withVM := 0, 0
	sc := bufio.NewScanner(io.MultiReader(bytes.NewReader(stdout), &stderr))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			continue // the summary table
		}
		lines++
		dup, err := duplicateKey(json.NewDecoder(strings.NewReader(line)))
		if err != nil {
			t.Errorf("not JSON (%v): %s", err, line)
		}
		if dup != "" {
			t.Errorf("key %q twice: %s", dup, line)
		}
		if strings.Contains(line, `"vm":`) {
			withVM++
		}
	}
	if lines == 0 || withVM == 0 {
		t.Fatalf("%d JSON lines, %d naming a VM: the test saw nothing to check\n%s%s", lines, withVM, stdout, stderr.String())
	}
}
