package vsim

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// /folder needs authentication, on vCenter and on every host, as on real
// vSphere: the SOAP session cookie (vmware_soap_session) of a live
// session, HTTP Basic with the SDK's credentials, or a vmware_cgi_ticket
// cookie from SessionManager.AcquireGenericServiceTicket. Anything else
// gets 401.
//
// Sources: the FileManager API reference (datastore access over HTTP:
// https://HOST/folder/PATH?dcPath=DC&dsName=DS, HOST a vCenter or an ESXi
// host); the SessionManagerGenericServiceTicket data object: "The ticket
// may be used only once and is valid only for the
// SessionManagerServiceRequestSpec with which it was acquired ... For CGI
// requests the name of this cookie is 'vmware_cgi_ticket'"; Proxmox's
// ESXi importer (pve-esxi-import-tools src/esxi.rs) sends HTTP Basic on
// every /folder request; Xen Orchestra's older importer
// (@xen-orchestra/vmware-explorer/esxi.mjs) sends Basic, then the cookie.
//
// So a ticket here is good for one request, with the method it was
// acquired for (httpGet also allows HEAD), at the address, path and
// datastore of its URL, while the session that acquired it lives.
//
// Options.OpenFolder turns this behaviour off (for a unit test of
// something else).

// ticket is an unused service ticket.
type ticket struct {
	session string // the key of the session that acquired it
	addr    string // host:port of its URL
	path    string // its URL's path ("/folder/...")
	dsName  string
	method  string // http.MethodGet, http.MethodPut, ...
}

type tickets struct {
	mu sync.Mutex
	m  map[string]ticket
}

// sessionCookie is the cookie name of vSphere's SOAP session.
const sessionCookie = "vmware_soap_session"

// ticketCookie is the cookie name of a service ticket.
const ticketCookie = "vmware_cgi_ticket"

// folderAuthorized reports whether r may use /folder at endpoint ep.
func (s *Sim) folderAuthorized(ep *endpoint, r *http.Request) bool {
	if s.opts.OpenFolder {
		return true
	}
	if user, pass, ok := r.BasicAuth(); ok {
		return user == s.opts.Username && pass == s.opts.Password
	}
	if c, err := r.Cookie(ticketCookie); err == nil {
		return s.useTicket(c.Value, ep, r)
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		key := c.Value
		if !s.liveSession(key) {
			return false
		}
		if s.idleExpired(key) {
			s.expireSession(key)
			return false
		}
		return true
	}
	return false
}

// unauthorized answers 401 as hostd does to a request without valid
// credentials.
func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="vmlua sim"`)
	http.Error(w, "401 Unauthorized: log in (a session cookie, HTTP Basic or a service ticket)", http.StatusUnauthorized)
}

// useTicket consumes the ticket if it was acquired for this request.
func (s *Sim) useTicket(id string, ep *endpoint, r *http.Request) bool {
	s.tkt.mu.Lock()
	t, ok := s.tkt.m[id]
	delete(s.tkt.m, id) // used once, whether it fits or not
	s.tkt.mu.Unlock()
	if !ok {
		return false
	}
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	if t.addr != ep.addr || t.path != r.URL.Path || t.dsName != r.URL.Query().Get("dsName") || t.method != method {
		return false
	}
	if !s.liveSession(t.session) {
		return false
	}
	if s.idleExpired(t.session) {
		s.expireSession(t.session)
		return false
	}
	return true
}

// forgetTickets drops the tickets of an ended session.
func (s *Sim) forgetTickets(session string) {
	s.tkt.mu.Lock()
	defer s.tkt.mu.Unlock()
	for id, t := range s.tkt.m {
		if t.session == session {
			delete(s.tkt.m, id)
		}
	}
}

// smWrapper is a session's view of the SessionManager (as vcsim's
// Session.Get makes it) with AcquireGenericServiceTicket of its own. It
// is put in the caller's session registry for that call only: dispatch
// removes it at the session's next call, so that the session's other
// reads of the SessionManager see vcsim's fresh view.
type smWrapper struct {
	*simulator.SessionManager
	s *Sim
}

// AcquireGenericServiceTicket returns a ticket for one request of the
// spec's method at its URL, and the name and SSL thumbprint of the server
// at that address (a host's own, when the URL is a host's).
func (w *smWrapper) AcquireGenericServiceTicket(ctx *simulator.Context, req *types.AcquireGenericServiceTicket) soap.HasFault {
	body := &methods.AcquireGenericServiceTicketBody{}
	spec, ok := req.Spec.(*types.SessionManagerHttpServiceRequestSpec)
	if !ok {
		body.Fault_ = simulator.Fault("only HTTP service tickets are simulated", &types.InvalidArgument{InvalidProperty: "spec"})
		return body
	}
	u, err := url.Parse(spec.Url)
	if err != nil {
		body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "spec.url"})
		return body
	}
	ep := w.s.endpointAt(u.Host)
	if ep == nil {
		body.Fault_ = simulator.Fault("no host of this vCenter serves "+u.Host, &types.InvalidArgument{InvalidProperty: "spec.url"})
		return body
	}
	method := strings.ToUpper(strings.TrimPrefix(spec.Method, "http"))
	if method == http.MethodHead {
		method = http.MethodGet
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	w.s.tkt.mu.Lock()
	w.s.tkt.m[id] = ticket{session: ctx.Session.Key, addr: u.Host, path: u.Path, dsName: u.Query().Get("dsName"), method: method}
	w.s.tkt.mu.Unlock()
	body.Res = &types.AcquireGenericServiceTicketResponse{Returnval: types.SessionManagerGenericServiceTicket{
		Id: id, HostName: ep.name, SslThumbprint: ep.thumbprint(),
	}}
	return body
}

// sessionManagerView returns the caller's session view of the
// SessionManager with AcquireGenericServiceTicket overridden.
func (s *Sim) sessionManagerView(ctx *simulator.Context) *smWrapper {
	m := *s.reg.SessionManager()
	m.CurrentSession = &ctx.Session.UserSession
	if us, ok := s.liveSessions(); ok {
		m.SessionList = us
	}
	return &smWrapper{&m, s}
}

// liveSessions lists the SessionManager's sessions.
func (s *Sim) liveSessions() ([]types.UserSession, bool) {
	sm := s.reg.SessionManager()
	view := &simulator.Session{Map: s.reg, Registry: simulator.NewRegistry()}
	m, ok := view.Get(sm.Reference()).(*simulator.SessionManager)
	if !ok {
		return nil, false
	}
	return m.SessionList, true
}
