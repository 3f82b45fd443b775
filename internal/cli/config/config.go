package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/vmlua/vmlua/internal/thumbprint"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// Config is the parsed config file.
type Config struct {
	Path string `toml:"-"` // where it was read from; "" when none was found

	// DefaultVSphere names the profile runs use unless told otherwise.
	DefaultVSphere string                `toml:"default_vsphere"`
	VSphere        map[string]VSphere    `toml:"vsphere"`
	Credentials    map[string]Credential `toml:"credentials"`
	Grants         Grants                `toml:"grants"`
	Limits         Limits                `toml:"limits"`
	Notify         Notify                `toml:"notify"`
	Encryption     Encryption            `toml:"encryption"`
	// Lib is the site's script library directory (as --lib).
	Lib string `toml:"lib"`
}

// VSphere is one vCenter/ESXi profile.
type VSphere struct {
	URL          string `toml:"url"`
	Username     string `toml:"username"`
	Password     string `toml:"password"`
	PasswordEnv  string `toml:"password_env"`
	PasswordFile string `toml:"password_file"`
	Thumbprint   string `toml:"thumbprint"`
	Insecure     bool   `toml:"insecure"`
	// HostThumbprints pins ESXi hosts' certificates by host name, for
	// disk bytes read from (and restored to) the hosts directly.
	HostThumbprints map[string]string `toml:"host_thumbprints"`
	// HostRequests is the datastore requests in flight per host (0: 4).
	HostRequests int `toml:"host_requests"`
	// ThroughVCenter sends disk bytes through vCenter, not the hosts.
	ThroughVCenter bool `toml:"through_vcenter"`
}

// Credential is a named set of transport credentials.
type Credential struct {
	User           string `toml:"user"`
	Password       string `toml:"password"`
	PasswordEnv    string `toml:"password_env"`
	PasswordFile   string `toml:"password_file"`
	Domain         string `toml:"domain"`
	KeyFile        string `toml:"key_file"`
	KnownHosts     string `toml:"known_hosts"`
	HostKey        string `toml:"host_key"`
	AllowPlaintext bool   `toml:"allow_plaintext"`
	InsecureTLS    bool   `toml:"insecure_tls"`
}

// Grants lists the URL prefixes runs may reach.
type Grants struct {
	Allow []string `toml:"allow"`
}

// Limits are defaults for run limits.
type Limits struct {
	Timeout Duration `toml:"timeout"`
	// Bwlimit and BwlimitTarget are --bwlimit and --bwlimit-target (rclone's
	// form: "10M", "08:00,512K 23:00,off"); Window is --window ("22:00-06:00").
	Bwlimit       string `toml:"bwlimit"`
	BwlimitTarget string `toml:"bwlimit_target"`
	Window        string `toml:"window"`
}

// Duration is a time.Duration written as "4h30m" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %w (write e.g. \"4h\" or \"90m\")", string(b), err)
	}
	d.Duration = v
	return nil
}

// DefaultPaths are searched in order when no --config is given (after
// $VMLUA_CONFIG).
func DefaultPaths() []string {
	var out []string
	out = append(out, "vmlua.toml")
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" {
		out = append(out, filepath.Join(x, "vmlua", "config.toml"))
	} else if h, err := os.UserHomeDir(); err == nil {
		out = append(out, filepath.Join(h, ".config", "vmlua", "config.toml"))
	}
	return append(out, "/etc/vmlua/config.toml")
}

// ErrUnsafePermissions is returned for a config file (or password file)
// that holds a password and is readable by group or others.
var ErrUnsafePermissions = errors.New("readable by group or others")

