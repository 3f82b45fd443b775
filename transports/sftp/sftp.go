package sftp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/vmlua/vmlua/transports"
)

// defaultPort is SSH's.
const defaultPort = "22"

func init() {
	transports.Register(transports.Scheme{
		Name:        "sftp",
		Aliases:     []string{"scp"},
		DefaultPort: defaultPort,
		URLForm:     "sftp://user@host[:port]/path (also scp://user@host[:port]/path and scp://user@host:/path)",
		Help: "Files on an SSH server through its SFTP subsystem. " +
			"Log in with the credential's key_file, an ssh-agent or the password; " +
			"the host key must match the credential's known_hosts file or pinned host_key (\"SHA256:...\"). " +
			"The path is absolute; sftp://host/~/dir is relative to the login directory. " +
			"Uploads keep many writes in flight; renames replace atomically (posix-rename).",
		Exclusive: "SSH_FXP_RENAME: the lock's content is written under a temporary name, then renamed onto its name with SFTP's plain rename, " +
			"which the protocol defines as failing when the name exists and OpenSSH's sftp-server makes atomic with link(2) and unlink(2) " +
			"(not SSH_FXF_EXCL: a file created that way is empty until written). On a file system without hard links OpenSSH falls back to a stat and a rename, which is not atomic.",
		Options: []transports.Option{
			{Name: "concurrency", Default: "64", Help: "SFTP requests in flight per file"},
			{Name: "timeout", Default: "30s", Help: "dial and SSH handshake timeout"},
			transports.CreateOption,
			transports.BwlimitOption,
		},
		Open: open,
	})
}

// Transport is an SFTP session rooted at a directory of the server.
type Transport struct {
	url   string
	root  string // absolute directory on the server
	conc  int
	sshc  *ssh.Client
	c     *sftp.Client
	posix bool // posix-rename@openssh.com
	vfs   bool // statvfs@openssh.com

	closeOnce sync.Once
	closeErr  error
}

var (
	_ transports.Transport        = (*Transport)(nil)
	_ transports.ExclusiveCreator = (*Transport)(nil)
	_ transports.SpaceReporter    = (*Transport)(nil)
)

// Config is what Dial needs, for callers that do not go through a URL.
type Config struct {
	Addr        string // host:port
	Root        string // absolute, or "~/rel" / "" for the login directory
	Credentials transports.Credentials
	Concurrency int           // 0: 64
	Timeout     time.Duration // 0: 30s
	// NoCreate refuses a Root that does not exist (create=false) instead
	// of making it.
	NoCreate bool
}

func open(ctx context.Context, u *url.URL, opts transports.Options) (transports.Transport, error) {
	cfg, err := parseURL(u, opts)
	if err != nil {
		return nil, err
	}
	t, err := Dial(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s URL %s: %w", u.Scheme, transports.Redact(u.String()), err)
	}
	// The URL we report: as given, with the user, without query or secret.
	uu := *u
	uu.User = url.User(cfg.Credentials.User)
	uu.RawQuery = ""
	t.url = uu.String()
	return t, nil
}

// parseURL turns a sftp:// or scp:// URL and options into a Config.
func parseURL(u *url.URL, opts transports.Options) (Config, error) {
	red := transports.Redact(u.String())
	if u.Opaque != "" || u.Hostname() == "" {
		return Config{}, fmt.Errorf("%s URL %s: want %s://user@host[:port]/path", u.Scheme, red, u.Scheme)
	}
	cfg := Config{Credentials: opts.Credentials}
	if n := u.User.Username(); n != "" {
		cfg.Credentials.User = n
	}
	port := u.Port() // "" for host and for vcbMounter's "host:"
	if port == "" {
		port = defaultPort
	}
	cfg.Addr = net.JoinHostPort(u.Hostname(), port)
	switch p := u.Path; {
	case p == "" || p == "/~" || p == "/~/":
		cfg.Root = ""
	case strings.HasPrefix(p, "/~/"):
		cfg.Root = "~/" + strings.TrimPrefix(p, "/~/")
	default:
		cfg.Root = p
	}
	if v := opts.Param(u, "concurrency"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1024 {
			return Config{}, fmt.Errorf("%s URL %s: concurrency=%q: want a number from 1 to 1024", u.Scheme, red, v)
		}
		cfg.Concurrency = n
	}
	if v := opts.Param(u, "timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("%s URL %s: timeout=%q: want a duration such as 30s", u.Scheme, red, v)
		}
		cfg.Timeout = d
	}
	create, err := opts.Create(u)
	if err != nil {
		return Config{}, fmt.Errorf("%s URL %s: %w", u.Scheme, red, err)
	}
	cfg.NoCreate = !create
	return cfg, nil
}

