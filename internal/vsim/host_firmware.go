package vsim

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// hostFirmwareSystem is a host's HostFirmwareSystem (vcsim has none): the
// configuration backup and restore of `vim-cmd hostsvc/firmware/*`.
//
//   - BackupFirmwareConfiguration writes the host's configuration into a
//     bundle (bundle.go) and returns its URL, http://*/downloads/<id>/configBundle-<host>.tgz
//     as ESXi does: the client puts the host it talks to in place of "*"
//     (and, here, the https scheme of the SDK URL). GET needs the session's
//     cookie.
//   - QueryFirmwareConfigUploadURL returns http://*/tmp/configBundle-<host ref>.tgz
//     (ESXi: /tmp/configBundle.tgz; here one server serves all hosts); a PUT
//     there (with the session's cookie) stores the bundle for the host.
//   - RestoreFirmwareConfiguration(force) needs the host in maintenance mode
//     (else InvalidState) and an uploaded bundle (else FileNotFound); a bundle
//     that is not a complete gzip'd tar with a Manifest.txt and esx.conf is
//     InvalidBundle; one made on another host or build is MismatchedBundle,
//     unless force. A restore replaces NTP, DNS, vSwitches, port groups and
//     advanced settings with the bundle's, deletes the uploaded file, and
//     "reboots" the host: runtime.bootTime becomes now (the connection
//     state does not change; the host stays in maintenance mode).
//   - ResetFirmwareToFactoryDefaults (maintenance mode) restores the
//     configuration the host had when the simulator started.
type hostFirmwareSystem struct {
	mo.HostFirmwareSystem
	s    *Sim
	host types.ManagedObjectReference
}

const (
	downloadsPath = "/downloads/"
	uploadPath    = "/tmp/"
)

// bundleDownload is a bundle BackupFirmwareConfiguration made.
type bundleDownload struct {
	host *hostState
	name string
	data []byte
}

// DownloadFault makes a host drop the connection while a configuration
// bundle downloads: the GET sends the full Content-Length, then only After
// bytes, then the connection is cut, as when the host goes away mid-download.
type DownloadFault struct {
	Host  string // host name; "" matches any
	After int64  // bytes sent before the cut
	Count int    // how many downloads it cuts; 0 means once

	hits int
}

// InjectDownloadFault arms a DownloadFault.
func (s *Sim) InjectDownloadFault(f DownloadFault) {
	if f.Count <= 0 {
		f.Count = 1
	}
	s.mu.Lock()
	s.downloadFaults = append(s.downloadFaults, &f)
	s.mu.Unlock()
}

func (s *Sim) downloadFault(host string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.downloadFaults {
		if f.Host == "" || f.Host == host {
			f.hits++
			if f.hits >= f.Count {
				s.downloadFaults = append(s.downloadFaults[:i], s.downloadFaults[i+1:]...)
			}
			return f.After, true
		}
	}
	return 0, false
}

// readConfig reads a host's configuration; the caller holds o's locks.
func (o hostObjects) readConfig() *bundleConfig {
	h := o.host
	b := &bundleConfig{
		Hostname: h.Name,
		UUID:     h.Hardware.SystemInfo.Uuid,
		Version:  h.Config.Product.Version,
		Build:    h.Config.Product.Build,
		TimeZone: o.dt.DateTimeInfo.TimeZone.Key,
	}
	if ntp := o.dt.DateTimeInfo.NtpConfig; ntp != nil {
		b.NTP = append(b.NTP, ntp.Server...)
	}
	netw := h.Config.Network
	if netw != nil {
		if d, ok := netw.DnsConfig.(*types.HostDnsConfig); ok && d != nil {
			b.DNSHost, b.DNSDomain = d.HostName, d.DomainName
			b.DNSServers = append(b.DNSServers, d.Address...)
			b.DNSSearch = append(b.DNSSearch, d.SearchDomain...)
		}
		for _, vs := range netw.Vswitch {
			bv := bundleVswitch{Name: vs.Name, NumPorts: vs.Spec.NumPorts, MTU: vs.Mtu}
			for _, p := range vs.Pnic {
				bv.Nics = append(bv.Nics, strings.TrimPrefix(p, pnicKeyPrefix))
			}
			b.Vswitches = append(b.Vswitches, bv)
		}
		for _, pg := range netw.Portgroup {
			b.Portgroups = append(b.Portgroups, bundlePortgroup{Name: pg.Spec.Name, Vswitch: pg.Spec.VswitchName, VLAN: pg.Spec.VlanId})
		}
	}
	for _, ov := range h.Config.Option {
		v := ov.GetOptionValue()
		b.Options = append(b.Options, bundleOption{Key: v.Key, Value: optionString(v.Value)})
	}
	sort.Slice(b.Options, func(i, j int) bool { return b.Options[i].Key < b.Options[j].Key })
	return b
}

