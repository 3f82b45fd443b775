package dsread

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"
	"weak"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vmlua/vmlua/internal/thumbprint"
)

// DefaultPerHost is how many datastore requests a session keeps in flight
// per host, shared by every disk and VM it reads or writes: the 4 of
// Proxmox's ESXi importer and of Xen Orchestra ("the /folder endpoint of
// a host is not fast", PR #10363).
const DefaultPerHost = 4

// Config says how a vSphere session reaches datastore files (a profile's
// data path settings).
type Config struct {
	// PerHost is the number of requests in flight per host (DefaultPerHost
	// when 0).
	PerHost int
	// HostThumbprints pins hosts' certificates by host name (as vCenter
	// names the host), in any form thumbprint.Parse reads. A host without
	// a pin is trusted through vCenter's record of its certificate
	// (host.config.certificate).
	HostThumbprints map[string]string
	// ThroughVCenter sends every byte through vCenter (the slower path),
	// to measure it or where the hosts' port 443 is closed to vmlua.
	ThroughVCenter bool
	// Log receives the session's warnings (a host read through vCenter,
	// and how much slower that was); default: none.
	Log func(msg string, args ...any)
}

// Access is a vSphere session's way to datastore files: per host, its
// own address (a service ticket per request, the host's certificate
// checked) or, when that host cannot be reached, vCenter; and a budget of
// requests in flight per host shared by every disk and VM of the session.
type Access struct {
	c    *vim25.Client
	cfg  Config
	pins map[string]thumbprint.Pin

	mu     sync.Mutex
	hosts  map[string]*hostRoute      // by host moref value
	slots  map[string]chan struct{}   // request budget by route key
	rates  map[bool]*rate             // per-request throughput, direct (true) and through vCenter
	slowed bool                       // "how much slower" was logged
	tr     map[string]*http.Transport // the hosts' transports, by address
}

// rate sums what requests moved and how long they took.
type rate struct {
	bytes int64
	dur   time.Duration
}

func (r *rate) perSecond() float64 {
	if r == nil || r.dur <= 0 {
		return 0
	}
	return float64(r.bytes) / r.dur.Seconds()
}

var accesses struct {
	mu sync.Mutex
	m  map[weak.Pointer[vim25.Client]]*Access
}

// Attach sets the data path of the session of c; every Client, Upload
// and ReadSmall of datastores of c then uses it. A bad pin is an error.
func Attach(c *vim25.Client, cfg Config) (*Access, error) {
	a, err := newAccess(c, cfg)
	if err != nil {
		return nil, err
	}
	register(c, a)
	return a, nil
}

func newAccess(c *vim25.Client, cfg Config) (*Access, error) {
	if cfg.PerHost <= 0 {
		cfg.PerHost = DefaultPerHost
	}
	if cfg.Log == nil {
		cfg.Log = func(string, ...any) {}
	}
	a := &Access{c: c, cfg: cfg, pins: map[string]thumbprint.Pin{}, hosts: map[string]*hostRoute{},
		slots: map[string]chan struct{}{}, rates: map[bool]*rate{}, tr: map[string]*http.Transport{}}
	for host, tp := range cfg.HostThumbprints {
		p, err := thumbprint.Parse(tp)
		if err != nil {
			return nil, fmt.Errorf("host %s: %w", host, err)
		}
		a.pins[host] = p
	}
	return a, nil
}

func register(c *vim25.Client, a *Access) {
	accesses.mu.Lock()
	defer accesses.mu.Unlock()
	if accesses.m == nil {
		accesses.m = map[weak.Pointer[vim25.Client]]*Access{}
	}
	k := weak.Make(c)
	if _, ok := accesses.m[k]; !ok {
		runtime.AddCleanup(c, func(k weak.Pointer[vim25.Client]) {
			accesses.mu.Lock()
			a := accesses.m[k]
			delete(accesses.m, k)
			accesses.mu.Unlock()
			if a != nil {
				a.CloseIdle()
			}
		}, k)
	}
	accesses.m[k] = a
}

// accessOf returns the session's Access: Attach's, or one with the
// defaults.
func accessOf(c *vim25.Client) *Access {
	accesses.mu.Lock()
	a, ok := accesses.m[weak.Make(c)]
	accesses.mu.Unlock()
	if ok {
		return a
	}
	a, _ = newAccess(c, Config{})
	register(c, a)
	return a
}

