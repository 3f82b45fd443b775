package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime/metrics"
	"strings"
	"sync"
	"time"

	"github.com/vmlua/vmlua/internal/redact"
	"github.com/vmlua/vmlua/transports"
	lua "github.com/yuin/gopher-lua"
)

// DefaultTimeout is a run's wall-clock limit when --timeout is not given:
// long enough for a night's backup window, short enough that a hung run
// does not hold a VM on a snapshot into the next day.
const DefaultTimeout = 12 * time.Hour

// DefaultCleanupTimeout bounds each cleanup action after the script ended.
const DefaultCleanupTimeout = 10 * time.Minute

// Endpoint is a vSphere endpoint the operator configured.
type Endpoint struct {
	Name       string // profile name
	URL        string // https://host/sdk, without credentials
	Username   string
	Password   string
	Thumbprint string // SHA-1 or SHA-256 fingerprint of the server certificate
	Insecure   bool   // skip TLS verification (explicit opt-in)
	// The data path (internal/dsread): disk bytes go to and from the VM's
	// ESXi host directly. HostThumbprints pins hosts' certificates by host
	// name (else vCenter's record of each host's certificate is trusted);
	// HostRequests is the datastore requests in flight per host (0: 4);
	// ThroughVCenter sends every byte through vCenter instead.
	HostThumbprints map[string]string
	HostRequests    int
	ThroughVCenter  bool
}

// String renders the endpoint without its password, for fmt's %v and
// %+v and for logs.
func (e Endpoint) String() string {
	pw := ""
	if e.Password != "" {
		pw = redact.Mask
	}
	return fmt.Sprintf("{Name:%s URL:%s Username:%s Password:%s Thumbprint:%s Insecure:%v}", e.Name, redact.Text(e.URL), e.Username, pw, e.Thumbprint, e.Insecure)
}

// GoString renders the endpoint without its password for %#v.
func (e Endpoint) GoString() string { return "runtime.Endpoint" + e.String() }

// Options configure one run. Everything a script may reach comes from here,
// set by the operator; nothing comes from the script.
type Options struct {
	Context context.Context // parent; cancelled on SIGINT/SIGTERM by the CLI
	Logger  *slog.Logger
	Modules []*Module
	Grants  Grants
	DryRun  bool
	// Timeout is the wall-clock limit of the script (DefaultTimeout if 0).
	Timeout time.Duration
	// CleanupTimeout bounds each cleanup action (DefaultCleanupTimeout if 0).
	CleanupTimeout time.Duration
	// StopGrace is how long the run waits, once its context ended, for a
	// script stuck in a call to stop before it runs the cleanup without
	// it (DefaultStopGrace if 0).
	StopGrace time.Duration
	// LibDir is the site's script library (--lib), read-only; "" for none.
	LibDir string
	// Args are the script's arguments: positional ones and key=value.
	Args []string
	// HostArgs are the keys of Args the host added itself (--each's vm and
	// vm_name): script.args accepts them without a declaration.
	HostArgs []string
	// Stdout is where print writes, one line per call (default os.Stdout).
	// Logs never go there.
	Stdout io.Writer
	// Endpoints are the configured vSphere profiles; DefaultEndpoint names
	// the one the vm module connects to unless a script picks another.
	Endpoints       map[string]Endpoint
	DefaultEndpoint string
	// Credentials are named transport credentials from the config.
	Credentials map[string]transports.Credentials
	Progress    Progress
	Limits      Limits
	// shared holds objects shared between runs of one process (a fleet
	// run's connection pool), by SharedKey; the owning modules set them
	// (vm.SharePool).
	shared map[any]any
}

// Run is the state of one script run, handed to every module function:
// context, grants, cleanup stack, logger, dry-run flag and progress sink.
// There are no globals; two runs in one process share nothing but the
// values their Options hold under a SharedKey.
type Run struct {
	Log      *slog.Logger
	Grants   *Grants
	Cleanup  *CleanupStack
	DryRun   bool
	Progress Progress

	opts    Options
	limits  Limits
	ctx     context.Context
	cancel  context.CancelCauseFunc
	stopTO  context.CancelFunc
	modules map[string]*Module
	types   map[string]*Type // the run's modules' types, by name
	stdout  io.Writer
	out     outcome
	prog    *runProgress

	mu     sync.Mutex
	values map[valueKey]any
	closed bool
}

var (
	errTimeout = errors.New("the run exceeded its --timeout")
	errMemory  = errors.New("the run exceeded its memory limit")
)

