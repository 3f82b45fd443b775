package runtime_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmlua/vmlua/runtime"
	lua "github.com/yuin/gopher-lua"
)

// TestLongCallsAreBoundedOrStopped is the battery of base-library calls
// whose work grows with an argument inside one Go call: each was a way
// for a few lines of Lua to keep the process busy past --timeout and
// SIGTERM (or, for deep nesting, to end the process with a Go stack
// overflow, cleanup and all). Each must now fail at once with a clear
// sandbox error. The run's timeout is long: a case that hangs shows as
// the test binary's own timeout, never as a timing assertion here.
func TestLongCallsAreBoundedOrStopped(t *testing.T) {
	deep := func(open, mid, close string, n int) string {
		return strings.Repeat(open, n) + mid + strings.Repeat(close, n)
	}
	lib := t.TempDir()
	if err := os.WriteFile(filepath.Join(lib, "deep.lua"), []byte("return "+deep("{", "", "}", 5000)), 0o644); err != nil {
		t.Fatal(err)
	}
	withLib := func(o *runtime.Options) { o.LibDir = lib }
	cases := []struct {
		name     string
		script   string
		opts     func(*runtime.Options)
		wantCode string
		wantMsg  string
	}{
		{"unpack over a huge range is refused", `local t = {unpack({}, 1, 1e9)}`, nil, "sandbox", "unpack would return 1000000000 values"},
		{"unpack over a range that wraps around is refused", `unpack({}, -2^63, 2^62)`, nil, "sandbox", "unpack would return"},
		{"unpack of a long list is refused", `local t = {}; for i = 1, 100000 do t[i] = i end; unpack(t)`, nil, "sandbox", "unpack would return 100000 values"},
		{"select over a huge unpack is refused", `return select("#", unpack({}, 1, 2^40))`, nil, "sandbox", "unpack would return"},
		{"select(-1) over a huge unpack in a loop is refused", `for i = 1, 1e9 do local x = select(-1, unpack({}, 1, 1e6)) end`, nil, "sandbox", "unpack would return 1000000 values"},
		{"string.byte over a huge string is refused", `local s = string.rep("a", 60000000); local t = {s:byte(1, -1)}`, nil, "sandbox", "string.byte would return 60000000 values"},
		{"string.byte through the string metatable is refused", `return ("x"):rep(1e6):byte(1, 1e9)`, nil, "sandbox", "string.byte would return 1000000 values"},
		{"os.date with a huge format is refused", `os.date(string.rep("%c", 30000000))`, nil, "sandbox", "os.date: a format of 60000000 bytes"},
		{"string.format %q of a huge string is refused", `string.format("%q", string.rep("\1", 20000000))`, nil, "sandbox", "string.format would build"},
		{"load of a chunk past the string limit is refused", `local s = string.rep(" ", 33 * 1024 * 1024); load(s .. s)`, nil, "sandbox", "load: chunk larger than the sandbox's string limit"},
		// a million levels is what ended the process with a Go stack
		// overflow before; the other forms are checked just past the limit
		{"load of deeply nested negations fails without crashing the host", `local f, e = load("return " .. string.rep("not ", 1000000) .. "1"); error(e)`, nil, "error", "nests more than 1000 levels deep"},
		{"load of deeply nested tables fails without crashing the host", `local f, e = load("return " .. string.rep("{", 5000) .. string.rep("}", 5000)); error(e)`, nil, "error", "nests more than 1000 levels deep"},
		{"load of deeply nested functions fails without crashing the host", `local f, e = load("return " .. string.rep("function() return ", 5000) .. "1" .. string.rep(" end", 5000)); error(e)`, nil, "error", "nests more than 1000 levels deep"},
		{"load of a long call chain fails without crashing the host", `local f, e = load("return f" .. string.rep("()", 5000)); error(e)`, nil, "error", "nests more than 1000 levels deep"},
		{"load of a long concatenation fails without crashing the host", `local f, e = load("return a" .. string.rep(" .. a", 5000)); error(e)`, nil, "error", "nests more than 1000 levels deep"},
		{"load of a long elseif chain fails without crashing the host", `local f, e = load("if x then " .. string.rep("elseif x then ", 5000) .. "end"); error(e)`, nil, "error", "nests more than 1000 levels deep"},
		{"a script that nests too deeply is refused where it does", "local a = 1\nreturn " + deep("{", "", "}", 2000), nil, "sandbox", "nests more than 1000 levels deep"},
		{"require of a library module that nests too deeply is refused", `require "deep"`, withLib, "sandbox", "deep.lua:1: the code nests more than 1000 levels deep"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runScript(t, tc.script, tc.opts)
			if res.code() != tc.wantCode || res.err == nil || !strings.Contains(res.err.Error(), tc.wantMsg) {
				t.Errorf("got code %q, error %v; want code %q and a message with %q", res.code(), res.err, tc.wantCode, tc.wantMsg)
			}
		})
	}
}

