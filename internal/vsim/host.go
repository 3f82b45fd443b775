package vsim

import (
	"fmt"
	"sort"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// ESXi hosts: every HostSystem gets a HostFirmwareSystem (configuration
// bundle backup and restore, host_firmware.go) and a HostDateTimeSystem
// (NTP, host_datetime.go); its HostNetworkSystem is wrapped so that DNS and
// vSwitch/port group changes show in config.network too (host_network.go).
// Each host gets its own build, NTP and DNS servers, syslog host and
// advanced settings, so that two hosts' bundles differ.

// hostState is the simulator's own state of one host.
type hostState struct {
	mu       sync.Mutex
	ref      types.ManagedObjectReference
	name     string
	uploaded []byte    // the last bundle PUT to the upload URL, nil if none
	factory  []byte    // the bundle of the configuration it started with
	ep       *endpoint // its /folder (host_listener.go)
}

// hostBuilds are the products the simulated hosts run, in host-name order
// (the ESX model's single host and a vCenter's first host run the first).
var hostBuilds = []struct{ version, build string }{
	{"8.0.2", "21997540"},
	{"8.0.2", "22380479"},
	{"8.0.3", "24022510"},
	{"8.0.3", "24280767"},
}

// hostAdvancedOptions are the advanced settings each host starts with (beyond
// vcsim's Config.HostAgent.log.level); %d is the host's index.
func hostAdvancedOptions(i int) []types.BaseOptionValue {
	return []types.BaseOptionValue{
		&types.OptionValue{Key: "Syslog.global.logHost", Value: fmt.Sprintf("udp://syslog%d.vmlua.test:514", i%2+1)},
		&types.OptionValue{Key: "Syslog.global.logDir", Value: "[] /scratch/log"},
		&types.OptionValue{Key: "UserVars.SuppressShellWarning", Value: int64(i % 2)},
		&types.OptionValue{Key: "UserVars.ESXiShellTimeOut", Value: int64(900 * (i + 1))},
		&types.OptionValue{Key: "Net.TcpipHeapSize", Value: int64(32)},
		&types.OptionValue{Key: "Mem.ShareForceSalting", Value: int64(2)},
	}
}

// setupHosts equips every host of the model; it runs before the server
// starts, so nothing else touches the objects yet.
func (s *Sim) setupHosts() error {
	s.hosts = map[string]*hostState{}
	var hosts []*simulator.HostSystem
	for _, e := range s.reg.All("HostSystem") {
		if h, ok := e.(*simulator.HostSystem); ok {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return fmt.Errorf("vsim: the model has no hosts")
	}
	sort.Slice(hosts, func(i, j int) bool { return hosts[i].Name < hosts[j].Name })
	for i, h := range hosts {
		b := hostBuilds[i%len(hostBuilds)]
		h.Config.Product.Version = b.version
		h.Config.Product.Build = b.build
		h.Config.Product.FullName = fmt.Sprintf("VMware ESXi %s build-%s", b.version, b.build)
		h.Config.Product.LicenseProductVersion = b.version
		prod := h.Config.Product
		h.Summary.Config.Product = &prod

		// advanced settings: vcsim's OptionManager mirrors config.option
		opts := append([]types.BaseOptionValue(nil), h.Config.Option...)
		opts = append(opts, hostAdvancedOptions(i)...)
		h.Config.Option = opts
		if om, ok := s.reg.Get(*h.ConfigManager.AdvancedOption).(*simulator.OptionManager); ok {
			om.Setting = h.Config.Option
		}

		// network: one HostNetworkInfo seen both as config.network and as the
		// network system's networkInfo, as on ESXi
		netw := h.Config.Network
		if netw == nil {
			netw = &types.HostNetworkInfo{}
			h.Config.Network = netw
		}
		dns := &types.HostDnsConfig{
			HostName:     h.Name,
			DomainName:   "vmlua.test",
			Address:      []string{fmt.Sprintf("10.%d.0.53", i+1), fmt.Sprintf("10.%d.1.53", i+1)},
			SearchDomain: []string{"vmlua.test", fmt.Sprintf("site%d.vmlua.test", i%2+1)},
		}
		netw.DnsConfig = dns
		if ns, ok := s.reg.Get(*h.ConfigManager.NetworkSystem).(*simulator.HostNetworkSystem); ok {
			ns.NetworkInfo = netw
			ns.DnsConfig = dns
		}

		// date and time
		ntp := &types.HostNtpConfig{Server: []string{fmt.Sprintf("%d.pool.ntp.org", i%4), "ntp.vmlua.test"}}
		h.Config.DateTimeInfo = &types.HostDateTimeInfo{
			TimeZone:            utcZone,
			SystemClockProtocol: string(types.HostDateTimeInfoProtocolNtp),
			NtpConfig:           ntp,
		}
		// ESXi's own names on the ESX model; one per host on vCenter
		dtID, fwID := "dateTimeSystem", "ha-firmwareSystem"
		if s.reg.IsVPX() {
			dtID, fwID = "dateTimeSystem-"+h.Self.Value, "firmwareSystem-"+h.Self.Value
		}
		dt := &hostDateTimeSystem{s: s, host: h.Self}
		dt.Self = types.ManagedObjectReference{Type: "HostDateTimeSystem", Value: dtID}
		dt.DateTimeInfo = *h.Config.DateTimeInfo
		dtRef := s.reg.Put(dt).Reference()
		h.ConfigManager.DateTimeSystem = &dtRef

		fw := &hostFirmwareSystem{s: s, host: h.Self}
		fw.Self = types.ManagedObjectReference{Type: "HostFirmwareSystem", Value: fwID}
		fwRef := s.reg.Put(fw).Reference()
		h.ConfigManager.FirmwareSystem = &fwRef

		hs := &hostState{ref: h.Self, name: h.Name}
		o, ok := s.hostObjects(h.Self)
		if !ok {
			return fmt.Errorf("vsim: host %s lacks a configuration manager", h.Name)
		}
		hs.factory = o.readConfig().encode()
		s.hosts[h.Self.Value] = hs
	}
	return nil
}

var utcZone = types.HostDateTimeSystemTimeZone{Key: "UTC", Name: "UTC", Description: "UTC", GmtOffset: 0}

// hostObjects are the stock objects behind one host, looked up in the main registry.
type hostObjects struct {
	host *simulator.HostSystem
	net  *simulator.HostNetworkSystem
	dt   *hostDateTimeSystem
	opt  *simulator.OptionManager
}

func (s *Sim) hostObjects(ref types.ManagedObjectReference) (hostObjects, bool) {
	var o hostObjects
	var ok bool
	if o.host, ok = s.reg.Get(ref).(*simulator.HostSystem); !ok {
		return o, false
	}
	cm := o.host.ConfigManager
	if cm.NetworkSystem == nil || cm.DateTimeSystem == nil || cm.AdvancedOption == nil {
		return o, false
	}
	o.net, _ = s.reg.Get(*cm.NetworkSystem).(*simulator.HostNetworkSystem)
	o.dt, _ = s.reg.Get(*cm.DateTimeSystem).(*hostDateTimeSystem)
	o.opt, _ = s.reg.Get(*cm.AdvancedOption).(*simulator.OptionManager)
	return o, o.net != nil && o.dt != nil && o.opt != nil
}

// withHostLocks runs fn holding the locks of all of a host's configuration
// objects, always taken in this order (network system, date-time system,
// option manager, host) so that no two paths can deadlock.
func (o hostObjects) withLocks(ctx *simulator.Context, fn func()) {
	ctx.WithLock(o.net, func() {
		ctx.WithLock(o.dt, func() {
			ctx.WithLock(o.opt, func() {
				ctx.WithLock(o.host, fn)
			})
		})
	})
}

// hostByName returns the state of the named host ("" means the only host,
// or the first by name).
func (s *Sim) hostByName(name string) (*hostState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for _, hs := range s.hosts {
		if hs.name == name {
			return hs, nil
		}
		names = append(names, hs.name)
	}
	sort.Strings(names)
	if name == "" && len(names) > 0 {
		for _, hs := range s.hosts {
			if hs.name == names[0] {
				return hs, nil
			}
		}
	}
	return nil, fmt.Errorf("vsim: no host %q (hosts: %v)", name, names)
}

func (s *Sim) hostByRef(ref types.ManagedObjectReference) *hostState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hosts[ref.Value]
}

// Hosts returns the names of the simulated hosts, sorted.
func (s *Sim) Hosts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for _, hs := range s.hosts {
		names = append(names, hs.name)
	}
	sort.Strings(names)
	return names
}

// SetHostBuild changes the build a host reports (config.product, as after a
// patch), so that its earlier bundles no longer match: RestoreFirmwareConfiguration
// then raises MismatchedBundle unless forced.
func (s *Sim) SetHostBuild(hostName, build string) error {
	hs, err := s.hostByName(hostName)
	if err != nil {
		return err
	}
	h, ok := s.reg.Get(hs.ref).(*simulator.HostSystem)
	if !ok {
		return fmt.Errorf("vsim: host %q is gone", hostName)
	}
	ctx := s.bgContext()
	ctx.WithLock(h, func() {
		h.Config.Product.Build = build
		h.Config.Product.FullName = fmt.Sprintf("VMware ESXi %s build-%s", h.Config.Product.Version, build)
		prod := h.Config.Product
		h.Summary.Config.Product = &prod
	})
	return nil
}
