package vsim

import (
	"net/http"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// vCenter's /folder is a proxy to a host (rhttpproxy): every byte crosses
// it, on the vCenter model, at most Options.VCenterRate bytes per second
// per connection (a quarter of a host's by default), on top of the host's
// own limits, and under load it answers 500 now and then: one request in
// Options.VCenterErrorEvery of those that arrive while at least
// Options.VCenterBusy others are in flight. The host it forwards to is
// the one running the VM whose folder the file is in (else the first
// host); the proxy reaches a host whose own address cannot be reached
// (SetHostReachable), as vCenter reaches its hosts over their management
// network.
//
// Sources: virt-v2v's input-vmware documentation calls reading disks over
// vCenter's HTTPS port "the slowest method"; VMware KB 2112692: the
// rhttpproxy "is not performing optimally when the amount of data being
// streamed is massive"; Xen Orchestra issue #8339 shows 500s on /folder
// through vCenter; govmomi object/datastore.go ServiceTicket goes to a
// host only with HostContext or GOVMOMI_USE_SERVICE_TICKET=1, otherwise
// through vCenter.

// Defaults of vCenter's proxy.
const (
	DefaultVCenterRate       = 16 << 20 // bytes/s per connection through vCenter
	DefaultVCenterErrorEvery = 8        // one request in 8 under load gets 500
	DefaultVCenterBusy       = 3        // "under load": this many others in flight
)

// proxyLoad counts the requests that arrived under load.
type proxyLoad struct {
	mu    sync.Mutex
	under int
}

// serveVCenterFolder serves /folder on the SDK endpoint: the host itself
// on the ESX model, else vCenter's proxy.
func (s *Sim) serveVCenterFolder(w http.ResponseWriter, r *http.Request) {
	if s.vc == nil { // ESX: the SDK endpoint is the host
		hs := s.hostList()
		if len(hs) > 0 && hs[0].ep != nil {
			s.serveHostFolder(hs[0].ep, w, r, true)
			return
		}
		s.serveFolder(w, r)
		return
	}
	ep := s.vc
	ep.stats.requests.Add(1)
	if !s.folderAuthorized(ep, r) {
		ep.stats.unauthorized.Add(1)
		unauthorized(w)
		return
	}
	busy, _ := ep.gate.enter(0)
	defer ep.gate.leave()
	if s.opts.VCenterErrorEvery > 0 && busy >= s.opts.VCenterBusy {
		s.load.mu.Lock()
		s.load.under++
		fail := s.load.under%s.opts.VCenterErrorEvery == 0
		s.load.mu.Unlock()
		if fail {
			ep.stats.proxyErrors.Add(1)
			http.Error(w, "500 Internal Server Error: the proxy could not complete the request", http.StatusInternalServerError)
			return
		}
	}
	hs := s.hostForFile(r)
	if hs == nil || hs.ep == nil {
		s.serveFolder(w, r)
		return
	}
	pw, pr := paced(w, r, &ep.stats, s.opts.VCenterRate)
	s.serveHostFolder(hs.ep, pw, pr, false)
}

// hostForFile returns the host vCenter forwards a /folder request to: the
// host of the VM whose files are in the request's folder, else the first.
func (s *Sim) hostForFile(r *http.Request) *hostState {
	dir, ok := s.dsDir(r.URL.Query().Get("dsName"))
	hosts := s.hostList()
	if !ok || len(hosts) == 0 {
		if len(hosts) > 0 {
			return hosts[0]
		}
		return nil
	}
	p := strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(r.URL.Path, "/folder")), "/")
	folder := filepath.Dir(filepath.Join(dir, filepath.FromSlash(p)))
	vms := s.allVMs()
	for _, vs := range vms {
		if vs.hasFolder(folder) {
			if hs := s.hostOfVM(vs.ref); hs != nil {
				return hs
			}
		}
	}
	return hosts[0]
}

// hasFolder reports whether one of the VM's disk files is in folder.
func (vs *vmState) hasFolder(folder string) bool {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	for _, d := range vs.disks {
		for _, l := range d.layers {
			if filepath.Dir(l.dataFile) == folder {
				return true
			}
		}
	}
	return false
}