func optionString(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// optionValue converts a bundle's value to the type the option has now.
func optionValue(s string, like any) any {
	switch like.(type) {
	case int64:
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			return v
		}
	case int32:
		if v, err := strconv.ParseInt(s, 10, 32); err == nil {
			return int32(v)
		}
	case bool:
		if v, err := strconv.ParseBool(s); err == nil {
			return v
		}
	}
	return s
}

// applyConfig makes b the host's configuration; the caller holds o's locks.
func (o hostObjects) applyConfig(ctx *simulator.Context, b *bundleConfig) {
	h := o.host

	// NTP and time zone
	info := o.dt.DateTimeInfo
	info.NtpConfig = &types.HostNtpConfig{Server: append([]string(nil), b.NTP...)}
	if b.TimeZone == utcZone.Key {
		info.TimeZone = utcZone
	}
	o.dt.setInfo(ctx, h, info)

	netw := h.Config.Network
	// DNS
	dns := &types.HostDnsConfig{}
	if cur, ok := netw.DnsConfig.(*types.HostDnsConfig); ok && cur != nil {
		*dns = *cur
	}
	dns.HostName, dns.DomainName = b.DNSHost, b.DNSDomain
	dns.Address = append([]string(nil), b.DNSServers...)
	dns.SearchDomain = append([]string(nil), b.DNSSearch...)
	netw.DnsConfig = dns
	o.net.DnsConfig = dns

	// vSwitches and port groups
	curVs := map[string]types.HostVirtualSwitch{}
	for _, vs := range netw.Vswitch {
		curVs[vs.Name] = vs
	}
	curPg := map[string]types.HostPortGroup{}
	for _, pg := range netw.Portgroup {
		curPg[pg.Spec.Name] = pg
	}
	var vswitches []types.HostVirtualSwitch
	for _, bv := range b.Vswitches {
		vs, ok := curVs[bv.Name]
		if !ok {
			vs = newVswitch(bv.Name, bv.NumPorts)
		}
		vs.Name, vs.Key = bv.Name, vswitchKeyPrefix+bv.Name
		vs.Mtu, vs.Spec.Mtu = bv.MTU, bv.MTU
		vs.Spec.NumPorts = bv.NumPorts
		vs.Pnic = nil
		for _, n := range bv.Nics {
			vs.Pnic = append(vs.Pnic, pnicKeyPrefix+n)
		}
		if len(bv.Nics) > 0 {
			vs.Spec.Bridge = &types.HostVirtualSwitchBondBridge{NicDevice: append([]string(nil), bv.Nics...)}
		} else {
			vs.Spec.Bridge = nil
		}
		vs.Portgroup = nil
		for _, bp := range b.Portgroups {
			if bp.Vswitch == bv.Name {
				vs.Portgroup = append(vs.Portgroup, portgroupKeyPrefix+bp.Name)
			}
		}
		vswitches = append(vswitches, vs)
	}
	var portgroups []types.HostPortGroup
	for _, bp := range b.Portgroups {
		pg, ok := curPg[bp.Name]
		if !ok {
			pg = types.HostPortGroup{}
		}
		pg.Key = portgroupKeyPrefix + bp.Name
		pg.Vswitch = vswitchKeyPrefix + bp.Vswitch
		pg.Spec.Name, pg.Spec.VswitchName, pg.Spec.VlanId = bp.Name, bp.Vswitch, bp.VLAN
		portgroups = append(portgroups, pg)
	}
	netw.Vswitch, netw.Portgroup = vswitches, portgroups

	// advanced settings
	cur := map[string]any{}
	for _, ov := range h.Config.Option {
		cur[ov.GetOptionValue().Key] = ov.GetOptionValue().Value
	}
	var opts []types.BaseOptionValue
	for _, bo := range b.Options {
		opts = append(opts, &types.OptionValue{Key: bo.Key, Value: optionValue(bo.Value, cur[bo.Key])})
	}
	h.Config.Option = opts
	o.opt.Setting = opts

	// the reboot that follows a restore on ESXi
	now := time.Now()
	h.Runtime.BootTime = &now
}

// objects returns the firmware system's host objects and state.
func (f *hostFirmwareSystem) objects() (hostObjects, *hostState, types.BaseMethodFault) {
	o, ok := f.s.hostObjects(f.host)
	hs := f.s.hostByRef(f.host)
	if !ok || hs == nil {
		return o, nil, &types.ManagedObjectNotFound{Obj: f.host}
	}
	return o, hs, nil
}

