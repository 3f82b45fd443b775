package question_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/vsim"
	vlog "github.com/vmlua/vmlua/modules/log"
	"github.com/vmlua/vmlua/modules/question"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
)

const simPassword = "sim-Pa55word-for-question-tests"

type env struct {
	sim *vsim.Sim
	ep  runtime.Endpoint
}

func startSim(t testing.TB, o vsim.Options) *env {
	t.Helper()
	o.Password = simPassword
	if o.DiskSize == 0 {
		o.DiskSize = 1 << 20
	}
	s, err := vsim.Start(context.Background(), o)
	if err != nil {
		t.Fatalf("vsim.Start: %v", err)
	}
	t.Cleanup(s.Close)
	u := *s.URL
	u.User = nil
	return &env{sim: s, ep: runtime.Endpoint{Name: "sim", URL: u.String(), Username: s.URL.User.Username(), Password: simPassword, Insecure: true}}
}

// records is a slog handler that keeps every record as a map, and calls
// hook synchronously for each.
type records struct {
	mu   sync.Mutex
	recs []map[string]any
	hook func(msg string, attrs map[string]any)
}

func (h *records) Enabled(context.Context, slog.Level) bool { return true }
func (h *records) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{"msg": r.Message, "level": r.Level.String()}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.Resolve().Any(); return true })
	if h.hook != nil {
		h.hook(r.Message, m)
	}
	h.mu.Lock()
	h.recs = append(h.recs, m)
	h.mu.Unlock()
	return nil
}
func (h *records) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *records) WithGroup(string) slog.Handler      { return h }

func (h *records) find(msg string) []map[string]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []map[string]any
	for _, r := range h.recs {
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

func (h *records) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, r := range h.recs {
		j, _ := json.Marshal(r)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

type runOpts struct {
	args    []string
	timeout time.Duration
	hook    func(msg string, attrs map[string]any)
	dryRun  bool
}

// run executes a Lua script (source, or a file when it ends in .lua)
// against the simulator.
func (e *env) run(t *testing.T, script string, o runOpts) (error, *records) {
	t.Helper()
	recs := &records{hook: o.hook}
	opts := runtime.Options{
		Logger:    slog.New(recs),
		Modules:   []*runtime.Module{vlog.Module, vm.Module, question.Module},
		Timeout:   60 * time.Second,
		Endpoints: map[string]runtime.Endpoint{"sim": e.ep}, DefaultEndpoint: "sim",
		Args: o.args, DryRun: o.dryRun,
	}
	if o.timeout > 0 {
		opts.Timeout = o.timeout
	}
	r, err := runtime.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(script, ".lua") && !strings.Contains(script, "\n") {
		return r.ExecFile(script), recs
	}
	return r.ExecString("test.lua", script), recs
}

func code(err error) string {
	var se *runtime.ScriptError
	if errors.As(err, &se) {
		return se.Code
	}
	return ""
}

// ask raises a question on a VM, failing the test if it cannot.
func (e *env) ask(t *testing.T, vmName, text string, choices ...string) *vsim.Question {
	t.Helper()
	q, err := e.sim.Ask(vmName, text, choices...)
	if err != nil {
		t.Fatalf("Ask(%s): %v", vmName, err)
	}
	return q
}

// answered reports the index the question was answered with, or -1.
func answered(q *vsim.Question) int {
	select {
	case <-q.Answered():
		i, _ := q.Wait(context.Background())
		return i
	default:
		return -1
	}
}
