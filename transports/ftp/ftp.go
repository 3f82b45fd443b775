package ftp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/vmlua/vmlua/transports"
)

// defaultPort is FTP's control port, for ftps (explicit TLS) too.
const defaultPort = "21"

func init() {
	for _, s := range []struct{ name, form, help string }{
		{"ftp", "ftp://user@host[:port]/path",
			"Plain FTP. The password and the data cross the network unencrypted, so the credential must say allow_plaintext = true. " +
				"The path is relative to the login directory (ftp://host/%2Fsrv/x for an absolute one)."},
		{"ftps", "ftps://user@host[:port]/path",
			"FTP with explicit TLS (AUTH TLS, data protected with PROT P); the certificate is verified against the system roots or ca_file. " +
				"The path is relative to the login directory (ftps://host/%2Fsrv/x for an absolute one)."},
	} {
		transports.Register(transports.Scheme{
			Name:        s.name,
			DefaultPort: defaultPort,
			URLForm:     s.form,
			Help:        s.help + " One transfer per connection: idle connections are pooled; reads resume at an offset (REST).",
			Exclusive: "a guard folder made with MKD, which the server refuses when anything is there (mkdir(2) is atomic; FTP has no exclusive create for files: " +
				"STOR replaces, RNTO replaces on most servers, STOU picks another name): the run that makes `.<name>.vmlua-guard` renames the lock's complete content " +
				"(stored under a temporary name) onto its name if nothing is there, then removes the guard. A guard a crash left is removed after 5 minutes.",
			Options: []transports.Option{
				{Name: "ca_file", Help: "PEM certificate(s) to verify the ftps server with, instead of the system roots"},
				{Name: "connections", Default: "4", Help: "idle logged-in connections kept for reuse"},
				{Name: "timeout", Default: "30s", Help: "dial timeout"},
				transports.CreateOption,
				transports.BwlimitOption,
			},
			Open: open,
		})
	}
}

// Config is what Dial needs.
type Config struct {
	Addr string // host:port
	// Root is the directory, relative to the login directory unless it
	// starts with "/".
	Root        string
	TLS         bool // explicit FTPS
	CAFile      string
	Credentials transports.Credentials
	Connections int           // idle connections kept; 0: 4
	Timeout     time.Duration // 0: 30s
	// NoCreate refuses a Root that does not exist (create=false) instead
	// of making it.
	NoCreate bool
}

// Transport is an FTP account rooted at a directory.
type Transport struct {
	url     string
	cfg     Config
	tlsConf *tls.Config
	root    string // absolute on the server

	mu     sync.Mutex
	idle   []*conn
	closed bool
}

var (
	_ transports.Transport        = (*Transport)(nil)
	_ transports.ExclusiveCreator = (*Transport)(nil)
)

func open(ctx context.Context, u *url.URL, opts transports.Options) (transports.Transport, error) {
	cfg, err := parseURL(u, opts)
	if err != nil {
		return nil, err
	}
	t, err := Dial(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s URL %s: %w", u.Scheme, transports.Redact(u.String()), err)
	}
	uu := *u
	uu.User = url.User(cfg.Credentials.User)
	uu.RawQuery = ""
	t.url = uu.String()
	return t, nil
}

func parseURL(u *url.URL, opts transports.Options) (Config, error) {
	red := transports.Redact(u.String())
	scheme := strings.ToLower(u.Scheme)
	if u.Opaque != "" || u.Hostname() == "" {
		return Config{}, fmt.Errorf("%s URL %s: want %s://user@host[:port]/path", scheme, red, scheme)
	}
	cfg := Config{Credentials: opts.Credentials, TLS: scheme == "ftps", CAFile: opts.Param(u, "ca_file")}
	if n := u.User.Username(); n != "" {
		cfg.Credentials.User = n
	}
	if !cfg.TLS && !cfg.Credentials.AllowPlaintext {
		name := "the credential"
		if cfg.Credentials.Name != "" {
			name = "credential " + strconv.Quote(cfg.Credentials.Name)
		}
		return Config{}, fmt.Errorf("ftp URL %s: refused: plain FTP sends the password and the data unencrypted over the network. "+
			"Use ftps:// if the server speaks TLS (AUTH TLS), or, to accept the risk on a trusted network, set allow_plaintext = true in %s", red, name)
	}
	port := u.Port()
	if port == "" {
		port = defaultPort
	}
	cfg.Addr = net.JoinHostPort(u.Hostname(), port)
	// "/x" is x under the login directory; "//x" (from %2F) is /x.
	cfg.Root = strings.TrimPrefix(u.Path, "/")
	if v := opts.Param(u, "connections"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 64 {
			return Config{}, fmt.Errorf("%s URL %s: connections=%q: want a number from 0 to 64", scheme, red, v)
		}
		cfg.Connections = n
		if n == 0 {
			cfg.Connections = -1
		}
	}
	if v := opts.Param(u, "timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return Config{}, fmt.Errorf("%s URL %s: timeout=%q: want a duration such as 30s", scheme, red, v)
		}
		cfg.Timeout = d
	}
	create, err := opts.Create(u)
	if err != nil {
		return Config{}, fmt.Errorf("%s URL %s: %w", scheme, red, err)
	}
	cfg.NoCreate = !create
	return cfg, nil
}

