package transports

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/vmlua/vmlua/internal/bwlimit"
)

// Credentials are what the operator's config gives a transport by name.
// A script never sees them.
type Credentials struct {
	Name     string // the config's name for them, for messages
	User     string
	Password string
	Domain   string // SMB
	KeyFile  string // SSH private key
	// KnownHosts is an OpenSSH known_hosts file; HostKey a pinned
	// fingerprint ("SHA256:..."). SSH transports need one of them.
	KnownHosts string
	HostKey    string
	// AllowPlaintext permits protocols that send the password in clear
	// (plain FTP). Off unless the operator says so.
	AllowPlaintext bool
	// InsecureTLS skips certificate verification (FTPS).
	InsecureTLS bool
}

// Options are given to a scheme's Open.
type Options struct {
	Credentials Credentials
	// Params are scheme-specific settings from the config or the URL query.
	Params map[string]string
	// Env carries objects some schemes need from the run, such as the
	// vSphere client for vmfs:// (under EnvVSphere), keyed by name.
	Env map[string]any
}

// EnvVSphere is the Options.Env key of the run's *vim25.Client.
const EnvVSphere = "vsphere"

// Option documents one setting a scheme accepts in Options.Params.
type Option struct {
	Name    string
	Default string
	Help    string
	// Origin marks an option that says where the transport connects or
	// whose credentials it takes (s3's endpoint= and profile=): the grant
	// covers it like a host, so a script can set it only to what the
	// operator granted (OriginURL moves it into the URL the grant judges).
	Origin bool
}

// OriginURL returns rawURL with the scheme's Origin options that params
// sets moved into its query, so that a grant check of the result judges
// where the transport will connect. An option set both ways must agree.
func OriginURL(rawURL string, params map[string]string) (string, error) {
	s := schemeOf(rawURL)
	if s == nil || len(params) == 0 {
		return rawURL, nil
	}
	u, err := Parse(rawURL)
	if err != nil {
		return rawURL, nil // the grant check says what is wrong with it
	}
	q := u.Query()
	moved := false
	for _, o := range s.Options {
		v, ok := params[o.Name]
		if !o.Origin || !ok {
			continue
		}
		if have := q.Get(o.Name); have != "" && have != v {
			return "", fmt.Errorf("%s= is given twice, as %q in the URL and as %q in the options: give it once", o.Name, have, v)
		}
		q.Set(o.Name, v)
		moved = true
	}
	if !moved {
		return rawURL, nil
	}
	u.RawQuery = q.Encode()
	if s.FormatURL != nil {
		return s.FormatURL(u), nil
	}
	return u.String(), nil
}

