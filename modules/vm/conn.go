package vm

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/session/keepalive"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Conn is a logged-in vSphere session for one run.
type Conn struct {
	Client   *vim25.Client
	Endpoint runtime.Endpoint
	run      *runtime.Run

	mu     sync.Mutex
	login  func(ctx context.Context) error
	logout func(ctx context.Context) error
	warned map[string]bool // VMs whose orphans were reported
}

// conns holds a run's connections by profile name; closed at the end of
// the run.
type conns struct {
	mu sync.Mutex
	m  map[string]*Conn
}

func (cs *conns) Close(ctx context.Context) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var errs []error
	for _, c := range cs.m {
		if c.logout != nil {
			errs = append(errs, c.logout(ctx))
		}
	}
	cs.m = nil
	return errors.Join(errs...)
}

// Connect returns the run's session to the named profile ("" for the
// default), logging in on first use.
func Connect(r *runtime.Run, profile string) (*Conn, error) {
	cs := r.Value("vm.conns", func() any { return &conns{m: map[string]*Conn{}} }).(*conns)
	ep, err := r.Endpoint(profile)
	if err != nil {
		return nil, err
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if c, ok := cs.m[ep.Name]; ok {
		return c, nil
	}
	c, err := dial(r.Context(), ep)
	if err != nil {
		return nil, err
	}
	c.run = r
	cs.m[ep.Name] = c
	if profile == "" {
		r.Value("vm.client", func() any { return c.Client })
	}
	return c, nil
}

func dial(ctx context.Context, ep runtime.Endpoint) (*Conn, error) {
	u, err := soap.ParseURL(ep.URL)
	if err != nil || u == nil {
		return nil, &runtime.Error{Code: runtime.CodeInvalidArg, Message: fmt.Sprintf("vSphere URL %q cannot be parsed", ep.URL)}
	}
	u.User = nil
	sc := soap.NewClient(u, ep.Insecure)
	if ep.Thumbprint != "" {
		sc.SetThumbprint(u.Host, ep.Thumbprint)
	}
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return nil, connectError(ep, err)
	}
	user := url.UserPassword(ep.Username, ep.Password)
	// login goes through the plain SOAP client, so that a re-login never
	// recurses into the retrying round tripper below.
	plain := *vc
	plain.RoundTripper = sc
	sm := session.NewManager(&plain)
	c := &Conn{Client: vc, Endpoint: ep, warned: map[string]bool{}}
	c.login = func(ctx context.Context) error { return sm.Login(ctx, user) }
	c.logout = func(ctx context.Context) error { return sm.Logout(ctx) }
	if err := c.login(ctx); err != nil {
		return nil, connectError(ep, err)
	}
	vc.RoundTripper = &relogin{rt: keepalive.NewHandlerSOAP(sc, 5*time.Minute, nil), c: c}
	return c, nil
}

func connectError(ep runtime.Endpoint, err error) error {
	msg := err.Error()
	hint := ""
	switch {
	case isFault[*types.InvalidLogin](err) || isFault[types.InvalidLogin](err):
		return &runtime.Error{Code: runtime.CodeAuth, Message: fmt.Sprintf("vSphere %s refused the login of %q: check the username and password of profile %q", ep.URL, ep.Username, ep.Name), Err: err}
	case containsAny(msg, "certificate", "x509", "thumbprint"):
		hint = "; pin the server with --thumbprint (or thumbprint= in the profile), or pass --insecure if you accept an unverified connection"
	}
	return &runtime.Error{Code: runtime.CodeVSphere, Message: fmt.Sprintf("cannot connect to vSphere %s: %v%s", ep.URL, err, hint), Err: err}
}

// relogin re-establishes a dropped session once per failing call.
type relogin struct {
	rt soap.RoundTripper
	c  *Conn
}

func (r *relogin) RoundTrip(ctx context.Context, req, res soap.HasFault) error {
	err := r.rt.RoundTrip(ctx, req, res)
	if err == nil || !isNotAuthenticated(err) {
		return err
	}
	r.c.mu.Lock()
	lerr := r.c.login(ctx)
	r.c.mu.Unlock()
	if lerr != nil {
		return fmt.Errorf("the vSphere session was lost and logging in again failed: %w", lerr)
	}
	if r.c.run != nil {
		r.c.run.Log.Warn("the vSphere session was lost; logged in again", "endpoint", r.c.Endpoint.URL)
	}
	return r.rt.RoundTrip(ctx, req, res)
}

func isNotAuthenticated(err error) bool {
	return isFault[*types.NotAuthenticated](err) || isFault[types.NotAuthenticated](err)
}

// isFault reports whether err is a vSphere fault of type T.
func isFault[T any](err error) bool {
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