// New prepares a run. The script's wall-clock limit starts now.
func New(opts Options) (*Run, error) {
	if opts.Context == nil {
		opts.Context = context.Background()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.CleanupTimeout == 0 {
		opts.CleanupTimeout = DefaultCleanupTimeout
	}
	if opts.StopGrace == 0 {
		opts.StopGrace = DefaultStopGrace
	}
	if opts.Progress == nil {
		opts.Progress = NopProgress{}
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	prog := newRunProgress(opts.Progress)
	r := &Run{
		Grants:   &opts.Grants,
		Cleanup:  &CleanupStack{},
		DryRun:   opts.DryRun,
		Progress: prog,
		prog:     prog,
		opts:     opts,
		limits:   opts.Limits.withDefaults(),
		modules:  map[string]*Module{},
		types:    map[string]*Type{},
		values:   map[valueKey]any{},
		stdout:   opts.Stdout,
	}
	// secrets are masked where they are written (URL userinfo, fields
	// named like a credential), never searched for by value: package
	// redact says why
	r.Log = slog.New(redact.NewHandler(opts.Logger.Handler()))
	for _, m := range opts.Modules {
		if _, dup := r.modules[m.Name]; dup {
			return nil, fmt.Errorf("module %q registered twice", m.Name)
		}
		r.modules[m.Name] = m
		for _, t := range m.Types {
			r.types[t.Name] = t
		}
	}
	if opts.LibDir != "" {
		abs, err := filepath.Abs(opts.LibDir)
		if err != nil {
			return nil, fmt.Errorf("--lib %s: %w", opts.LibDir, err)
		}
		st, err := os.Stat(abs)
		if err != nil || !st.IsDir() {
			return nil, fmt.Errorf("--lib %s is not a readable directory", opts.LibDir)
		}
		r.opts.LibDir = abs
	}
	ctx, cancel := context.WithCancelCause(opts.Context)
	ctx, stopTO := context.WithTimeoutCause(ctx, opts.Timeout, errTimeout)
	r.ctx, r.cancel, r.stopTO = ctx, cancel, stopTO
	if r.limits.MemoryBytes > 0 {
		go r.watchMemory()
	}
	return r, nil
}

// Context is the run's context: cancelled by timeout, signal or Close.
func (r *Run) Context() context.Context { return r.ctx }

// Options returns the options the run was made with.
func (r *Run) Options() Options { return r.opts }

// DryRunAction reports whether a change should be skipped; it logs it.
func (r *Run) DryRunAction(what string, args ...any) bool {
	if r.DryRun {
		r.Log.Info("dry run: would "+what, args...)
	}
	return r.DryRun
}

// Endpoint returns the named vSphere profile ("" for the default).
func (r *Run) Endpoint(name string) (Endpoint, error) {
	if name == "" {
		name = r.opts.DefaultEndpoint
	}
	e, ok := r.opts.Endpoints[name]
	if !ok {
		if name == "" {
			return Endpoint{}, Errorf(CodeConfig, "no vSphere endpoint configured: give --url (or VMLUA_URL), or a [vsphere.NAME] profile in the config file")
		}
		return Endpoint{}, Errorf(CodeConfig, "vSphere profile %q is not configured; add [vsphere.%s] to the config file", name, name)
	}
	return e, nil
}

// Credential returns named transport credentials.
func (r *Run) Credential(name string) (transports.Credentials, error) {
	c, ok := r.opts.Credentials[name]
	if !ok {
		return transports.Credentials{}, Errorf(CodeConfig, "credentials %q are not configured; add [credentials.%s] to the config file", name, name)
	}
	c.Name = name
	return c, nil
}

// ExecFile runs a script file, then the cleanup stack. The returned error
// is a *ScriptError for script failures, timeouts and cancellation, and an
// *ExitError when the script ended with a non-zero status of its own
// (script.status, script.exit); ExitStatus maps either to an exit status.
func (r *Run) ExecFile(path string) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return &ScriptError{Code: CodeNotFound, Message: fmt.Sprintf("cannot read script: %v", err), Cause: err}
	}
	return r.ExecString(filepath.Base(path), string(src))
}