// TestBoundedCallsKeepTheirMeaning: the bounded replacements of unpack,
// string.byte, table.sort and load behave as Lua 5.1's below the limits.
func TestBoundedCallsKeepTheirMeaning(t *testing.T) {
	cases := []struct{ name, script, want string }{
		{"unpack of a list", `print(unpack({1, 2, 3}))`, "1\t2\t3"},
		{"unpack of a range", `print(unpack({1, 2, 3, 4}, 2, 3))`, "2\t3"},
		{"unpack of an empty range", `print(select("#", unpack({1, 2}, 3, 2)))`, "0"},
		{"unpack past the list gives nils", `print(unpack({1}, 1, 3))`, "1\tnil\tnil"},
		{"unpack of a list up to the limit", `local t = {}; for i = 1, 65536 do t[i] = i end; print(select("#", unpack(t)))`, "65536"},
		{"string.byte of the first byte", `print(("ABC"):byte())`, "65"},
		{"string.byte of one position", `print(("ABC"):byte(2))`, "66"},
		{"string.byte of a range", `print(("ABC"):byte(1, -1))`, "65\t66\t67"},
		{"string.byte from the end", `print(("ABC"):byte(-2, -1))`, "66\t67"},
		{"string.byte out of range", `print(select("#", ("ABC"):byte(10)))`, "0"},
		{"string.byte of an empty range", `print(select("#", ("ABC"):byte(3, 2)))`, "0"},
		{"table.sort in default order", `local t = {3, 1, 2}; table.sort(t); print(table.concat(t, ","))`, "1,2,3"},
		{"table.sort of strings", `local t = {"b", "c", "a"}; table.sort(t); print(table.concat(t, ","))`, "a,b,c"},
		{"table.sort with a comparison", `local t = {3, 1, 2}; table.sort(t, function(a, b) return a > b end); print(table.concat(t, ","))`, "3,2,1"},
		{"table.sort of a list of 200000", `local t = {}; for i = 1, 200000 do t[i] = -i end; table.sort(t); print(t[1], t[200000])`, "-200000\t-1"},
		{"table.sort refuses to compare mixed types", `print(pcall(table.sort, {1, "a"}))`, "false"},
		{"load of a nested but reasonable chunk", `print(load("return " .. string.rep("(", 500) .. "7" .. string.rep(")", 500))())`, "7"},
		{"load reports a syntax error", `print(load("return +"))`, "nil"},
		{"os.date still formats", `print(os.date("!%Y", 0))`, "1970"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runScript(t, tc.script, nil)
			if res.err != nil || len(res.printed()) != 1 || !strings.HasPrefix(res.printed()[0], tc.want) {
				t.Errorf("printed %q, error %v; want %q", res.printed(), res.err, tc.want)
			}
		})
	}
}

// stuckModule has a function that blocks without looking at the run's
// context, as a Go call doing unbounded work does, until the test
// releases it; and one that registers a cleanup action.
func stuckModule(release <-chan struct{}, entered chan<- struct{}, cleaned *[]string, mu *sync.Mutex) *runtime.Module {
	return &runtime.Module{
		Name: "stuck", Summary: "test helpers for stuck calls",
		Funcs: []runtime.Func{
			{Name: "forever", Doc: "blocks until the test releases it, ignoring the run's context",
				Fn: func(r *runtime.Run, L *lua.LState) int {
					entered <- struct{}{}
					<-release
					return 0
				}},
			{Name: "progress", Doc: "starts a progress operation it never ends", Args: []runtime.Arg{{Name: "name", Type: "string", Doc: "label"}},
				Fn: func(r *runtime.Run, L *lua.LState) int {
					r.Progress.Start(L.CheckString(1), 100).Add(10)
					return 0
				}},
			{Name: "push", Doc: "registers a cleanup action", Args: []runtime.Arg{{Name: "name", Type: "string", Doc: "its name"}},
				Fn: func(r *runtime.Run, L *lua.LState) int {
					name := L.CheckString(1)
					r.Cleanup.Push(name, func(ctx context.Context) error {
						// a cleanup action uses its own context, never the
						// run's (which has ended)
						if err := ctx.Err(); err != nil {
							return err
						}
						mu.Lock()
						*cleaned = append(*cleaned, name)
						mu.Unlock()
						return nil
					})
					return 0
				}},
		},
	}
}

// recProgress records the operations started and how they ended.
type recProgress struct {
	mu    sync.Mutex
	ended map[string]error
	open  map[string]bool
}

func (p *recProgress) Start(name string, total int64) runtime.Tracker {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open == nil {
		p.open, p.ended = map[string]bool{}, map[string]error{}
	}
	p.open[name] = true
	return &recTracker{p: p, name: name}
}

type recTracker struct {
	p    *recProgress
	name string
}

func (t *recTracker) Add(int64) {}
func (t *recTracker) Done(err error) {
	t.p.mu.Lock()
	defer t.p.mu.Unlock()
	delete(t.p.open, t.name)
	t.p.ended[t.name] = err
}

