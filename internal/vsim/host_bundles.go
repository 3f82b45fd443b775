package vsim

import "net/http"

// A host's configuration bundle is served by the host: on the vCenter
// model, BackupFirmwareConfiguration's http://*/downloads/... and
// QueryFirmwareConfigUploadURL's http://*/tmp/... are the host's own
// address's (its listener, host_listener.go), which takes what its /folder
// takes (folder_auth.go: a service ticket for the URL, HTTP Basic, a
// session cookie); vCenter's address answers 404 to them. On the ESX model
// the SDK endpoint is the host and serves them to the session's cookie.
//
// Source: the vSphere API reference of HostFirmwareSystem: "provides
// access to the firmware of an embedded ESX host";
// QueryFirmwareConfigUploadURL: "Return the URL on the host to which the
// configuration bundle must be uploaded". The bundle lives on the ESXi
// host, whose files vCenter does not serve.

// serveHostDownload answers GET/HEAD of a bundle URL at a host's address.
func (s *Sim) serveHostDownload(ep *endpoint, w http.ResponseWriter, r *http.Request) {
	if !s.folderAuthorized(ep, r) {
		unauthorized(w)
		return
	}
	s.sendDownload(w, r, ep.host)
}

// serveHostUpload answers PUT/POST of the upload URL at a host's address.
func (s *Sim) serveHostUpload(ep *endpoint, w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut && r.Method != http.MethodPost {
		http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if !s.folderAuthorized(ep, r) {
		unauthorized(w)
		return
	}
	s.storeUpload(w, r, ep.host)
}

// notOnVCenter answers a host's bundle URL asked of vCenter.
func notOnVCenter(w http.ResponseWriter) {
	http.Error(w, "404 Not Found: vCenter does not serve a host's files; replace the URL's * with the host's address", http.StatusNotFound)
}
