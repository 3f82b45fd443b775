package vsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// Hosts have addresses of their own. On the vCenter model every
// HostSystem serves its own /folder on a loopback listener of its own,
// with a TLS certificate of its own (so a thumbprint of its own); vCenter
// reports it as the host's config.certificate (PEM) and
// summary.config.sslThumbprint, the listener's port as
// summary.config.port, and the host's management address
// (config.virtualNicManagerInfo, the selected "management" vmknic) is
// 127.0.0.1. The vCenter endpoint serves /folder too, as a proxy to the
// host (vcenter_proxy.go). On the ESX model the SDK endpoint is the host.
//
// Sources: the FileManager API reference (HOST in /folder URLs "is the
// vCenter or an ESXi host"); govmomi object/datastore.go ServiceTicket
// (a host's URL is its management IP, with the thumbprint from the
// service ticket); the vSphere API reference of
// GuestFileManager.InitiateFileTransferFromGuest: "The certificate of the
// host that the virtual machine is running on can be retrieved using ...
// runtime.host -> config -> certificate"; vmware/vic PR #3424 ("the VM's
// runtime host owns the file locks": read a VM's files from its host).
//
// Test controls: SetHostReachable (a host only reachable through
// vCenter), SwapHostCertificate (a replaced or impostor certificate),
// HostAddress and HostThumbprint.

// endpoint is one address that serves /folder: a host's listener (or, on
// the ESX model, the SDK endpoint, which is the host), or vCenter's.
type endpoint struct {
	name string     // the host's name, or "vcenter"
	host *hostState // nil for vCenter
	addr string     // host:port

	mu   sync.Mutex
	cert *tls.Certificate
	srv  *http.Server // nil when it is the SDK endpoint or is down
	own  bool         // a listener of its own (not the SDK endpoint)

	gate  gate
	total *pacer // the host's total rate
	stats endpointStats
}

func (ep *endpoint) thumbprint() string {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return thumbprintOf(ep.cert)
}

func thumbprintOf(c *tls.Certificate) string {
	if c == nil || c.Leaf == nil {
		return ""
	}
	var info object.HostCertificateInfo
	info.FromCertificate(c.Leaf)
	return info.ThumbprintSHA1
}

// newHostCertificate makes a self-signed ECDSA certificate for a host
// (quick to make: every simulator makes one per host).
func newHostCertificate(name string) (*tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"vmlua sim"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{name, "localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	return c, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// startHostListeners gives every host of the vCenter model a listener of
// its own; on the ESX model the single host is the SDK endpoint
// (adoptSDKHost, once the server runs).
func (s *Sim) startHostListeners() error {
	if s.reg.IsESX() {
		return nil
	}
	for _, hs := range s.hostList() {
		c, pemBytes, err := newHostCertificate(hs.name)
		if err != nil {
			return fmt.Errorf("vsim: certificate of host %s: %w", hs.name, err)
		}
		ep := &endpoint{name: hs.name, host: hs, cert: c, own: true, total: newPacer(s.opts.HostTotalRate)}
		hs.ep = ep
		if err := s.listen(ep, "127.0.0.1:0"); err != nil {
			return err
		}
		s.recordHost(hs, ep, pemBytes)
	}
	return nil
}

// adoptSDKHost makes the SDK endpoint the ESX model's host.
func (s *Sim) adoptSDKHost() {
	if !s.reg.IsESX() {
		return
	}
	cert := s.server.Certificate()
	c := &tls.Certificate{Certificate: [][]byte{cert.Raw}, Leaf: cert}
	for _, hs := range s.hostList() {
		ep := &endpoint{name: hs.name, host: hs, addr: s.URL.Host, cert: c, total: newPacer(s.opts.HostTotalRate)}
		hs.ep = ep
		s.recordHost(hs, ep, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	}
}

// listen serves ep's /folder on addr.
func (s *Sim) listen(ep *endpoint, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("vsim: listen for host %s: %w", ep.name, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/folder/", func(w http.ResponseWriter, r *http.Request) { s.serveHostFolder(ep, w, r, true) })
	mux.HandleFunc("/folder", func(w http.ResponseWriter, r *http.Request) { s.serveHostFolder(ep, w, r, true) })
	mux.HandleFunc(downloadsPath, func(w http.ResponseWriter, r *http.Request) { s.serveHostDownload(ep, w, r) })
	mux.HandleFunc(uploadPath, func(w http.ResponseWriter, r *http.Request) { s.serveHostUpload(ep, w, r) })
	srv := &http.Server{
		Handler: mux,
		TLSConfig: &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			ep.mu.Lock()
			defer ep.mu.Unlock()
			return ep.cert, nil
		}},
		ErrorLog:          log.New(io.Discard, "", 0),
		ReadHeaderTimeout: time.Minute,
	}
	ep.mu.Lock()
	ep.srv = srv
	ep.addr = ln.Addr().String()
	ep.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logf("vsim: host %s: %v", ep.name, err)
		}
	}()
	return nil
}