// BackupFirmwareConfiguration makes a bundle of the host's configuration
// and returns the URL to GET it from.
func (f *hostFirmwareSystem) BackupFirmwareConfiguration(ctx *simulator.Context, req *types.BackupFirmwareConfiguration) soap.HasFault {
	body := &methods.BackupFirmwareConfigurationBody{}
	o, hs, fault := f.objects()
	if fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	var b *bundleConfig
	var conn types.HostSystemConnectionState
	o.withLocks(ctx, func() {
		conn = o.host.Runtime.ConnectionState
		b = o.readConfig()
	})
	if conn != types.HostSystemConnectionStateConnected {
		body.Fault_ = simulator.Fault("", &types.HostNotConnected{})
		return body
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	d := &bundleDownload{host: hs, name: "configBundle-" + hs.name + ".tgz", data: b.encode()}
	key := hex.EncodeToString(id)
	f.s.downloads.Store(key, d)
	body.Res = &types.BackupFirmwareConfigurationResponse{Returnval: "http://*" + downloadsPath + key + "/" + d.name}
	return body
}

// QueryFirmwareConfigUploadURL returns the URL to PUT a bundle to before
// RestoreFirmwareConfiguration.
func (f *hostFirmwareSystem) QueryFirmwareConfigUploadURL(ctx *simulator.Context, req *types.QueryFirmwareConfigUploadURL) soap.HasFault {
	return &methods.QueryFirmwareConfigUploadURLBody{Res: &types.QueryFirmwareConfigUploadURLResponse{
		Returnval: "http://*" + uploadPath + uploadName(f.host),
	}}
}

func uploadName(host types.ManagedObjectReference) string {
	return "configBundle-" + host.Value + ".tgz"
}

// inMaintenance checks the restore's precondition.
func inMaintenance(ctx *simulator.Context, h *simulator.HostSystem) types.BaseMethodFault {
	var inMM bool
	ctx.WithLock(h, func() { inMM = h.Runtime.InMaintenanceMode })
	if !inMM {
		return withMessage(&types.InvalidState{}, fmt.Sprintf("host %s is not in maintenance mode: enter maintenance mode before restoring its configuration", h.Name))
	}
	return nil
}

// RestoreFirmwareConfiguration applies the uploaded bundle.
func (f *hostFirmwareSystem) RestoreFirmwareConfiguration(ctx *simulator.Context, req *types.RestoreFirmwareConfiguration) soap.HasFault {
	body := &methods.RestoreFirmwareConfigurationBody{}
	if fault := f.restore(ctx, req.Force); fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	body.Res = &types.RestoreFirmwareConfigurationResponse{}
	return body
}

func (f *hostFirmwareSystem) restore(ctx *simulator.Context, force bool) types.BaseMethodFault {
	o, hs, fault := f.objects()
	if fault != nil {
		return fault
	}
	if fault := inMaintenance(ctx, o.host); fault != nil {
		return fault
	}
	hs.mu.Lock()
	data := hs.uploaded
	hs.mu.Unlock()
	if data == nil {
		return withMessage(&types.FileNotFound{FileFault: types.FileFault{File: uploadPath + uploadName(f.host)}},
			"no configuration bundle was uploaded: PUT it to the URL QueryFirmwareConfigUploadURL returns first")
	}
	b, err := decodeBundle(data)
	if err != nil {
		msg := "the configuration bundle is corrupt or truncated: " + err.Error()
		return withMessage(&types.InvalidBundle{PlatformConfigFault: types.PlatformConfigFault{Text: msg}}, msg)
	}
	var uuid, build string
	ctx.WithLock(o.host, func() {
		uuid, build = o.host.Hardware.SystemInfo.Uuid, o.host.Config.Product.Build
	})
	if (b.UUID != uuid || b.Build != build) && !force {
		bb, _ := strconv.ParseInt(b.Build, 10, 32)
		hb, _ := strconv.ParseInt(build, 10, 32)
		return withMessage(&types.MismatchedBundle{BundleUuid: b.UUID, HostUuid: uuid, BundleBuildNumber: int32(bb), HostBuildNumber: int32(hb)},
			fmt.Sprintf("the bundle was made on host %s (uuid %s, build %s), this is host %s (uuid %s, build %s): restore it with force to apply it anyway",
				b.Hostname, b.UUID, b.Build, hs.name, uuid, build))
	}
	o.withLocks(ctx, func() { o.applyConfig(ctx, b) })
	hs.mu.Lock()
	hs.uploaded = nil // /tmp does not survive the reboot
	hs.mu.Unlock()
	f.s.logf("vsim: host %s: configuration restored from a bundle of %s (build %s)", hs.name, b.Hostname, b.Build)
	return nil
}

// ResetFirmwareToFactoryDefaults restores the configuration the host
// started with.
func (f *hostFirmwareSystem) ResetFirmwareToFactoryDefaults(ctx *simulator.Context, req *types.ResetFirmwareToFactoryDefaults) soap.HasFault {
	body := &methods.ResetFirmwareToFactoryDefaultsBody{}
	o, hs, fault := f.objects()
	if fault == nil {
		fault = inMaintenance(ctx, o.host)
	}
	if fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	b, err := decodeBundle(hs.factory)
	if err != nil {
		body.Fault_ = simulator.Fault("", &types.SystemError{Reason: err.Error()})
		return body
	}
	o.withLocks(ctx, func() { o.applyConfig(ctx, b) })
	body.Res = &types.ResetFirmwareToFactoryDefaultsResponse{}
	return body
}

// liveSession reports whether key is the cookie of a logged-in session.
func (s *Sim) liveSession(key string) bool {
	if key == "" {
		return false
	}
	sess := &simulator.Session{Registry: simulator.NewRegistry(), Map: s.reg}
	sm, ok := sess.Get(s.reg.SessionManager().Reference()).(*simulator.SessionManager)
	if !ok {
		return false
	}
	for _, us := range sm.SessionList {
		if us.Key == key {
			return true
		}
	}
	return false
}

func (s *Sim) authorized(w http.ResponseWriter, r *http.Request) bool {
	c, err := r.Cookie(soap.SessionCookieName)
	if err != nil || !s.liveSession(c.Value) {
		http.Error(w, "not authenticated: log in to the SDK and send its session cookie", http.StatusUnauthorized)
		return false
	}
	return true
}

// serveDownload answers GET/HEAD of a bundle's URL at the SDK endpoint
// (the ESX model's host; vCenter does not serve a host's bundles,
// host_bundles.go).
func (s *Sim) serveDownload(w http.ResponseWriter, r *http.Request) {
	if s.vc != nil {
		notOnVCenter(w)
		return
	}
	if !s.authorized(w, r) {
		return
	}
	s.sendDownload(w, r, nil)
}

// sendDownload sends the bundle of r's URL (of host hs, unless nil).
func (s *Sim) sendDownload(w http.ResponseWriter, r *http.Request, hs *hostState) {
	id, name, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, downloadsPath), "/")
	v, ok := s.downloads.Load(id)
	if !ok || v.(*bundleDownload).name != name || (hs != nil && v.(*bundleDownload).host != hs) {
		http.NotFound(w, r)
		return
	}
	d := v.(*bundleDownload)
	if r.Method == http.MethodGet {
		if after, cut := s.downloadFault(d.host.name); cut {
			after = min(max(after, 0), int64(len(d.data)))
			w.Header().Set("Content-Type", "application/x-gzip")
			w.Header().Set("Content-Length", strconv.Itoa(len(d.data)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(d.data[:after])
			if fl, ok := w.(http.Flusher); ok {
				fl.Flush()
			}
			s.logf("vsim: host %s: bundle download cut after %d of %d bytes", d.host.name, after, len(d.data))
			panic(http.ErrAbortHandler) // drops the connection
		}
	}
	w.Header().Set("Content-Type", "application/x-gzip")
	http.ServeContent(w, r, name, bundleTime, bytes.NewReader(d.data))
}

// serveUpload answers PUT (and POST) of a host's upload URL at the SDK
// endpoint (the ESX model's host).
func (s *Sim) serveUpload(w http.ResponseWriter, r *http.Request) {
	if s.vc != nil {
		notOnVCenter(w)
		return
	}
	if !s.authorized(w, r) {
		return
	}
	s.storeUpload(w, r, nil)
}

// storeUpload stores the bundle PUT to r's URL (of host only, unless nil).
func (s *Sim) storeUpload(w http.ResponseWriter, r *http.Request, only *hostState) {
	name := strings.TrimPrefix(r.URL.Path, uploadPath)
	var hs *hostState
	s.mu.Lock()
	for _, h := range s.hosts {
		if uploadName(h.ref) == name {
			hs = h
		}
	}
	s.mu.Unlock()
	if hs == nil || (only != nil && hs != only) {
		http.NotFound(w, r)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBundle+1))
	if err != nil {
		http.Error(w, "upload: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(data) > maxBundle {
		http.Error(w, fmt.Sprintf("a configuration bundle is at most %d bytes", maxBundle), http.StatusRequestEntityTooLarge)
		return
	}
	hs.mu.Lock()
	hs.uploaded = data
	hs.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// UploadedBundle returns the bundle last uploaded for the named host (nil
// if none, or consumed by a restore).
func (s *Sim) UploadedBundle(hostName string) ([]byte, error) {
	hs, err := s.hostByName(hostName)
	if err != nil {
		return nil, err
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return append([]byte(nil), hs.uploaded...), nil
}