// Load reads the config from path, or when path is "" from $VMLUA_CONFIG or
// the first of DefaultPaths that exists. No file at all is not an error: the
// result is an empty config (environment variables and flags still apply).
func Load(path string) (*Config, error) {
	explicit := path != ""
	if !explicit {
		path = os.Getenv("VMLUA_CONFIG")
		explicit = path != ""
	}
	if !explicit {
		for _, p := range DefaultPaths() {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
	}
	c := &Config{VSphere: map[string]VSphere{}, Credentials: map[string]Credential{}}
	if path == "" {
		return c, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	md, err := toml.Decode(string(b), c)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		var keys []string
		for _, k := range und {
			keys = append(keys, k.String())
		}
		return nil, fmt.Errorf("config file %s: unknown keys %s (see docs/config.md)", path, strings.Join(keys, ", "))
	}
	c.Path = path
	if c.VSphere == nil {
		c.VSphere = map[string]VSphere{}
	}
	if c.Credentials == nil {
		c.Credentials = map[string]Credential{}
	}
	if c.holdsPassword() {
		if err := checkPrivate(path); err != nil {
			return nil, fmt.Errorf("config file %s holds a password and is %w: run 'chmod 600 %s', or move the password to password_env/password_file", path, err, path)
		}
	}
	return c, nil
}

func (c *Config) holdsPassword() bool {
	for _, v := range c.VSphere {
		if v.Password != "" {
			return true
		}
	}
	for _, v := range c.Credentials {
		if v.Password != "" {
			return true
		}
	}
	return c.Notify.holdsSecret()
}

func checkPrivate(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%w (mode %04o)", ErrUnsafePermissions, st.Mode().Perm())
	}
	return nil
}

// secret resolves a password given inline, by environment variable or by
// file. what names it for messages.
func secret(what, inline, env, file string) (string, error) {
	n := 0
	for _, s := range []string{inline, env, file} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return "", fmt.Errorf("%s: give only one of password, password_env, password_file", what)
	}
	switch {
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("%s: password_env names %s, which is not set", what, env)
		}
		return v, nil
	case file != "":
		if err := checkPrivate(file); err != nil {
			return "", fmt.Errorf("%s: password_file %s is %w: run 'chmod 600 %s'", what, file, err, file)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s: password_file: %w", what, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return inline, nil
}

// Overrides are what flags give on top of the file and the environment.
type Overrides struct {
	URL        string // --url; may carry user:password like govc's
	Profile    string // --profile
	Insecure   bool   // --insecure
	Thumbprint string // --thumbprint
}

// Endpoints resolves the vSphere profiles, applying the environment
// (VMLUA_*) and flags to the default profile. It returns the profiles and
// the name of the default one ("" when none is configured at all).
func (c *Config) Endpoints(o Overrides, getenv func(string) string) (map[string]runtime.Endpoint, string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	out := map[string]runtime.Endpoint{}
	for name, v := range c.VSphere {
		pw, err := secret("[vsphere."+name+"]", v.Password, v.PasswordEnv, v.PasswordFile)
		if err != nil {
			return nil, "", err
		}
		if err := checkThumbprint("thumbprint of [vsphere."+name+"]", v.Thumbprint); err != nil {
			return nil, "", err
		}
		for host, tp := range v.HostThumbprints {
			if err := checkThumbprint(fmt.Sprintf("host_thumbprints.%q of [vsphere.%s]", host, name), tp); err != nil {
				return nil, "", err
			}
		}
		if v.HostRequests < 0 {
			return nil, "", fmt.Errorf("host_requests of [vsphere.%s] is %d: give the datastore requests in flight per host, 1 or more (default 4)", name, v.HostRequests)
		}
		out[name] = runtime.Endpoint{Name: name, URL: v.URL, Username: v.Username, Password: pw, Thumbprint: v.Thumbprint, Insecure: v.Insecure,
			HostThumbprints: v.HostThumbprints, HostRequests: v.HostRequests, ThroughVCenter: v.ThroughVCenter}
	}
	if o.Profile != "" {
		if _, ok := out[o.Profile]; !ok {
			// An explicit --profile is never ignored: not even when
			// VMLUA_URL or --url could stand in for it (the run would
			// connect to the environment's vCenter instead).
			return nil, "", c.unknownProfile(o.Profile, out)
		}
	}
	def := o.Profile
	if def == "" {
		def = c.DefaultVSphere
	}
	if def == "" && len(out) == 1 {
		for n := range out {
			def = n
		}
	}
	if def != "" {
		if _, ok := out[def]; !ok && o.URL == "" && getenv("VMLUA_URL") == "" {
			return nil, "", fmt.Errorf("vSphere profile %q is not in the config file (profiles: %s)", def, strings.Join(names(out), ", "))
		}
	}
	rawURL := o.URL
	if rawURL == "" {
		rawURL = getenv("VMLUA_URL")
	}
	if rawURL == "" && def == "" {
		if getenv("VMLUA_USERNAME") != "" || getenv("VMLUA_PASSWORD") != "" {
			return nil, "", errors.New("VMLUA_USERNAME/VMLUA_PASSWORD are set but no URL: set VMLUA_URL or --url")
		}
		return out, "", nil
	}
	if def == "" {
		def = "default"
	}
	e := out[def]
	e.Name = def
	if rawURL != "" {
		u, err := parseSDKURL(rawURL)
		if err != nil {
			return nil, "", err
		}
		if u.User != nil {
			e.Username = u.User.Username()
			if p, ok := u.User.Password(); ok {
				e.Password = p
			}
			u.User = nil
		}
		e.URL = u.String()
	}
	if v := getenv("VMLUA_USERNAME"); v != "" {
		e.Username = v
	}
	if v := getenv("VMLUA_PASSWORD"); v != "" {
		e.Password = v
	}
	if v := getenv("VMLUA_THUMBPRINT"); v != "" {
		if err := checkThumbprint("VMLUA_THUMBPRINT", v); err != nil {
			return nil, "", err
		}
		e.Thumbprint = v
	}
	if v := getenv("VMLUA_INSECURE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, "", fmt.Errorf("VMLUA_INSECURE=%q: want true or false", v)
		}
		e.Insecure = b
	}
	if o.Insecure {
		e.Insecure = true
	}
	if o.Thumbprint != "" {
		if err := checkThumbprint("--thumbprint", o.Thumbprint); err != nil {
			return nil, "", err
		}
		e.Thumbprint = o.Thumbprint
	}
	out[def] = e
	return out, def, nil
}

