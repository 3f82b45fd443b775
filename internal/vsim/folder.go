package vsim

import (
	"net/http"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// The datastore file service (/folder), as every address serves it: the
// request is authenticated (folder_auth.go), vCenter forwards it to a
// host (vcenter_proxy.go), the host admits it or answers 503 and paces it
// (host_throttle.go), refuses a file a running VM holds (file_lock.go),
// and serves the bytes (serveFolder in export.go).

// FolderRequest describes a /folder request a host is about to serve, for
// Options.OnFolder.
type FolderRequest struct {
	Host      string // the host serving it
	Proxied   bool   // it came through vCenter's proxy
	Method    string
	Datastore string
	Path      string // inside the datastore
	Range     string // the Range header, if any
}

// FolderStats counts what an address's /folder did.
type FolderStats struct {
	Requests     int64 // requests received
	Unauthorized int64 // answered 401
	Throttled    int64 // answered 503 (a host above Options.HostConns)
	ProxyErrors  int64 // answered 500 by vCenter's proxy under load
	Locked       int64 // answered 500: the file of a running VM
	BytesOut     int64 // response body bytes (GET)
	BytesIn      int64 // request body bytes (PUT)
}

type endpointStats struct {
	requests, unauthorized, throttled, proxyErrors, locked atomic.Int64
	bytesOut, bytesIn                                      atomic.Int64
}

func (st *endpointStats) snapshot() FolderStats {
	return FolderStats{
		Requests: st.requests.Load(), Unauthorized: st.unauthorized.Load(), Throttled: st.throttled.Load(),
		ProxyErrors: st.proxyErrors.Load(), Locked: st.locked.Load(), BytesOut: st.bytesOut.Load(), BytesIn: st.bytesIn.Load(),
	}
}

// VCenter is the name FolderStats gives vCenter's own /folder.
const VCenter = "vcenter"

// FolderStats returns what the named host's /folder (or vCenter's, for
// VCenter) has done so far; the benchmark reads it to tell throttling and
// retries apart.
func (s *Sim) FolderStats(name string) FolderStats {
	if name == VCenter {
		if s.vc == nil {
			return FolderStats{}
		}
		return s.vc.stats.snapshot()
	}
	hs, err := s.hostByName(name)
	if err != nil || hs.ep == nil {
		return FolderStats{}
	}
	return hs.ep.stats.snapshot()
}

// serveHostFolder serves a /folder request at a host: direct is false for
// a request vCenter's proxy forwards (already authenticated by vCenter).
func (s *Sim) serveHostFolder(ep *endpoint, w http.ResponseWriter, r *http.Request, direct bool) {
	st := &ep.stats
	st.requests.Add(1)
	if direct && !s.folderAuthorized(ep, r) {
		st.unauthorized.Add(1)
		unauthorized(w)
		return
	}
	if _, ok := ep.gate.enter(s.opts.HostConns); !ok {
		st.throttled.Add(1)
		throttled(w)
		return
	}
	defer ep.gate.leave()
	ds := r.URL.Query().Get("dsName")
	p := strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(r.URL.Path, "/folder")), "/")
	if s.objectStoreData(r) {
		// vSAN, vVols: a disk is an object, no file (datastore_types.go)
		http.Error(w, "404 Not Found: disk data on a "+s.dsKindOf(ds).summaryType+" datastore is an object, not a file", http.StatusNotFound)
		return
	}
	if dir, ok := s.dsDir(ds); ok {
		if vm, locked := s.lockedBy(filepath.Join(dir, filepath.FromSlash(p))); locked {
			st.locked.Add(1)
			lockedFile(w, vm)
			return
		}
	}
	if hook := s.onFolder(); hook != nil {
		hook(FolderRequest{Host: ep.name, Proxied: !direct, Method: r.Method, Datastore: ds, Path: p, Range: r.Header.Get("Range")})
	}
	pw, pr := paced(w, r, st, s.opts.HostRate, ep.total)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.serveFolder(pw, pr)
	case http.MethodPut, http.MethodPost:
		s.model.Service.ServeDatastore(pw, pr)
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT, POST")
		http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
	}
}

// SetOnFolder replaces Options.OnFolder on a running simulator (nil: none).
func (s *Sim) SetOnFolder(hook func(FolderRequest)) { s.folderHook.Store(&hook) }

func (s *Sim) onFolder() func(FolderRequest) {
	if h := s.folderHook.Load(); h != nil {
		return *h
	}
	return s.opts.OnFolder
}
