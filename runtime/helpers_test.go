package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	vlog "github.com/vmlua/vmlua/modules/log"
	"github.com/vmlua/vmlua/runtime"
	lua "github.com/yuin/gopher-lua"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testModule is a module for tests: it registers cleanup actions and
// blocks, the way the vm module does around REDOs.
func testModule(cleaned *[]string, mu *sync.Mutex) *runtime.Module {
	return &runtime.Module{
		Name:    "testmod",
		Summary: "test helpers",
		Funcs: []runtime.Func{
			{Name: "push", Args: []runtime.Arg{{Name: "name", Type: "string"}}, Returns: "Handle", Doc: "registers a cleanup action",
				Fn: func(r *runtime.Run, L *lua.LState) int {
					name := L.CheckString(1)
					it := r.Cleanup.Push(name, func(ctx context.Context) error {
						mu.Lock()
						defer mu.Unlock()
						*cleaned = append(*cleaned, name)
						return nil
					})
					L.Push(r.NewObject(L, handleType, it))
					return 1
				}},
			{Name: "block", Doc: "blocks until the run's context ends, as a long Go call would",
				Fn: func(r *runtime.Run, L *lua.LState) int {
					<-r.Context().Done()
					return r.Raise(L, r.Context().Err())
				}},
			{Name: "fail", Args: []runtime.Arg{{Name: "password", Type: "string"}}, Doc: "raises a structured error whose message holds its argument where a password is written: a URL's userinfo, a password= field",
				Fn: func(r *runtime.Run, L *lua.LState) int {
					pw := L.CheckString(1)
					return r.Raise(L, &runtime.Error{Code: runtime.CodeVSphere, Message: "login to https://admin:" + pw + "@vc/sdk failed (password=" + pw + ")", VM: "DB01", Disk: "scsi0:1"})
				}},
			{Name: "granted", Args: []runtime.Arg{{Name: "url", Type: "string"}}, Doc: "raises unless url is granted",
				Fn: func(r *runtime.Run, L *lua.LState) int {
					if err := r.Grants.Check(L.CheckString(1)); err != nil {
						return r.Raise(L, err)
					}
					L.Push(lua.LTrue)
					return 1
				}},
		},
		Types: []*runtime.Type{handleType},
	}
}

var handleType = &runtime.Type{Name: "Handle", Summary: "a cleanup registration"}

func init() {
	handleType.Methods = []runtime.Func{{Name: "release", Doc: "drops the cleanup action", Fn: func(r *runtime.Run, L *lua.LState) int {
		r.CheckObject(L, 1, handleType).(*runtime.CleanupItem).Release()
		return 0
	}}}
}

type result struct {
	err     error
	log     string // JSON lines
	stdout  string // what the script printed
	cleaned []string
	took    time.Duration
}

// printed returns the lines the script printed to its stdout.
func (res result) printed() []string {
	if res.stdout == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
}

func (res result) code() string {
	var se *runtime.ScriptError
	if errors.As(res.err, &se) {
		return se.Code
	}
	if res.err != nil {
		return "go-error"
	}
	return ""
}

// runScript runs src with the log and test modules. mod may adjust options.
func runScript(t *testing.T, src string, mod func(*runtime.Options)) result {
	t.Helper()
	var buf, stdout syncBuffer
	var mu sync.Mutex
	var cleaned []string
	opts := runtime.Options{
		Logger:  slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Modules: []*runtime.Module{vlog.Module, testModule(&cleaned, &mu)},
		Timeout: 20 * time.Second,
		Stdout:  &stdout,
	}
	if mod != nil {
		mod(&opts)
	}
	r, err := runtime.New(opts)
	if err != nil {
		t.Fatalf("runtime.New: %v", err)
	}
	start := time.Now()
	err = r.ExecString("test.lua", src)
	mu.Lock()
	defer mu.Unlock()
	return result{err: err, log: buf.String(), stdout: stdout.String(), cleaned: append([]string(nil), cleaned...), took: time.Since(start)}
}
