package hostile

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmware/govmomi/vim25/mo"
)

// The class "long-running base functions": a few lines of Lua that made
// one Go call work without end (unpack over a huge range, string.byte over
// a huge string, select over what they return, load of a deeply nested
// chunk) held the process past --timeout and SIGTERM, so that a REDO the
// script had added stayed on the VM. These tests run vmlua as a process
// against the simulator, with a REDO open when the script reaches the
// call, and wait for the process to end (go test -timeout is the bound).

// longSim starts a simulator with one small VM, L01.
func longSim(t *testing.T) *vsim.Sim {
	t.Helper()
	s, err := vsim.Start(context.Background(), vsim.Options{Password: simPassword,
		Inventory: []vsim.VMSpec{{Name: "L01", Disks: []vsim.DiskSpec{{Size: 1 << 20}}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// snapshots counts the snapshots of VM name.
func snapshots(t *testing.T, s *vsim.Sim, name string) int {
	t.Helper()
	ctx := context.Background()
	c, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v := simtest.VMOf(t, c, name)
	var m mo.VirtualMachine
	if err := v.Properties(ctx, v.Reference(), []string{"snapshot"}, &m); err != nil {
		t.Fatal(err)
	}
	if m.Snapshot == nil {
		return 0
	}
	return len(m.Snapshot.RootSnapshotList)
}

// writeScript writes a script file for a process run.
func writeScript(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.lua")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func exitStatus(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// freeze is the start of every script here: a REDO on L01, then a line
// the test waits for.
const freeze = `local v = require("vm").open("name:L01")
v:add_redo("scsi0:0")
print("frozen")
`

// TestLongBaseCallsEndAtOnceAndTheREDOIsCommitted: each call fails at
// once with a sandbox error that says what limit it met, the run exits 1,
// and the REDO is committed. The --timeout is long: the old behaviour (a
// process that ignored it) shows as this test never ending.
func TestLongBaseCallsEndAtOnceAndTheREDOIsCommitted(t *testing.T) {
	s := longSim(t)
	bin := simtest.Binary(t)
	cases := []struct{ name, call, want string }{
		{"unpack over a huge range", `local t = {unpack({}, 1, 1e9)}`, "unpack would return 1000000000 values"},
		{"string.byte over a huge string", `local t = {string.rep("a", 60000000):byte(1, -1)}`, "string.byte would return 60000000 values"},
		{"select over what unpack returns", `for i = 1, 1e9 do local x = select(-1, unpack({}, 1, 1e7)) end`, "unpack would return 10000000 values"},
		{"load of a chunk nested a million deep", `local f, e = load("return " .. string.rep("not ", 1000000) .. "1"); error(e)`, "nests more than 1000 levels deep"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, "run", "--url", s.URL.String(), "--insecure", "--timeout", "1h", writeScript(t, freeze+tc.call))
			out, err := cmd.CombinedOutput()
			if code := exitStatus(err); code != 1 {
				t.Errorf("exit status %d, want 1\n%s", code, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("the output does not say %q:\n%s", tc.want, out)
			}
			if n := snapshots(t, s, "L01"); n != 0 {
				t.Errorf("%d snapshot(s) left on L01:\n%s", n, out)
			}
		})
	}
}

var (
	hookOnce sync.Once
	hookPath string
	hookErr  error
)

// hookBinary builds vmlua with -tags vmlua_testhooks: its scripts have
// testhook.stuck(), a call that blocks for ever without looking at the
// run's context (cmd/vmlua/testhooks.go).
func hookBinary(t *testing.T) string {
	t.Helper()
	hookOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vmlua-hook-bin")
		if err != nil {
			hookErr = err
			return
		}
		hookPath = filepath.Join(dir, "vmlua")
		out, err := exec.Command("go", "build", "-tags", "vmlua_testhooks", "-o", hookPath, "github.com/vmlua/vmlua/cmd/vmlua").CombinedOutput()
		if err != nil {
			hookErr = errors.New(string(out))
		}
	})
	if hookErr != nil {
		t.Fatalf("go build -tags vmlua_testhooks ./cmd/vmlua: %v", hookErr)
	}
	return hookPath
}

// TestAStuckCallStillEndsTheRunAndCommitsTheREDO: whatever call a script
// is stuck in (here one that never returns and never looks at the run's
// context; it prints "stuck" once inside), SIGTERM and --timeout end the
// process with the documented status (5 and 4) after the cleanup ran: the
// REDO is committed.
func TestAStuckCallStillEndsTheRunAndCommitsTheREDO(t *testing.T) {
	s := longSim(t)
	bin := hookBinary(t)
	stuck := writeScript(t, freeze+`require("testhook").stuck()`)
	cases := []struct {
		name   string
		flags  []string
		signal bool
		status int
	}{
		{"SIGTERM", []string{"--timeout", "1h"}, true, 5},
		{"the --timeout", []string{"--timeout", "3s"}, false, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--url", s.URL.String(), "--insecure", "--stop-grace", "200ms"}, tc.flags...)
			cmd := exec.Command(bin, append(args, stuck)...)
			out := &simtest.LockedBuffer{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			var err error
			if tc.signal {
				err = signalWhen(t, cmd, exited, out, "stuck\n")
			} else {
				err = <-exited
			}
			code := exitStatus(err)
			if code != tc.status {
				t.Errorf("exit status %d, want %d\n%s", code, tc.status, out)
			}
			if n := snapshots(t, s, "L01"); n != 0 {
				t.Errorf("%d snapshot(s) left on L01:\n%s", n, out)
			}
			// (with a --timeout the add_redo may itself be what the
			// timeout interrupts on a slow machine: then nothing was stuck)
			if strings.Contains(out.String(), "stuck\n") {
				for _, want := range []string{"abandoned", "the script ended with a REDO log still open; committing it"} {
					if !strings.Contains(out.String(), want) {
						t.Errorf("the output does not say %q:\n%s", want, out)
					}
				}
			}
		})
	}
}

// signalWhen sends SIGTERM to cmd once its output holds ready, and
// returns how it exited.
func signalWhen(t *testing.T, cmd *exec.Cmd, exited <-chan error, out *simtest.LockedBuffer, ready string) error {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(out.String(), ready) {
		select {
		case err := <-exited:
			t.Fatalf("the run ended (%v) before it printed %q:\n%s", err, ready, out)
		case <-tick.C:
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	return <-exited
}