// CloseIdle closes the idle connections to the hosts.
func (a *Access) CloseIdle() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, t := range a.tr {
		t.CloseIdleConnections()
	}
}

// slot waits for one of the route's request slots; release gives it back.
func (a *Access) slot(ctx context.Context, key string) (release func(), err error) {
	a.mu.Lock()
	ch, ok := a.slots[key]
	if !ok {
		ch = make(chan struct{}, a.cfg.PerHost)
		a.slots[key] = ch
	}
	a.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (a *Access) account(direct bool, n int64, d time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.rates[direct]
	if r == nil {
		r = &rate{}
		a.rates[direct] = r
	}
	r.bytes += n
	r.dur += d
}

// reportSlower logs once how reads through vCenter compared with reads
// from the hosts directly.
func (a *Access) reportSlower() {
	a.mu.Lock()
	if a.slowed || a.rates[false] == nil || a.rates[false].bytes == 0 {
		a.mu.Unlock()
		return
	}
	a.slowed = true
	vc, direct := a.rates[false].perSecond(), a.rates[true].perSecond()
	a.mu.Unlock()
	args := []any{"through_vcenter_mib_s", round1(vc / (1 << 20))}
	if direct > 0 && vc > 0 {
		args = append(args, "direct_mib_s", round1(direct/(1<<20)), "times_slower", round1(direct/vc))
	} else {
		args = append(args, "direct_mib_s", "none yet to compare with")
	}
	a.cfg.Log("datastore throughput through vCenter, per request, against the hosts' own addresses", args...)
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

// hostRoute is the way to one host's files.
type hostRoute struct {
	a    *Access
	key  string // budget key: the host's moref value ("" for the endpoint itself)
	name string // the host's name
	addr string // host:port of its /folder; "" when it has none
	hc   *http.Client

	mu     sync.Mutex
	via    bool   // through vCenter
	why    string // why, for the log
	logged bool
}

// direct reports whether requests go to the host itself.
func (r *hostRoute) direct() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.via
}

// fallback sends the host's requests through vCenter from now on, and
// logs it once.
func (r *hostRoute) fallback(why string) {
	r.mu.Lock()
	r.via = true
	if r.why == "" {
		r.why = why
	}
	first := !r.logged
	r.logged = true
	r.mu.Unlock()
	if first {
		r.a.cfg.Log("a host cannot be reached directly: its datastore files go through vCenter, the slower path (VMware KB 2112692: vCenter's proxy is not made for streaming large data)",
			"host", r.name, "address", r.addr, "why", why, "vcenter", r.a.c.URL().Host)
	}
}

// route returns the way to files of ds: on the host given (or, without
// one, a host the datastore is mounted on); the session's own endpoint
// when it is not a vCenter.
func (a *Access) route(ctx context.Context, ds *object.Datastore, host *types.ManagedObjectReference) (*hostRoute, error) {
	if !a.c.IsVC() {
		return a.endpointRoute(), nil
	}
	if host == nil {
		h, err := attachedHost(ctx, ds)
		if err != nil {
			return nil, err
		}
		host = h
	}
	if host == nil {
		return a.vcenterOnly(), nil
	}
	a.mu.Lock()
	r, ok := a.hosts[host.Value]
	a.mu.Unlock()
	if ok {
		return r, nil
	}
	r, err := a.newHostRoute(ctx, *host)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	old, raced := a.hosts[host.Value]
	if raced {
		r = old
	} else {
		a.hosts[host.Value] = r
	}
	a.mu.Unlock()
	// a host without an address or a certificate to check is read
	// through vCenter from the start: said once, as an unreachable one
	if !raced && !r.direct() && !a.cfg.ThroughVCenter {
		r.fallback(r.whyNot())
	}
	return r, nil
}

// endpointRoute is the way to files when the session is with an ESXi
// host: the host itself, with the session's cookie.
func (a *Access) endpointRoute() *hostRoute {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r, ok := a.hosts[""]; ok {
		return r
	}
	r := &hostRoute{a: a, name: a.c.URL().Host, via: true}
	a.hosts[""] = r
	return r
}

// vcenterOnly is the way to a datastore no host mounts (as far as the
// session can see): vCenter.
func (a *Access) vcenterOnly() *hostRoute {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r, ok := a.hosts["vcenter"]; ok {
		return r
	}
	r := &hostRoute{a: a, key: "vcenter", name: "vCenter", via: true}
	a.hosts["vcenter"] = r
	return r
}

// attachedHost returns a connected host the datastore is mounted on (the
// first by name), or nil.
func attachedHost(ctx context.Context, ds *object.Datastore) (*types.ManagedObjectReference, error) {
	var m mo.Datastore
	if err := ds.Properties(ctx, ds.Reference(), []string{"host"}, &m); err != nil {
		return nil, fmt.Errorf("hosts of datastore %s: %w", ds.Name(), err)
	}
	if len(m.Host) == 0 {
		return nil, nil
	}
	refs := make([]types.ManagedObjectReference, 0, len(m.Host))
	for _, h := range m.Host {
		if h.MountInfo.Accessible == nil || *h.MountInfo.Accessible {
			refs = append(refs, h.Key)
		}
	}
	if len(refs) == 0 {
		return nil, nil
	}
	var hosts []mo.HostSystem
	if err := property.DefaultCollector(ds.Client()).Retrieve(ctx, refs, []string{"name", "runtime.connectionState"}, &hosts); err != nil {
		return nil, fmt.Errorf("hosts of datastore %s: %w", ds.Name(), err)
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Name < hosts[j].Name })
	for _, h := range hosts {
		if h.Runtime.ConnectionState == "" || h.Runtime.ConnectionState == types.HostSystemConnectionStateConnected {
			ref := h.Self
			return &ref, nil
		}
	}
	return nil, nil
}

