package host

import (
	"context"
	"fmt"
	"sort"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Summary is a host's configuration as config_summary shows it: plain
// data, sorted, so that two summaries compare equal when the
// configuration is the same.
type Summary struct {
	NTP      []string          `json:"ntp"`
	TimeZone string            `json:"time_zone"`
	DNS      DNS               `json:"dns"`
	Syslog   string            `json:"syslog"`
	VSwitch  []VSwitch         `json:"vswitches"`
	Advanced map[string]string `json:"advanced"`
}

// DNS is the host's resolver configuration.
type DNS struct {
	Hostname string   `json:"hostname"`
	Domain   string   `json:"domain"`
	Servers  []string `json:"servers"`
	Search   []string `json:"search"`
}

// VSwitch is one standard vSwitch and its port groups.
type VSwitch struct {
	Name       string      `json:"name"`
	Ports      int32       `json:"ports"`
	MTU        int32       `json:"mtu"`
	Uplinks    []string    `json:"uplinks"`
	PortGroups []PortGroup `json:"portgroups"`
}

// PortGroup is one port group of a vSwitch.
type PortGroup struct {
	Name string `json:"name"`
	VLAN int32  `json:"vlan"`
}

// ConfigSummary reads the host's NTP, DNS, syslog, vSwitches and
// advanced settings.
func (h *Host) ConfigSummary(ctx context.Context) (Summary, error) {
	var m mo.HostSystem
	if err := retrieve(ctx, h.conn, h.Ref, []string{"config.dateTimeInfo", "config.network", "config.option"}, &m); err != nil {
		return Summary{}, vsphereErr(err, h.Name, "read the host's configuration")
	}
	s := Summary{NTP: []string{}, Advanced: map[string]string{}, VSwitch: []VSwitch{}}
	s.DNS.Servers, s.DNS.Search = []string{}, []string{}
	if m.Config == nil {
		return s, nil
	}
	if dt := m.Config.DateTimeInfo; dt != nil {
		if dt.NtpConfig != nil {
			s.NTP = append(s.NTP, dt.NtpConfig.Server...)
		}
		s.TimeZone = dt.TimeZone.Key
	}
	if n := m.Config.Network; n != nil {
		if d, ok := n.DnsConfig.(*types.HostDnsConfig); ok && d != nil {
			s.DNS.Hostname, s.DNS.Domain = d.HostName, d.DomainName
			s.DNS.Servers = append(s.DNS.Servers, d.Address...)
			s.DNS.Search = append(s.DNS.Search, d.SearchDomain...)
		}
		pgs := map[string][]PortGroup{}
		for _, pg := range n.Portgroup {
			pgs[pg.Spec.VswitchName] = append(pgs[pg.Spec.VswitchName], PortGroup{Name: pg.Spec.Name, VLAN: pg.Spec.VlanId})
		}
		for _, vs := range n.Vswitch {
			x := VSwitch{Name: vs.Name, Ports: vs.NumPorts, MTU: vs.Mtu, Uplinks: []string{}, PortGroups: pgs[vs.Name]}
			if x.PortGroups == nil {
				x.PortGroups = []PortGroup{}
			}
			if b, ok := vs.Spec.Bridge.(*types.HostVirtualSwitchBondBridge); ok && b != nil {
				x.Uplinks = append(x.Uplinks, b.NicDevice...)
			}
			sort.Slice(x.PortGroups, func(i, j int) bool { return x.PortGroups[i].Name < x.PortGroups[j].Name })
			s.VSwitch = append(s.VSwitch, x)
		}
		sort.Slice(s.VSwitch, func(i, j int) bool { return s.VSwitch[i].Name < s.VSwitch[j].Name })
	}
	for _, o := range m.Config.Option {
		ov := o.GetOptionValue()
		v := fmt.Sprint(ov.Value)
		s.Advanced[ov.Key] = v
		if ov.Key == "Syslog.global.logHost" {
			s.Syslog = v
		}
	}
	return s, nil
}
