package transport

import (
	"context"
	"errors"

	"io/fs"
	"path"
	"strings"
	"sync"

	"github.com/vmlua/vmlua/internal/bwlimit"
	"github.com/vmlua/vmlua/internal/capread"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	_ "github.com/vmlua/vmlua/transports/all" // the schemes the module offers (and its summary lists)
	"github.com/vmware/govmomi/vim25"
	lua "github.com/yuin/gopher-lua"
)

// MaxSmallFile bounds t:read and t:write: small files only.
const MaxSmallFile = 16 << 20

// Handle is an open transport as scripts hold it. Other modules (vm,
// backup) take it as a destination.
type Handle struct {
	T   transports.Transport
	URL string // redacted
}

// Module is the "transport" Lua module.
var Module = &runtime.Module{
	Name:    "transport",
	Summary: "Backup targets by URL: " + schemeList() + ".",
	Doc: "`transport.open(url [, {credentials=NAME, ...}])` returns a handle for a granted URL. " +
		"Paths given to a handle are relative to the URL and cannot leave it. Uploads are atomic: " +
		"a file appears under its name only when complete. Passwords come from the config's named credentials.",
	Funcs: []runtime.Func{{
		Name: "open",
		Args: []runtime.Arg{
			{Name: "url", Type: "string", Doc: "a granted URL such as sftp://backup@nas/backups"},
			{Name: "options", Type: "table", Optional: true, Doc: "credentials and the scheme's own options (docs/transports.md)", Options: []runtime.Option{
				{Name: "credentials", Type: "string", Doc: "named credentials from the config"},
				{Name: "*", Type: "string|number|boolean", Doc: "an option of the URL's scheme (docs/transports.md)"},
			}},
		},
		Returns: "Transport",
		Doc:     "Opens a transport. Fails with not_granted when the operator did not grant the URL.",
		Fn:      open,
	}},
	Types: []*runtime.Type{Type},
}

// schemeList names the registered schemes with their aliases, "sftp/scp",
// for the module's summary: the docs list what the registry holds.
func schemeList() string {
	var names []string
	for _, s := range transports.Schemes() {
		names = append(names, strings.Join(append([]string{s.Name}, s.Aliases...), "/"))
	}
	return strings.Join(names, ", ")
}

// Type is the Lua type of a transport handle.
var Type = &runtime.Type{
	Name:    "Transport",
	Summary: "An open backup target.",
	Fields: []runtime.Field{
		{Name: "url", Type: "string", Doc: "the URL the handle was opened with (no secrets)"},
	},
	Get: func(r *runtime.Run, L *lua.LState, obj any, key string) lua.LValue {
		if key == "url" {
			return lua.LString(obj.(*Handle).URL)
		}
		return nil
	},
	String: func(obj any) string { return "Transport(" + obj.(*Handle).URL + ")" },
}

func init() {
	p := func(doc string) runtime.Arg { return runtime.Arg{Name: "path", Type: "string", Doc: doc} }
	Type.Methods = []runtime.Func{
		{Name: "stat", Args: []runtime.Arg{p("file or directory")}, Returns: "table|nil",
			Doc: "Returns {name=, size=, mtime=, dir=} for a path, or nil when it does not exist.", Fn: stat},
		{Name: "list", Args: []runtime.Arg{{Name: "path", Type: "string", Optional: true, Doc: "directory (default the root)"}}, Returns: "table",
			Doc: "Lists a directory: a list of {name=, size=, mtime=, dir=}, sorted by name.", Fn: list},
		{Name: "mkdir", Args: []runtime.Arg{p("directory to create, with its parents")},
			Doc: "Creates a directory and its parents; an existing one is fine.", Fn: mkdir},
		{Name: "rename", Args: []runtime.Arg{{Name: "from", Type: "string", Doc: "existing path"}, {Name: "to", Type: "string", Doc: "new path (replaced if it is a file)"}},
			Doc: "Renames a file or directory, replacing a file at the new name.", Fn: rename},
		{Name: "remove", Args: []runtime.Arg{p("file or empty directory")},
			Doc: "Removes a file or an empty directory.", Fn: remove},
		{Name: "write", Args: []runtime.Arg{p("file to write"), {Name: "data", Type: "string", Doc: "the content (at most 16 MiB)"}}, Returns: "table",
			Doc: "Writes a small file atomically and returns {bytes=, sha256=}.", Fn: write},
		{Name: "read", Args: []runtime.Arg{p("file to read")}, Returns: "string",
			Doc: "Reads a small file (at most 16 MiB) and returns its content.", Fn: read},
		{Name: "close", Doc: "Closes the handle; it is closed at the end of the run anyway.", Fn: closeHandle},
	}
}