// dialTimeout bounds a connection to a host: vectura's connect timeout.
const dialTimeout = 10 * time.Second

// newHostRoute reads where the host serves /folder and which certificate
// it must present: the profile's pin for it, else the certificate vCenter
// reports for it (config.certificate).
func (a *Access) newHostRoute(ctx context.Context, ref types.ManagedObjectReference) (*hostRoute, error) {
	var h mo.HostSystem
	props := []string{"name", "summary.config", "config.certificate", "config.virtualNicManagerInfo.netConfig"}
	if err := property.DefaultCollector(a.c).RetrieveOne(ctx, ref, props, &h); err != nil {
		return nil, fmt.Errorf("host %s: %w", ref.Value, err)
	}
	r := &hostRoute{a: a, key: ref.Value, name: h.Name}
	if a.cfg.ThroughVCenter {
		r.via, r.why = true, "the profile sends every byte through vCenter"
		return r, nil
	}
	r.addr = hostAddress(h)
	pin, pinned := a.pins[h.Name]
	if !pinned && h.Config != nil && len(h.Config.Certificate) > 0 {
		if b, _ := pem.Decode(h.Config.Certificate); b != nil {
			sum := sha256.Sum256(b.Bytes)
			pin, pinned = thumbprint.Pin{Form: thumbprint.HexSHA256, Colons: true, Sum: sum[:]}, true
		}
	}
	switch {
	case r.addr == "":
		r.via, r.why = true, "vCenter reports no address for it"
		return r, nil
	case !pinned:
		r.via, r.why = true, "no thumbprint is pinned for it and vCenter reports no certificate for it"
		return r, nil
	}
	a.mu.Lock()
	tr, ok := a.tr[r.addr]
	if !ok {
		cfg := &tls.Config{
			InsecureSkipVerify: true, // #nosec G402 -- VerifyConnection checks the pin (or a chain a trusted authority verifies)
			VerifyConnection:   hostVerifier(h.Name, r.addr, pin, a.pins[h.Name].Sum != nil),
			ClientSessionCache: tls.NewLRUClientSessionCache(0),
		}
		tr = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       cfg,
			TLSHandshakeTimeout:   dialTimeout,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: 5 * time.Second,
		}
		a.tr[r.addr] = tr
	}
	a.mu.Unlock()
	r.hc = &http.Client{Transport: tr}
	return r, nil
}