// TestAStuckCallDoesNotStopTheCleanup: a script stuck in a Go call that
// never looks at the run's context (the class of the unbounded base
// functions, whatever call it is) is abandoned once the run was stopped
// and the grace ran out: the run returns the stop's error (timeout or
// cancellation) and the cleanup stack has run, once, from another
// goroutine; the progress operations it left open are ended.
func TestAStuckCallDoesNotStopTheCleanup(t *testing.T) {
	for _, stop := range []string{"timeout", "canceled"} {
		t.Run(stop, func(t *testing.T) {
			release, entered := make(chan struct{}), make(chan struct{}, 1)
			var mu sync.Mutex
			var cleaned []string
			parent, cancel := context.WithCancel(context.Background())
			defer cancel()
			prog := &recProgress{}
			opts := runtime.Options{
				Context: parent, Logger: discardLogger(), Modules: []*runtime.Module{stuckModule(release, entered, &cleaned, &mu)},
				Timeout: time.Hour, StopGrace: 50 * time.Millisecond, Progress: prog, Stdout: &syncBuffer{},
			}
			if stop == "timeout" {
				opts.Timeout = 100 * time.Millisecond
			}
			r, err := runtime.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			if stop == "canceled" {
				go func() { <-entered; cancel() }()
			}
			err = r.ExecString("stuck.lua", `local s = require "stuck"; s.push("commit REDO"); s.progress("export scsi0:0"); s.forever()`)
			mu.Lock()
			got := append([]string(nil), cleaned...)
			mu.Unlock()
			var se *runtime.ScriptError
			if !errors.As(err, &se) || se.Code != stop || !errors.Is(err, runtime.ErrAbandoned) {
				t.Errorf("error %v (%T); want a %s with ErrAbandoned", err, err, stop)
			}
			if se != nil && !strings.Contains(se.Message, "abandoned") {
				t.Errorf("message %q does not say the script was abandoned", se.Message)
			}
			if len(got) != 1 || got[0] != "commit REDO" {
				t.Errorf("cleanup ran %v; want the REDO committed once", got)
			}
			prog.mu.Lock()
			if len(prog.open) != 0 || !errors.Is(prog.ended["export scsi0:0"], runtime.ErrAbandoned) {
				t.Errorf("progress: open %v, ended %v; want the export ended as abandoned", prog.open, prog.ended)
			}
			prog.mu.Unlock()
			// the stuck call returns at last: nothing runs a second time
			close(release)
			r.Close()
			mu.Lock()
			if len(cleaned) != 1 {
				t.Errorf("after the stuck call returned, cleanup ran %v", cleaned)
			}
			mu.Unlock()
		})
	}
}

// TestAStoppedScriptThatReturnsInTimeIsNotAbandoned: a script the stop
// reaches (an endless Lua loop) ends with the stop's error alone.
func TestAStoppedScriptThatReturnsInTimeIsNotAbandoned(t *testing.T) {
	res := runScript(t, `local t = require "testmod"; t.push("a"); while true do end`, func(o *runtime.Options) {
		o.Timeout = 100 * time.Millisecond
		o.StopGrace = time.Hour
	})
	if res.code() != "timeout" || errors.Is(res.err, runtime.ErrAbandoned) || len(res.cleaned) != 1 {
		t.Errorf("error %v, cleaned %v; want a timeout, not abandoned, cleanup run", res.err, res.cleaned)
	}
}

// TestCleanupActionsRunOnce: Run takes an action before it starts it, so
// a second Run, a Release or a RunCleanup from code still running (a call
// the run abandoned) finds it gone; a released action never runs.
func TestCleanupActionsRunOnce(t *testing.T) {
	r, err := runtime.New(runtime.Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := r.Cleanup
	var mu sync.Mutex
	runs := map[string]int{}
	started, release := make(chan struct{}), make(chan struct{})
	count := func(name string) func(context.Context) error {
		return func(context.Context) error { mu.Lock(); runs[name]++; mu.Unlock(); return nil }
	}
	s.Push("first", count("first"))
	slow := s.Push("slow", func(ctx context.Context) error {
		close(started)
		<-release
		mu.Lock()
		runs["slow"]++
		mu.Unlock()
		return nil
	})
	s.Push("released", count("released")).Release()
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background(), discardLogger(), time.Hour) }()
	<-started
	if err := r.RunCleanup(slow); err != nil {
		t.Errorf("RunCleanup of an action the cleanup is running: %v", err)
	}
	slow.Release()
	if err := s.Run(context.Background(), discardLogger(), time.Hour); err != nil {
		t.Errorf("a second Run: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if runs["first"] != 1 || runs["slow"] != 1 || runs["released"] != 0 {
		t.Errorf("runs = %v; want first and slow once each, released never", runs)
	}
}

// TestACleanupActionThatIgnoresItsContextIsReportedNotWaitedFor.
func TestACleanupActionThatIgnoresItsContextIsReportedNotWaitedFor(t *testing.T) {
	var s runtime.CleanupStack
	block := make(chan struct{})
	defer close(block)
	ran := false
	s.Push("other", func(context.Context) error { ran = true; return nil })
	s.Push("deaf", func(context.Context) error { <-block; return nil })
	err := s.Run(context.Background(), discardLogger(), 20*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), `cleanup "deaf"`) || !strings.Contains(err.Error(), "did not return when its time was up") {
		t.Errorf("err = %v; want the deaf action reported", err)
	}
	if !ran {
		t.Error("the other action did not run")
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