// handles are the transports a run opened, closed when it ends.
type handles struct {
	mu   sync.Mutex
	list []*Handle
}

func (h *handles) Close(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, x := range h.list {
		errs = append(errs, x.T.Close())
	}
	h.list = nil
	return errors.Join(errs...)
}

// Open opens a granted URL for a run, with the named credentials (""
// for none), applying the run's dry-run and retry wrappers. Other modules
// use it for URL destinations.
func Open(r *runtime.Run, rawURL, credentials string, params map[string]string) (*Handle, error) {
	if transports.HasPassword(rawURL) {
		// The grant check's errors show a URL that does not parse as it
		// is, password and all: refuse that one first. A URL that parses
		// is judged by the grants first (a host hidden in the userinfo is
		// not_granted, its password shown as xxxxx), then refused here.
		if _, err := transports.Parse(rawURL); err != nil {
			return nil, passwordError(rawURL)
		}
	}
	// where the transport connects is judged with the URL, wherever the
	// script set it (s3's endpoint= in its options table)
	judged, err := transports.OriginURL(rawURL, params)
	if err != nil {
		return nil, &runtime.Error{Code: runtime.CodeInvalidArg, Message: err.Error(), Path: transports.Redact(rawURL)}
	}
	if err := r.Grants.Check(judged); err != nil {
		return nil, err
	}
	if transports.HasPassword(rawURL) {
		return nil, passwordError(rawURL)
	}
	var cred transports.Credentials
	if credentials != "" {
		c, err := r.Credential(credentials)
		if err != nil {
			return nil, err
		}
		cred = c
	}
	env := map[string]any{}
	if c, ok := vsphereKey.Get(r); ok && c != nil {
		env[transports.EnvVSphere] = c
	}
	own := params[transports.BwlimitOption.Name]
	if own == "" {
		if u, err := transports.Parse(rawURL); err == nil {
			own = u.Query().Get(transports.BwlimitOption.Name)
		}
	}
	bw, _ := bandwidthKey.Get(r)
	if own != "" && bw == nil {
		// a run not given a shared one: its own, for its targets' options
		bw = ownBandwidthKey.Init(r, func() *transports.Bandwidth {
			return transports.NewBandwidth(bwlimit.Schedule{}, bwlimit.Schedule{}, nil)
		})
	}
	t, err := transports.Open(r.Context(), rawURL, transports.Options{Credentials: cred, Params: params, Env: env})
	if err != nil {
		return nil, mapErr(err, transports.Redact(rawURL))
	}
	t = transports.Retry(t, transports.RetryOptions{Logger: r.Log})
	if bw != nil {
		lt, err := bw.Wrap(t, targetKey(rawURL), own)
		if err != nil {
			t.Close()
			return nil, &runtime.Error{Code: runtime.CodeInvalidArg, Message: err.Error(), Path: transports.Redact(rawURL), Err: err}
		}
		t = lt
	}
	if lim, ok := limitsKey.Get(r); ok && lim != nil {
		t = lim.Wrap(t, targetKey(rawURL))
	}
	if r.DryRun {
		t = transports.DryRun(t, r.Log)
	}
	h := &Handle{T: t, URL: transports.Redact(rawURL)}
	hs := handlesKey.Init(r, func() *handles { return &handles{} })
	hs.mu.Lock()
	hs.list = append(hs.list, h)
	hs.mu.Unlock()
	return h, nil
}

// passwordError is invalid_argument for a URL that carries a password:
// what to do instead, the password shown as xxxxx.
func passwordError(rawURL string) error {
	err := transports.PasswordError(rawURL)
	return &runtime.Error{Code: runtime.CodeInvalidArg, Message: err.Error(), Err: err}
}

// handlesKey holds the run's *handles; vsphereKey the vSphere client
// SetVSphereClient gave.
var (
	handlesKey = runtime.NewKey[*handles]("transport.handles")
	vsphereKey = runtime.NewKey[*vim25.Client]("transport.vsphere")
)