// recordHost shows the host's address and certificate in its properties.
func (s *Sim) recordHost(hs *hostState, ep *endpoint, pemBytes []byte) {
	h, ok := s.reg.Get(hs.ref).(*simulator.HostSystem)
	if !ok {
		return
	}
	_, port, _ := net.SplitHostPort(ep.addr)
	var p int
	fmt.Sscan(port, &p)
	tp := ep.thumbprint()
	s.bgContext().WithLock(h, func() {
		h.Summary.Config.Port = int32(p)
		h.Summary.Config.SslThumbprint = tp
		if h.Config != nil {
			h.Config.Certificate = pemBytes
		}
	})
}

// stopListeners closes the hosts' listeners (Close).
func (s *Sim) stopListeners() {
	for _, hs := range s.hostList() {
		if ep := hs.ep; ep != nil && ep.own {
			ep.mu.Lock()
			srv := ep.srv
			ep.srv = nil
			ep.mu.Unlock()
			if srv != nil {
				srv.Close()
			}
		}
	}
}

// hostList returns the hosts, sorted by name.
func (s *Sim) hostList() []*hostState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*hostState, 0, len(s.hosts))
	for _, hs := range s.hosts {
		out = append(out, hs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// endpointAt returns the endpoint serving at host:port, if any.
func (s *Sim) endpointAt(addr string) *endpoint {
	if s.vc != nil && s.vc.addr == addr {
		return s.vc
	}
	for _, hs := range s.hostList() {
		if ep := hs.ep; ep != nil {
			ep.mu.Lock()
			a := ep.addr
			ep.mu.Unlock()
			if a == addr {
				return ep
			}
		}
	}
	return nil
}

// SetHostReachable closes (false) or reopens (true, on the same address)
// the named host's own listener. A host that cannot be reached keeps its
// VMs and datastores; vCenter's proxy still reaches it.
func (s *Sim) SetHostReachable(hostName string, reachable bool) error {
	hs, err := s.hostByName(hostName)
	if err != nil {
		return err
	}
	ep := hs.ep
	if ep == nil || !ep.own {
		return fmt.Errorf("vsim: host %s has no listener of its own (on the ESX model the SDK endpoint is the host)", hostName)
	}
	ep.mu.Lock()
	srv, addr := ep.srv, ep.addr
	if !reachable {
		ep.srv = nil
	}
	ep.mu.Unlock()
	if !reachable {
		if srv != nil {
			srv.Close()
		}
		return nil
	}
	if srv != nil {
		return nil
	}
	return s.listen(ep, addr)
}

// HostAddress returns the host:port of the named host's /folder.
func (s *Sim) HostAddress(hostName string) (string, error) {
	hs, err := s.hostByName(hostName)
	if err != nil {
		return "", err
	}
	if hs.ep == nil {
		return "", fmt.Errorf("vsim: host %s has no address", hostName)
	}
	hs.ep.mu.Lock()
	defer hs.ep.mu.Unlock()
	return hs.ep.addr, nil
}

// HostThumbprint returns the SHA-1 thumbprint of the certificate the
// named host presents.
func (s *Sim) HostThumbprint(hostName string) (string, error) {
	hs, err := s.hostByName(hostName)
	if err != nil {
		return "", err
	}
	if hs.ep == nil {
		return "", fmt.Errorf("vsim: host %s has no address", hostName)
	}
	return hs.ep.thumbprint(), nil
}

// SwapHostCertificate gives the named host a new certificate. With
// record, vCenter learns it (config.certificate, as after a renewal done
// through vCenter); without, vCenter keeps reporting the old one, as when
// something else answers at the host's address.
func (s *Sim) SwapHostCertificate(hostName string, record bool) error {
	hs, err := s.hostByName(hostName)
	if err != nil {
		return err
	}
	ep := hs.ep
	if ep == nil || !ep.own {
		return fmt.Errorf("vsim: host %s has no listener of its own", hostName)
	}
	c, pemBytes, err := newHostCertificate(hs.name)
	if err != nil {
		return err
	}
	ep.mu.Lock()
	ep.cert = c
	srv := ep.srv
	ep.mu.Unlock()
	if srv != nil {
		srv.SetKeepAlivesEnabled(false) // no old connection keeps the old certificate
		srv.SetKeepAlivesEnabled(true)
	}
	if record {
		s.recordHost(hs, ep, pemBytes)
	}
	return nil
}

// hostOfVM returns the host a VM runs on.
func (s *Sim) hostOfVM(ref types.ManagedObjectReference) *hostState {
	vm, ok := s.reg.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return nil
	}
	var h *types.ManagedObjectReference
	s.bgContext().WithLock(vm, func() { h = vm.Runtime.Host })
	if h == nil {
		return nil
	}
	return s.hostByRef(*h)
}

// HostOf returns the name of the host the named VM runs on.
func (s *Sim) HostOf(vmName string) (string, error) {
	vs, err := s.vmByName(vmName)
	if err != nil {
		return "", err
	}
	hs := s.hostOfVM(vs.ref)
	if hs == nil {
		return "", fmt.Errorf("vsim: VM %s runs on no host", vmName)
	}
	return hs.name, nil
}