// Dial connects, authenticates, checks the host key and starts the SFTP
// subsystem.
func Dial(ctx context.Context, cfg Config) (*Transport, error) {
	cr := cfg.Credentials
	if cr.User == "" {
		return nil, errors.New("no user: give one in the URL (user@host) or in the credential")
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 64
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	hk, algos, err := hostKeyCheck(cfg.Addr, cr)
	if err != nil {
		return nil, err
	}
	auths, closeAgent, err := authMethods(cr)
	if err != nil {
		return nil, err
	}
	defer closeAgent()

	var hkErr error // the host key check's own error, with its advice
	sc := &ssh.ClientConfig{
		User: cr.User,
		Auth: auths,
		HostKeyCallback: func(h string, r net.Addr, k ssh.PublicKey) error {
			hkErr = hk(h, r, k)
			return hkErr
		},
		HostKeyAlgorithms: algos,
		Timeout:           cfg.Timeout,
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cfg.Addr, err)
	}
	stop := context.AfterFunc(dctx, func() { conn.Close() })
	cc, chans, reqs, err := ssh.NewClientConn(conn, cfg.Addr, sc)
	if !stop() {
		if err == nil {
			cc.Close()
		}
		conn.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("ssh to %s: %w", cfg.Addr, ctx.Err())
		}
		return nil, fmt.Errorf("ssh to %s: no handshake within %v", cfg.Addr, cfg.Timeout)
	}
	if err != nil {
		conn.Close()
		switch {
		case hkErr != nil:
			return nil, hkErr
		case strings.Contains(err.Error(), "unable to authenticate"):
			return nil, fmt.Errorf("ssh to %s as %s: the server refused the login (%s): %w", cfg.Addr, cr.User, describeAuth(cr), transports.ErrAuth)
		}
		return nil, fmt.Errorf("ssh to %s: %w", cfg.Addr, err)
	}
	sshc := ssh.NewClient(cc, chans, reqs)
	c, err := sftp.NewClient(sshc,
		sftp.UseConcurrentWrites(true),
		sftp.UseConcurrentReads(true),
		sftp.MaxConcurrentRequestsPerFile(cfg.Concurrency),
	)
	if err != nil {
		sshc.Close()
		return nil, fmt.Errorf("sftp subsystem on %s (is \"Subsystem sftp\" enabled in sshd_config?): %w", cfg.Addr, err)
	}
	t := &Transport{sshc: sshc, c: c, conc: cfg.Concurrency}
	_, t.posix = c.HasExtension("posix-rename@openssh.com")
	_, t.vfs = c.HasExtension("statvfs@openssh.com")
	root := cfg.Root
	if root == "" || root == "~" || strings.HasPrefix(root, "~/") {
		home, err := c.Getwd()
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("sftp on %s: login directory: %w", cfg.Addr, err)
		}
		root = path.Join(home, strings.TrimPrefix(strings.TrimPrefix(root, "~"), "/"))
	}
	t.root = path.Clean(root)
	t.url = fmt.Sprintf("sftp://%s@%s%s", cr.User, cfg.Addr, t.root)
	fi, err := c.Stat(t.root)
	if errors.Is(err, fs.ErrNotExist) {
		if cfg.NoCreate {
			t.Close()
			return nil, fmt.Errorf("sftp on %s: %w", cfg.Addr, transports.MissingFolder(t.root))
		}
		if err := c.MkdirAll(t.root); err != nil {
			t.Close()
			return nil, t.wrap("make the folder", t.root, err)
		}
		fi, err = c.Stat(t.root)
	}
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("sftp on %s: the directory %s: %w", cfg.Addr, t.root, err)
	}
	if !fi.IsDir() {
		t.Close()
		return nil, fmt.Errorf("sftp on %s: %s is not a directory", cfg.Addr, t.root)
	}
	return t, nil
}

func describeAuth(cr transports.Credentials) string {
	var m []string
	if cr.KeyFile != "" {
		m = append(m, "key file "+cr.KeyFile)
	}
	if os.Getenv("SSH_AUTH_SOCK") != "" {
		m = append(m, "ssh-agent")
	}
	if cr.Password != "" {
		m = append(m, "password")
	}
	if cr.Name != "" {
		return "tried " + strings.Join(m, ", ") + " of credential " + strconv.Quote(cr.Name)
	}
	return "tried " + strings.Join(m, ", ")
}