// SetVSphereClient makes c the client of the vmfs:// transports the run
// opens from now on (the vm module gives its default connection's).
func SetVSphereClient(r *runtime.Run, c *vim25.Client) { vsphereKey.Set(r, c) }

// limitsKey holds the fleet's per-target limits in runtime.Options.
var limitsKey = runtime.NewSharedKey[*transports.TargetLimits]("transport.limits")

// ShareTargetLimits makes the runs made from o share lim, which caps
// concurrent operations per target across the runs of a fleet
// (--per-target).
func ShareTargetLimits(o *runtime.Options, lim *transports.TargetLimits) { limitsKey.Set(o, lim) }

// bandwidthKey holds the run's bandwidth limits (--bwlimit,
// --bwlimit-target, and the targets' bwlimit options), shared by the runs
// of a fleet.
var (
	bandwidthKey    = runtime.NewSharedKey[*transports.Bandwidth]("transport.bandwidth")
	ownBandwidthKey = runtime.NewKey[*transports.Bandwidth]("transport.own_bandwidth")
)

// ShareBandwidth makes the runs made from o share bw: every stream to one
// target takes from that target's token buckets, and every stream of the
// runs from the run-wide ones.
func ShareBandwidth(o *runtime.Options, bw *transports.Bandwidth) { bandwidthKey.Set(o, bw) }

// targetKey names the target of a URL for per-target limits: scheme (an
// alias counts as its scheme) and host, so that two folders on one NAS
// count together.
func targetKey(rawURL string) string {
	u, err := transports.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	scheme := strings.ToLower(u.Scheme)
	if s, ok := transports.Lookup(scheme); ok {
		scheme = s.Name
	}
	return scheme + "://" + strings.ToLower(u.Host)
}

// Dest returns argument n as a destination: a Transport handle, or a URL
// string that is opened (granted URLs only) with the run's credentials
// option credentials.
func Dest(r *runtime.Run, L *lua.LState, n int, credentials string) (*Handle, error) {
	switch v := L.Get(n).(type) {
	case lua.LString:
		return Open(r, string(v), credentials, nil)
	case *lua.LUserData:
		if h, ok := runtime.IsObject(L, v, Type); ok {
			return h.(*Handle), nil
		}
	}
	L.ArgError(n, "a Transport (transport.open) or a URL string expected")
	return nil, nil
}

// mapErr turns transport errors into runtime errors with codes.
func mapErr(err error, p string) error {
	if err == nil {
		return nil
	}
	var re *runtime.Error
	if errors.As(err, &re) {
		return re
	}
	code := runtime.CodeTransport
	switch {
	case errors.Is(err, fs.ErrNotExist):
		code = runtime.CodeNotFound
	case errors.Is(err, transports.ErrAuth):
		code = runtime.CodeAuth
	case errors.Is(err, transports.ErrOutsideRoot), errors.Is(err, transports.ErrUnknownScheme),
		errors.Is(err, transports.ErrPasswordInURL), errors.Is(err, transports.ErrInvalidName),
		errors.Is(err, transports.ErrNotRegular):
		code = runtime.CodeInvalidArg
	case errors.Is(err, context.Canceled):
		code = runtime.CodeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		code = runtime.CodeTimeout
	}
	return &runtime.Error{Code: code, Message: err.Error(), Path: p, Err: err}
}

func open(r *runtime.Run, L *lua.LState) int {
	rawURL := L.CheckString(1)
	var cred string
	params := map[string]string{}
	if opts, ok := L.Get(2).(*lua.LTable); ok {
		opts.ForEach(func(k, v lua.LValue) {
			if k.String() == "credentials" {
				cred = v.String()
			} else {
				params[k.String()] = v.String()
			}
		})
	}
	h, err := Open(r, rawURL, cred, params)
	if err != nil {
		return r.Raise(L, err)
	}
	L.Push(r.NewObject(L, Type, h))
	return 1
}

func self(r *runtime.Run, L *lua.LState) *Handle { return r.CheckObject(L, 1, Type).(*Handle) }

func where(h *Handle, p string) string {
	return strings.TrimSuffix(h.URL, "/") + "/" + strings.TrimPrefix(p, "/")
}

