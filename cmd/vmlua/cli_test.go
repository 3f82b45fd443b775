package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/eventually"
	"github.com/vmlua/vmlua/internal/harness/simtest"

	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/runtime"
	lua "github.com/yuin/gopher-lua"
)

func script(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.lua")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCLI(t *testing.T) {
	bin := simtest.Binary(t)
	worldReadable := filepath.Join(t.TempDir(), "c.toml")
	os.WriteFile(worldReadable, []byte("[credentials.nas]\nuser = \"u\"\npassword = \"Sup3r-S3cret-PW\"\n"), 0o644)
	os.Chmod(worldReadable, 0o644)
	cases := []struct {
		name        string
		args        []string
		env         []string
		wantExit    int
		wantOut     string
		wantErr     string
		notInOutput string
	}{
		{"hello example prints to stdout", []string{"run", "../../examples/hello.lua", "name=world"}, nil, 0, "Hello, world!", "msg=\"hello, world\"", ""},
		{"hello with JSON logs still prints plain lines", []string{"run", "--log-format", "json", "../../examples/hello.lua", "name=json"}, nil, 0, "Hello, json!", `"msg":"hello, json"`, ""},
		{"version", []string{"version"}, nil, 0, "vmlua " + runtime.Version, "", ""},
		{"help lists commands", []string{"--help"}, nil, 0, "check", "", ""},
		{"run --help shows flags and exit codes", []string{"run", "--help"}, []string{"VMLUA_PASSWORD=Sup3r-S3cret-PW"}, 0, "Exit status", "", "Sup3r-S3cret-PW"},
		{"unknown command", []string{"frobnicate"}, nil, 2, "", "unknown command", ""},
		{"missing script", []string{"run"}, nil, 2, "", "Usage: vmlua run", ""},
		{"a failing script exits 1 with one clear line", []string{"run", script(t, "error({code='not_found', message='no VM named DB9', vm='DB9'})")}, nil, 1, "", "not_found: no VM named DB9 (vm=DB9)", ""},
		{"a timeout exits 4", []string{"run", "--timeout", "300ms", script(t, "while true do end")}, nil, 4, "", "longer than its --timeout of 300ms", ""},
		{"a config holding a password readable by others is refused", []string{"run", "--config", worldReadable, "../../examples/hello.lua"}, nil, 3, "", "chmod 600", "Sup3r-S3cret-PW"},
		{"a password from the environment never reaches the output", []string{"run", "--url", "https://u@127.0.0.1:1/sdk", script(t, "print('at https://u:Sup3r-S3cret-PW@127.0.0.1:1/sdk'); require('vm').find('any:')")}, []string{"VMLUA_PASSWORD=Sup3r-S3cret-PW"}, 1, "at https://u:xxxxx@127.0.0.1:1/sdk", "127.0.0.1:1", "Sup3r-S3cret-PW"},
		{"check finds a misspelt function", []string{"check", script(t, "local log = require 'log'\nlog.inf('x')\n")}, nil, 1, `s.lua:2: log.inf: module "log" has no function or field "inf" (did you mean "info"?)`, "", ""},
		{"check passes the example", []string{"check", "../../examples/hello.lua"}, nil, 0, "", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = append(os.Environ(), tc.env...)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantExit {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantExit, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("stdout %q does not contain %q", out.String(), tc.wantOut)
			}
			if !strings.Contains(errb.String(), tc.wantErr) {
				t.Errorf("stderr %q does not contain %q", errb.String(), tc.wantErr)
			}
			if tc.notInOutput != "" && strings.Contains(out.String()+errb.String(), tc.notInOutput) {
				t.Errorf("output contains %q", tc.notInOutput)
			}
		})
	}
}

// TestSIGTERMStopsTheProcess: a vmlua run process that gets SIGTERM stops
// its script and exits 5 with a message.
func TestSIGTERMStopsTheProcess(t *testing.T) {
	bin := simtest.Binary(t)
	cmd := exec.Command(bin, "run", script(t, "print('started') while true do end"))
	errb := &simtest.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = errb, errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually.True(t, "the script's 'started' line", func() bool { return strings.Contains(errb.String(), "started") })
	_ = cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitCanceled {
		t.Fatalf("exit = %v, want status %d; stderr: %s", err, exitCanceled, errb.String())
	}
	if !strings.Contains(errb.String(), "stopped: received terminated") {
		t.Errorf("stderr does not say why it stopped: %s", errb.String())
	}
}

// TestSIGTERMRunsTheCleanupStack: the signal handling the CLI installs
// cancels the run, and the cleanup actions a module registered still run
// before the exit status is returned.
func TestSIGTERMRunsTheCleanupStack(t *testing.T) {
	var mu sync.Mutex
	var cleaned []string
	started := make(chan struct{})
	mod := &runtime.Module{Name: "sigtest", Summary: "test", Funcs: []runtime.Func{{
		Name: "hold", Doc: "registers a cleanup and blocks until the run ends",
		Fn: func(r *runtime.Run, L *lua.LState) int {
			r.Cleanup.Push("commit REDO of scsi0:0 on DB01", func(ctx context.Context) error {
				mu.Lock()
				defer mu.Unlock()
				if ctx.Err() != nil {
					return ctx.Err()
				}
				cleaned = append(cleaned, "commit")
				return nil
			})
			close(started)
			<-r.Context().Done()
			return r.Raise(L, r.Context().Err())
		},
	}}}
	old := modules
	modules = func() []*runtime.Module { return append(all.Modules(), mod) }
	defer func() { modules = old }()

	ctx, stop := signalContext(&bytes.Buffer{})
	defer stop()
	go func() {
		<-started
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}()
	var stderr bytes.Buffer
	code := runScript(ctx, &runFlags{logFormat: "text", logLevel: "info"}, script(t, "require('sigtest').hold()"), nil, &bytes.Buffer{}, &stderr)
	if code != exitCanceled {
		t.Errorf("exit status %d, want %d; stderr: %s", code, exitCanceled, stderr.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(cleaned) != 1 {
		t.Errorf("cleanup actions run: %v, want the commit", cleaned)
	}
	if !strings.Contains(stderr.String(), "commit REDO of scsi0:0 on DB01") {
		t.Errorf("the cleanup was not logged: %s", stderr.String())
	}
}