// hostAddress is host:port of the host's /folder: its management address
// (govmomi's HostSystem.ManagementIPs: the selected "management" vmknic),
// else its name, and its summary.config.port (443 when unset).
func hostAddress(h mo.HostSystem) string {
	host := h.Name
	if h.Config != nil && h.Config.VirtualNicManagerInfo != nil {
		if ips := managementIPs(h.Config.VirtualNicManagerInfo.NetConfig); len(ips) > 0 {
			host = ips[0]
		}
	}
	if host == "" {
		return ""
	}
	port := 443
	if h.Summary.Config.Port > 0 {
		port = int(h.Summary.Config.Port)
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func managementIPs(cfg []types.VirtualNicManagerNetConfig) []string {
	var out []string
	for _, nc := range cfg {
		if nc.NicType != string(types.HostVirtualNicManagerNicTypeManagement) {
			continue
		}
		for _, c := range nc.CandidateVnic {
			for _, sel := range nc.SelectedVnic {
				if c.Key == sel && c.Spec.Ip != nil && net.ParseIP(c.Spec.Ip.IpAddress) != nil {
					out = append(out, c.Spec.Ip.IpAddress)
				}
			}
		}
	}
	return out
}

// ErrHostCertificate is the error of a host whose certificate is not the
// one expected of it.
var ErrHostCertificate = errors.New("the host's certificate is not the one expected")

// hostVerifier accepts the host's expected certificate (or a chain a
// trusted authority verifies for its name) and explains a mismatch.
func hostVerifier(name, addr string, pin thumbprint.Pin, byProfile bool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if pin.VerifyConnection(cs) == nil {
			return nil
		}
		got := "none"
		if len(cs.PeerCertificates) > 0 {
			got = thumbprint.Of(cs.PeerCertificates[0], thumbprint.HexSHA256, true)
		}
		expected := "the one vCenter reports for it (host.config.certificate)"
		what := "If the host's certificate was renewed, reconnect the host in vCenter so that vCenter knows the new one"
		if byProfile {
			expected = "the one pinned for it in the profile (host_thumbprints)"
			what = "If the host's certificate was renewed, pin the new one (compare it with the host's console or govc host.info)"
		}
		return fmt.Errorf("%w: host %s at %s presents a certificate with SHA-256 %s, not %s. %s; otherwise something else answers at the host's address: vmlua sends it nothing", ErrHostCertificate, name, addr, got, expected, what)
	}
}

// target is where one request goes.
type target struct {
	url    *url.URL
	ticket *http.Cookie // a service ticket, on a host's own address
	hc     *http.Client
	direct bool
}

// target prepares a request: on the host's own address with a service
// ticket for it, else at vCenter's (or the ESXi endpoint's) with the
// session's cookie.
func (r *hostRoute) target(ctx context.Context, at func(direct bool) (*url.URL, error), method string, session *http.Client) (target, error) {
	direct := r.direct()
	u, err := at(direct)
	if err != nil {
		return target{}, err
	}
	if !direct {
		return target{url: u, hc: session}, nil
	}
	t, err := serviceTicket(ctx, r.a.c, u, method)
	if err != nil {
		return target{}, err
	}
	return target{url: u, ticket: t, hc: r.hc, direct: true}, nil
}

// whyNot says why the host's own address is not used.
func (r *hostRoute) whyNot() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.why == "" {
		return "its requests go through vCenter"
	}
	return r.why
}

// ErrHostUnreachable is the error of a request only a host serves (its
// configuration bundle) when the host's own address cannot be used.
var ErrHostUnreachable = errors.New("the host's own address cannot be reached, and only the host serves this")

// serviceTicket acquires a one-use ticket for method at u
// (SessionManager.AcquireGenericServiceTicket, as govmomi's
// Datastore.ServiceTicket does with HostContext: vmlua keeps the URL's
// port, which govmomi's drops, and its own certificate check).
func serviceTicket(ctx context.Context, c *vim25.Client, u *url.URL, method string) (*http.Cookie, error) {
	spec := types.SessionManagerHttpServiceRequestSpec{Url: u.String(), Method: "http" + method[:1] + toLower(method[1:])}
	t, err := session.NewManager(c).AcquireGenericServiceTicket(ctx, &spec)
	if err != nil {
		return nil, fmt.Errorf("service ticket for %s: %w", u.Host, err)
	}
	return &http.Cookie{Name: "vmware_cgi_ticket", Value: t.Id}, nil
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// reauth makes an API call through the session, so that a session vCenter
// expired is logged in again (vmlua's session re-logs in on
// NotAuthenticated): the next request then carries the new cookie.
func (a *Access) reauth(ctx context.Context) error {
	_, err := methods.GetCurrentTime(ctx, a.c)
	return err
}