func infoTable(L *lua.LState, fi transports.FileInfo) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("name", lua.LString(fi.Name))
	t.RawSetString("size", lua.LNumber(fi.Size))
	if !fi.ModTime.IsZero() {
		t.RawSetString("mtime", lua.LNumber(fi.ModTime.Unix()))
	}
	t.RawSetString("dir", lua.LBool(fi.IsDir))
	return t
}

func stat(r *runtime.Run, L *lua.LState) int {
	h := self(r, L)
	p := L.CheckString(2)
	fi, err := h.T.Stat(r.Context(), p)
	if errors.Is(err, fs.ErrNotExist) {
		L.Push(lua.LNil)
		return 1
	}
	if err != nil {
		return r.Raise(L, mapErr(err, where(h, p)))
	}
	if fi.Name == "" {
		fi.Name = path.Base(p)
	}
	L.Push(infoTable(L, fi))
	return 1
}

func list(r *runtime.Run, L *lua.LState) int {
	h := self(r, L)
	p := L.OptString(2, "")
	fis, err := h.T.List(r.Context(), p)
	if err != nil {
		return r.Raise(L, mapErr(err, where(h, p)))
	}
	sortInfos(fis)
	t := L.NewTable()
	for _, fi := range fis {
		t.Append(infoTable(L, fi))
	}
	L.Push(t)
	return 1
}

func sortInfos(fis []transports.FileInfo) {
	for i := 1; i < len(fis); i++ {
		for j := i; j > 0 && fis[j].Name < fis[j-1].Name; j-- {
			fis[j], fis[j-1] = fis[j-1], fis[j]
		}
	}
}

func mkdir(r *runtime.Run, L *lua.LState) int {
	h := self(r, L)
	p := L.CheckString(2)
	if err := h.T.MkdirAll(r.Context(), p); err != nil {
		return r.Raise(L, mapErr(err, where(h, p)))
	}
	return 0
}

func rename(r *runtime.Run, L *lua.LState) int {
	h := self(r, L)
	from, to := L.CheckString(2), L.CheckString(3)
	if err := h.T.Rename(r.Context(), from, to); err != nil {
		return r.Raise(L, mapErr(err, where(h, from)))
	}
	return 0
}

func remove(r *runtime.Run, L *lua.LState) int {
	h := self(r, L)
	p := L.CheckString(2)
	if err := h.T.Remove(r.Context(), p); err != nil {
		return r.Raise(L, mapErr(err, where(h, p)))
	}
	return 0
}

func write(r *runtime.Run, L *lua.LState) int {
	h := self(r, L)
	p := L.CheckString(2)
	data := L.CheckString(3)
	if len(data) > MaxSmallFile {
		return r.RaiseCode(L, runtime.CodeInvalidArg, "t:write of %d bytes: small files only (at most %d); big data goes through v:export or v:backup", len(data), MaxSmallFile)
	}
	res, err := transports.Upload(r.Context(), h.T, p, strings.NewReader(data), transports.UploadOptions{ExpectedSize: int64(len(data))})
	if err != nil {
		return r.Raise(L, mapErr(err, where(h, p)))
	}
	t := L.NewTable()
	t.RawSetString("bytes", lua.LNumber(res.Bytes))
	t.RawSetString("sha256", lua.LString(res.SHA256))
	L.Push(t)
	return 1
}

func read(r *runtime.Run, L *lua.LState) int {
	h := self(r, L)
	p := L.CheckString(2)
	rc, err := h.T.Open(r.Context(), p, 0)
	if err != nil {
		return r.Raise(L, mapErr(err, where(h, p)))
	}
	defer rc.Close()
	b, err := capread.ReadAll(rc, MaxSmallFile)
	if errors.Is(err, capread.ErrTooLarge) {
		return r.RaiseCode(L, runtime.CodeInvalidArg, "t:read of %s: the file is larger than %d bytes; small files only", where(h, p), MaxSmallFile)
	}
	if err != nil {
		return r.Raise(L, mapErr(err, where(h, p)))
	}
	L.Push(lua.LString(b))
	return 1
}

func closeHandle(r *runtime.Run, L *lua.LState) int {
	h := self(r, L)
	if err := h.T.Close(); err != nil {
		return r.Raise(L, mapErr(err, h.URL))
	}
	return 0
}