// ExecString runs source under the given chunk name, then the cleanup
// stack, and closes the run. Once the run's context has ended, it waits
// at most Options.StopGrace for the script to stop; a script stuck in a
// call that ignores the context is then abandoned (ErrAbandoned) and the
// cleanup stack runs without it.
func (r *Run) ExecString(name, src string) error {
	defer r.Close()
	err := r.execWatched(name, src)
	if err == nil || r.exited() {
		err = r.endStatus()
	}
	if cerr := r.finish(); cerr != nil {
		var ee *ExitError
		if err == nil || errors.As(err, &ee) {
			// a failed cleanup (a REDO left open) outranks the status the
			// script chose: the run failed
			err = &ScriptError{Code: CodeError, Message: "the script ended but cleanup failed: " + redact.Text(cerr.Error()), Cause: cerr}
		} else {
			r.Log.Error("cleanup after the failed script also failed", "error", cerr)
		}
	}
	return err
}

func (r *Run) exec(L *lua.LState, name, src string) (err error) {
	defer func() {
		// A Go panic inside a module must not take the host down with it.
		if p := recover(); p != nil {
			err = &ScriptError{Code: CodeError, Message: redact.Text(fmt.Sprintf("internal error: %v", p))}
		}
	}()
	proto, cerr := compileChunk(r.ctx, name, src, r.limits.MaxNesting)
	if cerr != nil {
		if r.ctx.Err() != nil {
			return r.scriptError(cerr)
		}
		var ne *nestingError
		if errors.As(cerr, &ne) {
			return &ScriptError{Code: CodeSandbox, Where: ne.where(), Message: ne.message()}
		}
		se := &ScriptError{Code: CodeInvalidArg, Message: redact.Text(cerr.Error())}
		if line, msg, ok := syntaxError(cerr); ok {
			se.Where, se.Message = name, redact.Text(msg)
			if line > 0 {
				se.Where = fmt.Sprintf("%s:%d", name, line)
			}
		}
		return se
	}
	fn := L.NewFunctionFromProto(proto)
	L.Push(fn)
	if perr := L.PCall(0, 0, nil); perr != nil {
		return r.scriptError(perr)
	}
	return nil
}

// scriptError turns what PCall returned into a *ScriptError.
func (r *Run) scriptError(perr error) *ScriptError {
	if context.Cause(r.ctx) != nil {
		return r.stopError()
	}
	se := &ScriptError{Code: CodeError}
	var api *lua.ApiError
	if errors.As(perr, &api) {
		if t, ok := api.Object.(*lua.LTable); ok && isStructured(t) {
			if c, ok := t.RawGetString("code").(lua.LString); ok {
				se.Code = string(c)
			}
			se.Message = redact.Text(errorLine(t))
			if w, ok := t.RawGetString("where").(lua.LString); ok {
				se.Where = strings.TrimSuffix(string(w), ":")
			}
			return se
		}
		msg := api.Object.String()
		if _, isStr := api.Object.(lua.LString); !isStr && api.Object.Type() != lua.LTNumber {
			msg = "error object is a " + api.Object.Type().String() + " value"
		}
		se.Message = redact.Text(strings.TrimSpace(firstLine(msg)))
		if m := whereRe.FindStringSubmatch(se.Message); m != nil {
			se.Where, se.Message = m[1], m[2]
		}
		return se
	}
	se.Message = redact.Text(perr.Error())
	return se
}

// isStructured reports whether a raised table is a structured error (ours,
// or a script's own {code=, message=}).
func isStructured(t *lua.LTable) bool {
	_, c := t.RawGetString("code").(lua.LString)
	_, m := t.RawGetString("message").(lua.LString)
	return c || m
}

var whereRe = regexp.MustCompile(`^([^\s:]+\.lua:\d+):\s*(.*)$`)

func firstLine(s string) string {
	if i := strings.Index(s, "\nstack traceback"); i >= 0 {
		s = s[:i]
	}
	return s
}

// finish runs the cleanup stack with a context of its own: the run's
// context may already be cancelled, and cleanup must still happen.
func (r *Run) finish() error {
	if len(r.Cleanup.Pending()) == 0 {
		return nil
	}
	ctx := context.WithoutCancel(r.opts.Context)
	return r.Cleanup.Run(ctx, r.Log, r.opts.CleanupTimeout)
}

// Close ends the run: its context is cancelled and per-run values that
// implement io.Closer-like Close(ctx) are closed. Cleanup actions still
// pending are run first.
func (r *Run) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	vals := r.values
	r.mu.Unlock()
	_ = r.finish()
	r.cancel(errors.New("run closed"))
	r.stopTO()
	for k, v := range vals {
		if c, ok := v.(interface{ Close(context.Context) error }); ok {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.opts.Context), 30*time.Second)
			if err := c.Close(ctx); err != nil {
				r.Log.Warn("closing "+k.keyName(), "error", err)
			}
			cancel()
		}
	}
}