// Dial logs in once (to check the credential and find the root) and
// returns the transport with that connection in its pool.
func Dial(ctx context.Context, cfg Config) (*Transport, error) {
	if cfg.Credentials.User == "" {
		return nil, errors.New("no user: give one in the URL (user@host) or in the credential")
	}
	if cfg.Connections == 0 {
		cfg.Connections = 4
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	t := &Transport{cfg: cfg}
	scheme := "ftp"
	if cfg.TLS {
		scheme = "ftps"
		host, _, _ := net.SplitHostPort(cfg.Addr)
		t.tlsConf = &tls.Config{
			ServerName:         host,
			MinVersion:         tls.VersionTLS12,
			InsecureSkipVerify: cfg.Credentials.InsecureTLS,
			ClientSessionCache: tls.NewLRUClientSessionCache(16),
		}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", cfg.CAFile)
			}
			t.tlsConf.RootCAs = pool
		}
	} else if !cfg.Credentials.AllowPlaintext {
		return nil, errors.New("plain FTP refused: it sends the password unencrypted; use ftps or set allow_plaintext = true in the credential")
	}
	c, err := t.dial(ctx)
	if err != nil {
		return nil, err
	}
	login, err := c.c.CurrentDir()
	if err != nil {
		c.close()
		return nil, fmt.Errorf("ftp on %s: PWD: %w", cfg.Addr, err)
	}
	if strings.HasPrefix(cfg.Root, "/") {
		t.root = path.Clean(cfg.Root)
	} else {
		t.root = path.Join(login, cfg.Root)
	}
	t.url = fmt.Sprintf("%s://%s@%s%s", scheme, cfg.Credentials.User, cfg.Addr, t.root)
	if err := t.enterRoot(c.c); err != nil {
		c.close()
		return nil, fmt.Errorf("ftp on %s: %w", cfg.Addr, err)
	}
	t.put(c, nil)
	return t, nil
}

// enterRoot changes into the root directory, making it (and the folders
// above it) first when it does not exist, unless cfg.NoCreate.
func (t *Transport) enterRoot(c *ftp.ServerConn) error {
	err := c.ChangeDir(t.root)
	if err == nil {
		return nil
	}
	k, _, kerr := kind(c, t.root)
	switch {
	case kerr != nil:
		return fmt.Errorf("the directory %s: %w", t.root, mapErr(err))
	case k == "file":
		return fmt.Errorf("%s is a file, not a directory", t.root)
	case k == "dir":
		return fmt.Errorf("the directory %s: %w", t.root, mapErr(err))
	case t.cfg.NoCreate:
		return transports.MissingFolder(t.root)
	}
	cur := "/"
	for _, part := range strings.Split(strings.Trim(t.root, "/"), "/") {
		cur = path.Join(cur, part)
		if c.ChangeDir(cur) == nil {
			continue
		}
		if err := c.MakeDir(cur); err != nil && c.ChangeDir(cur) != nil {
			return fmt.Errorf("make the folder %s: %w", cur, mapErr(err))
		}
	}
	if err := c.ChangeDir(t.root); err != nil {
		return fmt.Errorf("the directory %s: %w", t.root, mapErr(err))
	}
	return nil
}

// conn is a logged-in control connection and the raw sockets under it, so
// a cancelled context can break a blocked command.
type conn struct {
	c         *ftp.ServerConn
	mu        sync.Mutex
	socks     []net.Conn // control first, then the data connections
	idleSince time.Time
	broken    bool
}

func (c *conn) track(nc net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// forget data connections that are done (keep the control one)
	if len(c.socks) > 4 {
		c.socks = append(c.socks[:1], c.socks[len(c.socks)-2:]...)
	}
	c.socks = append(c.socks, nc)
}