// OriginOf returns the values of the scheme's Origin options in u's query,
// as sorted "name=value" pairs joined by "&" ("" when none is set): what a
// grant compares besides the host.
func OriginOf(scheme string, u *url.URL) string {
	s, ok := Lookup(scheme)
	if !ok {
		return ""
	}
	q := u.Query()
	var out []string
	for _, o := range s.Options {
		if v := q.Get(o.Name); o.Origin && v != "" {
			out = append(out, o.Name+"="+strings.TrimRight(strings.ToLower(v), "/"))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "&")
}

// Scheme is a transport's registration: its URL scheme(s), its
// self-description (the docs are generated from it) and its constructor.
type Scheme struct {
	Name    string   // "sftp"
	Aliases []string // "scp"
	// DefaultPort is the port a URL without one reaches ("22"); "" for
	// schemes without ports (file, vmfs). Grants compare URLs with it.
	DefaultPort string
	URLForm     string // "sftp://user@host[:port]/path"
	Help        string // one paragraph for docs/transports.md
	// Exclusive says how the transport creates a file only where none
	// exists (ExclusiveCreator: the backup lock) and what its protocol
	// guarantees about it, for docs/transports.md.
	Exclusive string
	Options   []Option
	// Notes, when set, is Markdown prose for docs/transports.md after the
	// options table: how to set a target of this kind up.
	Notes string
	Open  func(ctx context.Context, u *url.URL, opts Options) (Transport, error)
	// ParseURL, when set, parses the scheme's URLs instead of url.Parse
	// (for forms url.Parse refuses, such as vmfs://[datastore] path).
	ParseURL func(raw string) (*url.URL, error)
	// FormatURL, when set, writes a URL of the scheme back as a string
	// that ParseURL reads (url.URL.String escapes what a host may not
	// hold, which url.Parse then refuses). Redact uses it.
	FormatURL func(u *url.URL) string
}

// Lookup returns the scheme registered under name, a primary name or an
// alias in any case ("SCP" finds sftp).
func Lookup(name string) (Scheme, bool) {
	mu.RLock()
	defer mu.RUnlock()
	s := schemes[strings.ToLower(name)]
	if s == nil {
		return Scheme{}, false
	}
	return *s, true
}

var (
	mu      sync.RWMutex
	schemes = map[string]*Scheme{}
)

// Register makes a scheme available to Open. It is called from the init
// function of each transport package; a second registration of a name
// panics, as that is a programming error.
func Register(s Scheme) {
	mu.Lock()
	defer mu.Unlock()
	for _, n := range append([]string{s.Name}, s.Aliases...) {
		if _, dup := schemes[n]; dup {
			panic("transports: scheme registered twice: " + n)
		}
		sc := s
		schemes[n] = &sc
	}
}

// Schemes lists the registered schemes (primary names only), sorted.
func Schemes() []Scheme {
	mu.RLock()
	defer mu.RUnlock()
	var out []Scheme
	for n, s := range schemes {
		if n == s.Name {
			out = append(out, *s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ErrUnknownScheme is returned by Open for a URL whose scheme no transport
// registered.
var ErrUnknownScheme = errors.New("unknown transport scheme")

// Open parses rawURL and opens it with the transport registered for its
// scheme. A URL that carries a password is refused (PasswordError,
// ErrPasswordInURL): passwords come from named credentials in the config.
func Open(ctx context.Context, rawURL string, opts Options) (Transport, error) {
	if HasPassword(rawURL) {
		return nil, PasswordError(rawURL)
	}
	u, err := Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("transport URL %q: %w", Redact(rawURL), err)
	}
	mu.RLock()
	s := schemes[strings.ToLower(u.Scheme)]
	mu.RUnlock()
	if s == nil {
		return nil, fmt.Errorf("transport URL %s: %w %q (known: %s)", Redact(rawURL), ErrUnknownScheme, u.Scheme, strings.Join(schemeNames(), ", "))
	}
	// bwlimit is every scheme's option (throttle.go), read above the
	// transport; a value that does not parse is refused here, before
	// anything connects
	if v := u.Query().Get(BwlimitOption.Name); v != "" {
		if _, err := bwlimit.Parse(v); err != nil {
			return nil, fmt.Errorf("transport URL %s: option %s: %w", Redact(rawURL), BwlimitOption.Name, err)
		}
	}
	return s.Open(ctx, u, opts)
}

// HasPassword reports whether rawURL carries a password in its userinfo
// ("scheme://user:password@host/..."), read from the string itself, so a
// URL that does not parse is recognised too.
func HasPassword(rawURL string) bool {
	_, authority, ok := strings.Cut(rawURL, "://")
	if !ok {
		return false
	}
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	at := strings.LastIndex(authority, "@")
	return at >= 0 && strings.Contains(authority[:at], ":")
}

// PasswordError is the error for a URL that carries a password: it says
// what to do instead and shows the URL without the password. It wraps
// ErrPasswordInURL.
func PasswordError(rawURL string) error {
	return fmt.Errorf("transport URL %s: %w; passwords never go into a URL a script holds: "+
		"put it in a named credential in the config file ([credentials.NAME] with user and password) and open the URL without it, with credentials=NAME",
		redactUserinfo(rawURL), ErrPasswordInURL)
}

// redactUserinfo writes rawURL with the password in its userinfo replaced
// by "xxxxx", by the string's structure (it need not parse).
func redactUserinfo(rawURL string) string {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return "(unparsable URL)"
	}
	end := len(rest)
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		end = i
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return rawURL
	}
	user, _, _ := strings.Cut(rest[:at], ":")
	return scheme + "://" + user + ":xxxxx" + rest[at:]
}

// Parse parses rawURL with its scheme's own parser when it has one
// (vmfs://[datastore] path), else with url.Parse.
//
// A URL that does not parse gives an error without the URL's text (net/url
// quotes the whole URL, password included): the caller quotes it redacted.
func Parse(rawURL string) (*url.URL, error) {
	var u *url.URL
	var err error
	if s := schemeOf(rawURL); s != nil && s.ParseURL != nil {
		u, err = s.ParseURL(rawURL)
	} else {
		u, err = url.Parse(rawURL)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return nil, ue.Err
	}
	return u, err
}

// schemeOf is the registered scheme rawURL names before "://", or nil.
func schemeOf(rawURL string) *Scheme {
	name, _, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil
	}
	mu.RLock()
	defer mu.RUnlock()
	return schemes[strings.ToLower(name)]
}

func schemeNames() []string {
	mu.RLock()
	defer mu.RUnlock()
	var out []string
	for n := range schemes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Redact returns rawURL with any password replaced by "xxxxx", for
// messages, written the way its scheme writes URLs.
func Redact(rawURL string) string {
	u, err := Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	if s := schemeOf(rawURL); s != nil && s.FormatURL != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		return s.FormatURL(u)
	}
	return u.Redacted()
}

// Param returns a scheme option: from the run's options (the config or the
// script's table) when given there, else from the URL's query.
func (o Options) Param(u *url.URL, name string) string {
	if v, ok := o.Params[name]; ok {
		return v
	}
	return u.Query().Get(name)
}

// CreateOption documents the create option every scheme takes: whether
// opening a URL makes its folder when it does not exist.
var CreateOption = Option{Name: "create", Default: "true", Help: "create the URL's folder (and its parents) when it does not exist; false refuses a missing folder"}

// Create reads the create option (CreateOption) for u: true unless the
// run's options or the URL's query say otherwise.
func (o Options) Create(u *url.URL) (bool, error) {
	v := o.Param(u, "create")
	if v == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("create=%q: want true or false", v)
	}
	return b, nil
}

// MissingFolder is the error for a URL's folder that does not exist when
// create=false forbids making it; it wraps fs.ErrNotExist.
func MissingFolder(where string) error {
	return fmt.Errorf("the folder %s does not exist, and create=false says not to make it: check the path (and that the share, export or mount it is on is there), or drop create=false: %w", where, fs.ErrNotExist)
}