// checkThumbprint refuses a pin that is no fingerprint, naming where it
// was set; the connection reads the same forms (internal/thumbprint).
func checkThumbprint(where, v string) error {
	if v == "" {
		return nil
	}
	if _, err := thumbprint.Parse(v); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	return nil
}

// parseSDKURL accepts "host", "host:port", "https://host" and full SDK URLs
// (govc's forms), and returns https://host[:port]/sdk.
func parseSDKURL(raw string) (*url.URL, error) {
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("vSphere URL: %v", redactErr(err))
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("vSphere URL %s: scheme must be https", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("vSphere URL %s has no host", u.Redacted())
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/sdk"
	}
	return u, nil
}

// redactErr drops the URL (which may hold a password) from url.Parse errors.
func redactErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return "unparsable"
}

// TransportCredentials resolves the named credentials.
func (c *Config) TransportCredentials() (map[string]transports.Credentials, error) {
	out := map[string]transports.Credentials{}
	for name, v := range c.Credentials {
		pw, err := secret("[credentials."+name+"]", v.Password, v.PasswordEnv, v.PasswordFile)
		if err != nil {
			return nil, err
		}
		out[name] = transports.Credentials{
			Name: name, User: v.User, Password: pw, Domain: v.Domain, KeyFile: v.KeyFile,
			KnownHosts: v.KnownHosts, HostKey: v.HostKey, AllowPlaintext: v.AllowPlaintext, InsecureTLS: v.InsecureTLS,
		}
	}
	return out, nil
}

// unknownProfile is the error for a --profile the config file lacks,
// naming the file, the profiles it has and the closest of them.
func (c *Config) unknownProfile(name string, have map[string]runtime.Endpoint) error {
	where := "the config file " + c.Path
	if c.Path == "" {
		where = "a config file (none was found: give --config, or see docs/config.md)"
	}
	msg := fmt.Sprintf("--profile %s: there is no [vsphere.%s] in %s", name, name, where)
	switch ns := names(have); {
	case len(ns) == 0:
		msg += "; it has no vSphere profile"
	default:
		if best := runtime.Closest(name, ns); best != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", best)
		}
		msg += "; its profiles: " + strings.Join(ns, ", ")
	}
	return errors.New(msg + "; nothing was connected (an unknown profile is never replaced by --url or VMLUA_URL)")
}

func names(m map[string]runtime.Endpoint) []string {
	var out []string
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