// kill closes every socket at once (for cancellation).
func (c *conn) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.broken = true
	for _, s := range c.socks {
		s.Close()
	}
}

func (c *conn) close() {
	done := make(chan struct{})
	go func() { _ = c.c.Quit(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		c.kill()
		<-done
	}
}

func (t *Transport) dial(ctx context.Context) (*conn, error) {
	cn := &conn{}
	dctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	first := true
	dialFunc := func(network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: t.cfg.Timeout}
		dc := dctx
		if !first {
			dc = context.Background() // data connections outlive Dial
		}
		nc, err := d.DialContext(dc, network, addr)
		if err != nil {
			return nil, err
		}
		cn.track(nc)
		if first {
			first = false
			return nc, nil
		}
		gc := &gracefulConn{Conn: nc}
		if t.tlsConf != nil {
			// data connections of FTPS (the control one is upgraded by
			// AUTH TLS inside the library)
			return tls.Client(gc, t.tlsConf), nil
		}
		return gc, nil
	}
	opts := []ftp.DialOption{
		ftp.DialWithContext(dctx),
		ftp.DialWithTimeout(t.cfg.Timeout),
		ftp.DialWithDialFunc(dialFunc),
		ftp.DialWithForceListHidden(true), // temporary names start with "."
	}
	if t.tlsConf != nil {
		opts = append(opts, ftp.DialWithExplicitTLS(t.tlsConf))
	}
	stop := context.AfterFunc(dctx, cn.kill)
	defer stop()
	c, err := ftp.Dial(t.cfg.Addr, opts...)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("ftp connect to %s: %w", t.cfg.Addr, ctx.Err())
		}
		return nil, fmt.Errorf("ftp connect to %s: %w", t.cfg.Addr, err)
	}
	cn.c = c
	if err := c.Login(t.cfg.Credentials.User, t.cfg.Credentials.Password); err != nil {
		cn.close()
		var te *textproto.Error
		if errors.As(err, &te) && (te.Code == ftp.StatusNotLoggedIn || te.Code == 331 || te.Code == 332) {
			name := ""
			if t.cfg.Credentials.Name != "" {
				name = " (credential " + strconv.Quote(t.cfg.Credentials.Name) + ")"
			}
			return nil, fmt.Errorf("ftp login to %s as %s%s: the server refused it: %d %s: %w", t.cfg.Addr, t.cfg.Credentials.User, name, te.Code, te.Msg, transports.ErrAuth)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("ftp login to %s: %w", t.cfg.Addr, ctx.Err())
		}
		return nil, fmt.Errorf("ftp login to %s as %s: %w", t.cfg.Addr, t.cfg.Credentials.User, err)
	}
	return cn, nil
}

// get returns a pooled connection (probed when it has been idle a while)
// or a new one.
func (t *Transport) get(ctx context.Context) (*conn, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	for {
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			return nil, false, errors.New("ftp transport is closed")
		}
		n := len(t.idle)
		if n == 0 {
			t.mu.Unlock()
			break
		}
		c := t.idle[n-1]
		t.idle = t.idle[:n-1]
		t.mu.Unlock()
		if time.Since(c.idleSince) > 15*time.Second {
			if err := c.c.NoOp(); err != nil {
				c.close()
				continue
			}
		}
		return c, true, nil
	}
	c, err := t.dial(ctx)
	return c, false, err
}

// put returns c to the pool unless err says it may be unusable.
func (t *Transport) put(c *conn, err error) {
	var te *textproto.Error
	if c.broken || (err != nil && !errors.As(err, &te)) {
		c.kill()
		return
	}
	t.mu.Lock()
	if !t.closed && len(t.idle) < max(t.cfg.Connections, 0) {
		c.idleSince = time.Now()
		t.idle = append(t.idle, c)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	c.close()
}

// do runs f on a connection, breaking it when ctx ends, and retries once
// on a fresh connection when a pooled one turns out to be dead.
func (t *Transport) do(ctx context.Context, f func(c *ftp.ServerConn) error) error {
	for attempt := 0; ; attempt++ {
		c, pooled, err := t.get(ctx)
		if err != nil {
			return err
		}
		stop := context.AfterFunc(ctx, c.kill)
		err = f(c.c)
		stop()
		t.put(c, err)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var te *textproto.Error
		if err != nil && pooled && attempt == 0 && !errors.As(err, &te) {
			continue
		}
		return err
	}
}

// Close logs out of every idle connection.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
	return nil
}

// URL is the URL the transport was opened with, without secrets.
func (t *Transport) URL() string { return t.url }