// authMethods builds the login methods from the credential and the
// environment, in the order key file, agent, password.
func authMethods(cr transports.Credentials) ([]ssh.AuthMethod, func(), error) {
	var ms []ssh.AuthMethod
	var signers []ssh.Signer
	closeAgent := func() {}
	if cr.KeyFile != "" {
		b, err := os.ReadFile(cr.KeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("ssh key file: %w", err)
		}
		s, err := ssh.ParsePrivateKey(b)
		var pp *ssh.PassphraseMissingError
		if errors.As(err, &pp) {
			return nil, nil, fmt.Errorf("ssh key file %s is protected by a passphrase: load it into ssh-agent (ssh-add) and run with SSH_AUTH_SOCK set, or give an unencrypted key readable only by vmlua", cr.KeyFile)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("ssh key file %s: %w", cr.KeyFile, err)
		}
		signers = append(signers, s)
	}
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		if conn, err := net.Dial("unix", sock); err == nil {
			closeAgent = func() { conn.Close() }
			if as, err := agent.NewClient(conn).Signers(); err == nil {
				signers = append(signers, as...)
			}
		}
	}
	if len(signers) > 0 {
		ms = append(ms, ssh.PublicKeys(signers...))
	}
	if cr.Password != "" {
		ms = append(ms, ssh.Password(cr.Password))
		// Servers that only take keyboard-interactive: answer every
		// prompt with the password.
		pw := cr.Password
		ms = append(ms, ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
			a := make([]string, len(qs))
			for i := range a {
				a[i] = pw
			}
			return a, nil
		}))
	}
	if len(ms) == 0 {
		closeAgent()
		return nil, nil, fmt.Errorf("no way to log in: give the credential a key_file or a password, or run an ssh-agent (SSH_AUTH_SOCK): %w", transports.ErrAuth)
	}
	return ms, closeAgent, nil
}

// hostKeyCheck returns the host key callback for the credential and the
// key algorithms known_hosts has for addr (so the server offers one of
// those).
func hostKeyCheck(addr string, cr transports.Credentials) (ssh.HostKeyCallback, []string, error) {
	if cr.KnownHosts == "" && cr.HostKey == "" {
		return nil, nil, fmt.Errorf("ssh to %s: the server's host key cannot be checked: give the credential known_hosts (an OpenSSH known_hosts file) or host_key (the \"SHA256:...\" fingerprint that ssh-keygen -lf prints for the server's key); vmlua does not connect to unverified servers", addr)
	}
	var kh ssh.HostKeyCallback
	var algos []string
	if cr.KnownHosts != "" {
		var err error
		kh, err = knownhosts.New(cr.KnownHosts)
		if err != nil {
			return nil, nil, fmt.Errorf("known_hosts file: %w", err)
		}
		algos = knownAlgos(kh, addr)
	}
	pin := strings.TrimSpace(cr.HostKey)
	if pin != "" && !strings.HasPrefix(pin, "SHA256:") {
		return nil, nil, fmt.Errorf("host_key %q: want the SHA256 fingerprint as ssh-keygen -lf prints it, \"SHA256:...\"", pin)
	}
	return func(h string, r net.Addr, k ssh.PublicKey) error {
		fp := ssh.FingerprintSHA256(k)
		advice := func() string {
			return fmt.Sprintf("the server offered %s key %s. If that is the right server, pin it with host_key = %q in the credential, or add it to a known_hosts file (ssh-keyscan -p PORT HOST >> FILE, then check the fingerprint with ssh-keygen -lf FILE)", k.Type(), fp, fp)
		}
		if pin != "" && fp != pin {
			return fmt.Errorf("ssh to %s: host key mismatch: the credential pins %s but %s: %w", addr, pin, advice(), transports.ErrAuth)
		}
		if kh != nil {
			if err := kh(h, r, k); err != nil {
				var ke *knownhosts.KeyError
				var re *knownhosts.RevokedError
				switch {
				case errors.As(err, &re):
					return fmt.Errorf("ssh to %s: the host key %s is revoked in %s: %w", addr, fp, cr.KnownHosts, transports.ErrAuth)
				case errors.As(err, &ke) && len(ke.Want) > 0:
					return fmt.Errorf("ssh to %s: HOST KEY CHANGED: %s lists a different key for this host (line %d of %s) — someone may be intercepting the connection, or the server was reinstalled; %s: %w",
						addr, cr.KnownHosts, ke.Want[0].Line, ke.Want[0].Filename, advice(), transports.ErrAuth)
				case errors.As(err, &ke):
					return fmt.Errorf("ssh to %s: unknown host: %s has no key for it; %s: %w", addr, cr.KnownHosts, advice(), transports.ErrAuth)
				}
				return fmt.Errorf("ssh to %s: host key check: %v: %w", addr, err, transports.ErrAuth)
			}
		}
		return nil
	}, algos, nil
}

// knownAlgos asks the known_hosts callback which key types it has for addr
// (its KeyError lists them when given a key it does not know).
func knownAlgos(kh ssh.HostKeyCallback, addr string) []string {
	probe := probeKey{}
	err := kh(addr, &net.TCPAddr{IP: net.IPv4(0, 0, 0, 0)}, probe)
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	for _, w := range ke.Want {
		switch t := w.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512)
			add(ssh.KeyAlgoRSASHA256)
			add(ssh.KeyAlgoRSA)
		default:
			add(t)
		}
	}
	return out
}

// probeKey is a public key no known_hosts file lists.
type probeKey struct{}

func (probeKey) Type() string                        { return "vmlua-probe" }
func (probeKey) Marshal() []byte                     { return []byte("vmlua-probe") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }
