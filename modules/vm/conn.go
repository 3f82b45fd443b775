package vm

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/vmlua/vmlua/internal/dsread"
	"github.com/vmlua/vmlua/internal/thumbprint"
	modtransport "github.com/vmlua/vmlua/modules/transport"
	"github.com/vmlua/vmlua/runtime"
	vsession "github.com/vmware/govmomi/session"

	"github.com/vmware/govmomi/session/keepalive"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// loggedIn is a logged-in vSphere client: per run, or shared by the runs
// of a fleet through a Pool.
type loggedIn struct {
	client   *vim25.Client
	endpoint runtime.Endpoint
	mu       sync.Mutex
	login    func(ctx context.Context) error
	logout   func(ctx context.Context) error
	gen      uint64                        // logins so far (under mu): a re-login made meanwhile is not repeated
	log      func(msg string, args ...any) // where a re-login is reported
	// closeIdle closes the session's idle connections (API and range reads)
	closeIdle func()
}

// Conn is a run's view of a vSphere session.
type Conn struct {
	Client   *vim25.Client
	Endpoint runtime.Endpoint
	run      *runtime.Run
	sess     *loggedIn
	owned    bool // logged out at the end of the run (not pooled)

	mu     sync.Mutex
	warned map[string]bool // VMs whose orphans were reported
	// vSphere's clock minus this machine's, and when it was read (serverNow)
	clockOffset time.Duration
	clockAt     time.Time
}

// conns holds a run's connections by profile name; closed at the end of
// the run.
type conns struct {
	mu sync.Mutex
	m  map[string]*Conn
}

// connsKey holds the run's *conns.
var connsKey = runtime.NewKey[*conns]("vm.conns")

func (cs *conns) Close(ctx context.Context) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var errs []error
	for _, c := range cs.m {
		if c.owned {
			errs = append(errs, c.sess.logout(ctx))
		}
	}
	cs.m = nil
	return errors.Join(errs...)
}

// poolKey holds the fleet's *Pool in runtime.Options.
var poolKey = runtime.NewSharedKey[*Pool]("vm.pool")

// SharePool makes the runs made from o share the pool's sessions.
func SharePool(o *runtime.Options, p *Pool) { poolKey.Set(o, p) }

// Pool shares vSphere sessions between the runs of one process (a fleet
// run): one login per profile instead of one per VM. Its owner closes it.
type Pool struct {
	mu sync.Mutex
	m  map[string]*loggedIn
}

// NewPool returns an empty pool.
func NewPool() *Pool { return &Pool{m: map[string]*loggedIn{}} }

// Close logs every pooled session out.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, s := range p.m {
		errs = append(errs, s.logout(ctx))
	}
	p.m = map[string]*loggedIn{}
	return errors.Join(errs...)
}

// CloseIdleConnections closes the idle connections of every pooled
// session (they stay logged in): keep-alive connections a burst of runs
// left, which the next burst would have reused.
func (p *Pool) CloseIdleConnections() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.m {
		s.closeIdle()
	}
}

func (p *Pool) get(ctx context.Context, ep runtime.Endpoint, log func(string, ...any)) (*loggedIn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.m[ep.Name]; ok {
		return s, nil
	}
	s, err := dial(ctx, ep, log)
	if err != nil {
		return nil, err
	}
	p.m[ep.Name] = s
	return s, nil
}

// Connect returns the run's session to the named profile ("" for the
// default), logging in on first use (or taking the fleet's pooled session).
func Connect(r *runtime.Run, profile string) (*Conn, error) {
	cs := connsKey.Init(r, func() *conns { return &conns{m: map[string]*Conn{}} })
	ep, err := r.Endpoint(profile)
	if err != nil {
		return nil, err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c, ok := cs.m[ep.Name]; ok {
		return c, nil
	}
	var sess *loggedIn
	owned := false
	if pool, ok := poolKey.Get(r); ok && pool != nil {
		sess, err = pool.get(r.Context(), ep, r.Log.Warn)
	} else {
		sess, err = dial(r.Context(), ep, r.Log.Warn)
		owned = true
	}
	if err != nil {
		return nil, err
	}
	c := &Conn{Client: sess.client, Endpoint: ep, run: r, sess: sess, owned: owned, warned: map[string]bool{}}
	cs.m[ep.Name] = c
	if profile == "" {
		modtransport.SetVSphereClient(r, c.Client)
	}
	return c, nil
}

// maxIdlePerHost bounds the idle vSphere API connections a session keeps:
// above any sensible --jobs.
const maxIdlePerHost = 64

func dial(ctx context.Context, ep runtime.Endpoint, log func(string, ...any)) (*loggedIn, error) {
	u, err := soap.ParseURL(ep.URL)
	if err != nil || u == nil {
		return nil, &runtime.Error{Code: runtime.CodeInvalidArg, Message: fmt.Sprintf("vSphere URL %q cannot be parsed", ep.URL)}
	}
	u.User = nil
	var pin *thumbprint.Pin
	given := ep.Thumbprint
	if ep.Thumbprint != "" {
		p, err := thumbprint.Parse(ep.Thumbprint)
		if err != nil {
			return nil, &runtime.Error{Code: runtime.CodeInvalidArg, Message: fmt.Sprintf("vSphere profile %q: %v", ep.Name, err), Err: err}
		}
		pin = &p
		// govmomi compares colon-separated upper-case hex: the pin in the
		// form it reads, whatever form the user wrote.
		ep.Thumbprint = p.Govmomi()
	}
	sc := soap.NewClient(u, ep.Insecure)
	// A pooled session serves a fleet's concurrent runs: with net/http's
	// default of 2 idle connections per host, every burst above 2 closed
	// connections and the next calls paid a TLS handshake each.
	sc.DefaultTransport().MaxIdleConnsPerHost = maxIdlePerHost
	// Every connection of the session after the first resumes its TLS
	// session instead of a full handshake (no certificate to sign, send
	// and check): a backup's range reads open up to 21 connections, an
	// incremental of scattered changes all of them. The cache is the
	// session's: crypto/tls resumes only a session whose certificate was
	// verified as this configuration would (an insecure session is never
	// resumed by a verifying one), and a pinned session's check runs on
	// every resumption too.
	sc.DefaultTransport().TLSClientConfig.ClientSessionCache = tls.NewLRUClientSessionCache(0)
	if ep.Thumbprint != "" {
		sc.SetThumbprint(u.Host, ep.Thumbprint)
		// the pin is checked in the one handshake (govmomi would make a
		// second, unresumable one after a failed verifying handshake)
		cfg := sc.DefaultTransport().TLSClientConfig
		cfg.InsecureSkipVerify = true // #nosec G402 -- VerifyConnection checks the chain or the pin
		cfg.VerifyConnection = pin.VerifyConnection
	}
	api := apiClient(u, ep, sc)
	vc, err := vim25.NewClient(ctx, api)
	if err != nil {
		// thumbprint.ErrMismatch's text holds govmomi's phrase too
		if pin != nil && strings.Contains(err.Error(), "thumbprint does not match") {
			return nil, mismatchError(ctx, ep, given, u.Host, *pin, err)
		}
		return nil, connectError(ep, err)
	}
	// vc.Client stays the plain SOAP client: datastore and NFC transfers
	// (and modules that clone its *http.Transport) use it as before.
	sc.Namespace, sc.Version = api.Namespace, api.Version
	vc.Client = sc
	user := url.UserPassword(ep.Username, ep.Password)
	// login goes through the plain SOAP client, so that a re-login never
	// recurses into the retrying round tripper below.
	plain := *vc
	plain.RoundTripper = api
	sm := vsession.NewManager(&plain)
	// The keep-alive runs while the session is logged in: it starts only on
	// a Login it sees, and ours goes through the plain client, so it is
	// started and stopped explicitly.
	ka := keepalive.NewHandlerSOAP(api, 5*time.Minute, nil)
	// disk bytes go to the VM's host directly (internal/dsread), within a
	// budget of requests per host shared by every run of the session
	acc, err := dsread.Attach(vc, dsread.Config{PerHost: ep.HostRequests, HostThumbprints: ep.HostThumbprints, ThroughVCenter: ep.ThroughVCenter, Log: log})
	if err != nil {
		return nil, &runtime.Error{Code: runtime.CodeInvalidArg, Message: fmt.Sprintf("vSphere profile %q: host_thumbprints: %v", ep.Name, err), Err: err}
	}
	// no connection outlives the session: neither the API's nor the
	// range reads' (internal/dsread keeps a pool per session transport,
	// and one per host)
	closeIdle := func() {
		sc.CloseIdleConnections()
		dsread.CloseIdle(sc.DefaultTransport())
		acc.CloseIdle()
	}
	s := &loggedIn{client: vc, endpoint: ep, log: log, closeIdle: closeIdle}
	s.login = func(ctx context.Context) error { return sm.Login(ctx, user) }
	s.logout = func(ctx context.Context) error {
		ka.Stop()
		err := sm.Logout(ctx)
		closeIdle()
		return err
	}
	if err := s.login(ctx); err != nil {
		return nil, connectError(ep, err)
	}
	ka.Start()
	vc.RoundTripper = &relogin{rt: ka, s: s}
	return s, nil
}

// apiClient is the SOAP client of the API calls. It shares sc's
// connections, cookies and certificate checks, and reads every response to
// its end before closing it: govmomi stops reading at the end of the SOAP
// envelope, and net/http closes a connection whose response body was not
// read to EOF (a chunked response's last chunk), so each large answer (a
// VM's properties) cost a new TCP and TLS connection: one per VM of a
// fleet run, about half the CPU of the client and of the server.
func apiClient(u *url.URL, ep runtime.Endpoint, sc *soap.Client) *soap.Client {
	api := soap.NewClient(u, ep.Insecure)
	if ep.Thumbprint != "" {
		api.SetThumbprint(u.Host, ep.Thumbprint)
	}
	api.Client.Transport = drainTransport{sc.DefaultTransport()}
	api.Client.Jar = sc.Client.Jar
	return api
}

// drainTransport makes a response body's Close read what is left of it
// (up to maxDrain bytes) so that the connection can be reused.
type drainTransport struct{ rt http.RoundTripper }

// maxDrain bounds what Close reads: past it, closing the connection is
// cheaper than reading on (an abandoned large response).
const maxDrain = 64 << 10

func (d drainTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := d.rt.RoundTrip(req)
	if err == nil && res.Body != nil {
		res.Body = drainBody{res.Body}
	}
	return res, err
}

type drainBody struct{ io.ReadCloser }

func (b drainBody) Close() error {
	_, _ = io.CopyN(io.Discard, b.ReadCloser, maxDrain)
	return b.ReadCloser.Close()
}

func connectError(ep runtime.Endpoint, err error) error {
	msg := err.Error()
	hint := ""
	switch {
	case IsFault[*types.InvalidLogin](err) || IsFault[types.InvalidLogin](err):
		return &runtime.Error{Code: runtime.CodeAuth, Message: fmt.Sprintf("vSphere %s refused the login of %q: check the username and password of profile %q", ep.URL, ep.Username, ep.Name), Err: err}
	case containsAny(msg, "certificate", "x509", "thumbprint"):
		hint = "; pin the server with --thumbprint (or thumbprint= in the profile), or pass --insecure if you accept an unverified connection"
	}
	return &runtime.Error{Code: runtime.CodeVSphere, Message: fmt.Sprintf("cannot connect to vSphere %s: %v%s", ep.URL, err, hint), Err: err}
}

// mismatchError says that the server's certificate is not the pinned one,
// with the server's fingerprint in the form the user wrote (and as SHA-256)
// so that it can be compared with the one vCenter shows, and what to do.
// The certificate is read by a second, unverified handshake that sends
// nothing: govmomi's error holds only the pin.
func mismatchError(ctx context.Context, ep runtime.Endpoint, given, host string, pin thumbprint.Pin, err error) error {
	if !strings.Contains(host, ":") || strings.HasSuffix(host, "]") {
		host += ":443"
	}
	msg := fmt.Sprintf("the certificate of vSphere %s is not the one pinned by thumbprint %q of profile %q", ep.URL, given, ep.Name)
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} // #nosec G402 -- only reads the certificate to show its fingerprint
	conn, derr := d.DialContext(ctx, "tcp", host)
	if derr != nil {
		return &runtime.Error{Code: runtime.CodeVSphere, Message: msg + fmt.Sprintf(" (its certificate could not be read again: %v); check the thumbprint with the vSphere administrator", derr), Err: err}
	}
	cert := conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
	_ = conn.Close()
	got := pin.Format(cert)
	if pin.Form != thumbprint.HexSHA256 {
		got += fmt.Sprintf(" (SHA-256 %s)", thumbprint.Of(cert, thumbprint.HexSHA256, true))
	}
	msg += fmt.Sprintf(": the server's is %s. If the certificate was replaced on purpose, compare that with the one vCenter shows (govc about.cert -thumbprint) and set thumbprint = %q in the profile (or --thumbprint); otherwise do not connect: something may be impersonating the server", got, pin.Format(cert))
	return &runtime.Error{Code: runtime.CodeVSphere, Message: msg, Err: err}
}

// relogin re-establishes a dropped session once per failing call.
type relogin struct {
	rt soap.RoundTripper
	s  *loggedIn
}

func (r *relogin) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	r.s.mu.Lock()
	gen := r.s.gen
	r.s.mu.Unlock()
	err := r.rt.RoundTrip(ctx, req, res)
	if !isNotAuthenticated(err) && !(err == nil && missingAuth(res)) {
		return err
	}
	// calls failing together (the range reads of a backup) log in once:
	// a call that failed before another's re-login just goes again
	r.s.mu.Lock()
	var lerr error
	again := r.s.gen == gen
	if again {
		if lerr = r.s.login(ctx); lerr == nil {
			r.s.gen++
		}
	}
	r.s.mu.Unlock()
	if lerr != nil {
		return fmt.Errorf("the vSphere session was lost and logging in again failed: %w", lerr)
	}
	if again {
		r.s.log("the vSphere session was lost; logged in again", "endpoint", r.s.endpoint.URL)
	}
	// Decoding appends to slices: the retry needs a fresh response.
	if v := reflect.ValueOf(res); v.Kind() == reflect.Pointer && !v.IsNil() {
		v.Elem().Set(reflect.Zero(v.Elem().Type()))
	}
	return r.rt.RoundTrip(ctx, req, res)
}

// missingAuth reports a property read answered object by object with
// NotAuthenticated (vcsim's way; vCenter sends one SOAP fault instead).
func missingAuth(res soap.HasFault) bool {
	var objs []types.ObjectContent
	switch b := res.(type) {
	case *methods.RetrievePropertiesExBody:
		if b.Res != nil && b.Res.Returnval != nil {
			objs = b.Res.Returnval.Objects
		}
	case *methods.RetrievePropertiesBody:
		if b.Res != nil {
			objs = b.Res.Returnval
		}
	}
	for _, o := range objs {
		for _, m := range o.MissingSet {
			if _, ok := m.Fault.Fault.(*types.NotAuthenticated); ok {
				return true
			}
		}
	}
	return false
}

func isNotAuthenticated(err error) bool {
	if err == nil {
		return false
	}
	return IsFault[*types.NotAuthenticated](err) || IsFault[types.NotAuthenticated](err)
}

// IsFault reports whether err is a vSphere fault of type T: a SOAP fault, a
// vim fault or a failed task's fault (the host module uses it too).
func IsFault[T any](err error) bool {
	if soap.IsSoapFault(err) {
		if _, ok := soap.ToSoapFault(err).VimFault().(T); ok {
			return true
		}
	}
	if soap.IsVimFault(err) {
		if _, ok := soap.ToVimFault(err).(T); ok {
			return true
		}
	}
	var te taskErr
	if errors.As(err, &te) {
		if _, ok := te.Fault().(T); ok {
			return true
		}
	}
	return false
}

type taskErr interface{ Fault() types.BaseMethodFault }

func containsAny(s string, subs ...string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}