func (r *Run) watchMemory() {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			metrics.Read(samples)
			if samples[0].Value.Kind() == metrics.KindUint64 && int64(samples[0].Value.Uint64()) > r.limits.MemoryBytes {
				r.cancel(errMemory)
				return
			}
		}
	}
}

// loadedKey holds what require returned, by name, for the run.
var loadedKey = NewKey[map[string]lua.LValue]("runtime.loaded")

// luaRequire resolves vmlua's modules, then the site's script library.
func (r *Run) luaRequire(L *lua.LState) int {
	name := L.CheckString(1)
	loaded := loadedKey.Init(r, func() map[string]lua.LValue { return map[string]lua.LValue{} })
	if v, ok := loaded[name]; ok {
		if v == lua.LFalse {
			L.RaiseError("require %q: loop in the modules' requires", name)
		}
		L.Push(v)
		return 1
	}
	if m, ok := r.modules[name]; ok {
		mod := m.open(r, L)
		loaded[name] = mod
		L.Push(mod)
		return 1
	}
	if !libName.MatchString(name) {
		L.Error(sandboxError(L, fmt.Sprintf("require %q: not a module name (vmlua modules are %s; library modules are names like 'site.policy' resolved under --lib)", name, strings.Join(r.moduleNames(), ", "))), 1)
	}
	if r.opts.LibDir == "" {
		return r.RaiseCode(L, CodeNotFound, "require %q: no such vmlua module (%s), and no --lib directory was given for the site's own modules", name, strings.Join(r.moduleNames(), ", "))
	}
	file := filepath.Join(r.opts.LibDir, filepath.FromSlash(strings.ReplaceAll(name, ".", "/"))+".lua")
	real, err := filepath.EvalSymlinks(file)
	if err != nil {
		return r.RaiseCode(L, CodeNotFound, "require %q: not a vmlua module (%s) and not found in --lib (looked for %s)", name, strings.Join(r.moduleNames(), ", "), file)
	}
	libReal, _ := filepath.EvalSymlinks(r.opts.LibDir)
	if !strings.HasPrefix(real, libReal+string(filepath.Separator)) {
		L.Error(sandboxError(L, fmt.Sprintf("require %q: %s leads outside the --lib directory", name, file)), 1)
	}
	src, err := os.ReadFile(real)
	if err != nil {
		return r.RaiseCode(L, CodeNotFound, "require %q: %v", name, err)
	}
	chunkName := strings.ReplaceAll(name, ".", "/") + ".lua"
	fn, err := r.LoadChunk(L, chunkName, string(src))
	if err != nil {
		if cerr := r.Context().Err(); cerr != nil {
			return r.Raise(L, cerr)
		}
		code := CodeInvalidArg
		var ne *nestingError
		if errors.As(err, &ne) {
			code = CodeSandbox
		}
		return r.RaiseCode(L, code, "require %q: %s", name, chunkErrorText(chunkName, err))
	}
	loaded[name] = lua.LFalse
	L.Push(fn)
	L.Push(lua.LString(name))
	L.Call(1, 1)
	v := L.Get(-1)
	if v == lua.LNil {
		v = lua.LTrue
	}
	loaded[name] = v
	L.Pop(1)
	L.Push(v)
	return 1
}

var libName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

func (r *Run) moduleNames() []string {
	var out []string
	for _, m := range r.opts.Modules {
		out = append(out, m.Name)
	}
	return out
}

// argTable builds the script's arg: positional arguments as arg[1..n] and
// key=value arguments as arg.key (the Perl scripts' @ARGV).
func (r *Run) argTable(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	pos, kv := SplitArgs(r.opts.Args)
	for i, a := range pos {
		t.RawSetInt(i+1, lua.LString(a))
	}
	for _, p := range kv {
		t.RawSetString(p.Key, lua.LString(p.Value))
	}
	return t
}

// KeyValue is one key=value argument.
type KeyValue struct{ Key, Value string }

// SplitArgs separates a script's arguments into positional ones and
// key=value ones (a key is a name: letters, digits, _ . -, not starting
// with a digit), in order. A later key=value repeats an earlier one.
func SplitArgs(args []string) (positional []string, keyed []KeyValue) {
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok && argKey.MatchString(k) {
			keyed = append(keyed, KeyValue{k, v})
			continue
		}
		positional = append(positional, a)
	}
	return positional, keyed
}

var argKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
