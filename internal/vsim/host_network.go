package vsim

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// netWrapper is a host's HostNetworkSystem as ESXi has it: its networkInfo
// is the host's config.network (one object, setupHosts), UpdateDnsConfig
// works, and vSwitches and port groups are kept ESXi's way (keys in
// vSwitch.portgroup, port groups pointing at their vSwitch's key, specs
// kept). vcsim's own AddPortGroup also created an inventory Network; these
// do not (the host side is what a configuration backup covers).
type netWrapper struct {
	*simulator.HostNetworkSystem
	s *Sim
}

const (
	vswitchKeyPrefix   = "key-vim.host.VirtualSwitch-"
	portgroupKeyPrefix = "key-vim.host.PortGroup-"
	pnicKeyPrefix      = "key-vim.host.PhysicalNic-"
)

func newVswitch(name string, numPorts int32) types.HostVirtualSwitch {
	if numPorts <= 0 {
		numPorts = 128
	}
	return types.HostVirtualSwitch{
		Name: name, Key: vswitchKeyPrefix + name,
		NumPorts: numPorts, NumPortsAvailable: numPorts, Mtu: 1500,
		Spec: types.HostVirtualSwitchSpec{NumPorts: numPorts, Mtu: 1500},
	}
}

// change runs fn on the network information under the host's lock (the
// network system's own is held by the call).
func (w *netWrapper) change(ctx *simulator.Context, fn func(n *types.HostNetworkInfo) types.BaseMethodFault) types.BaseMethodFault {
	h, ok := ctx.Map.Get(w.Host.Self).(*simulator.HostSystem)
	if !ok || w.NetworkInfo == nil {
		return &types.HostNotConnected{}
	}
	var fault types.BaseMethodFault
	ctx.WithLock(h, func() { fault = fn(w.NetworkInfo) })
	return fault
}

func vswitchIndex(n *types.HostNetworkInfo, name string) int {
	for i, vs := range n.Vswitch {
		if vs.Name == name {
			return i
		}
	}
	return -1
}

func portgroupIndex(n *types.HostNetworkInfo, name string) int {
	for i, pg := range n.Portgroup {
		if pg.Spec.Name == name {
			return i
		}
	}
	return -1
}

func removeString(a []string, s string) []string {
	out := a[:0:0]
	for _, x := range a {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

func applySwitchSpec(vs *types.HostVirtualSwitch, spec types.HostVirtualSwitchSpec) {
	if spec.NumPorts > 0 {
		vs.NumPorts, vs.Spec.NumPorts = spec.NumPorts, spec.NumPorts
		vs.NumPortsAvailable = spec.NumPorts
	}
	if spec.Mtu > 0 {
		vs.Mtu, vs.Spec.Mtu = spec.Mtu, spec.Mtu
	}
	if spec.Policy != nil {
		vs.Spec.Policy = spec.Policy
	}
	if br, ok := spec.Bridge.(*types.HostVirtualSwitchBondBridge); ok && br != nil {
		vs.Spec.Bridge = br
		vs.Pnic = nil
		for _, n := range br.NicDevice {
			vs.Pnic = append(vs.Pnic, pnicKeyPrefix+n)
		}
	}
}

// UpdateDnsConfig sets the host's DNS servers, search domains and names.
func (w *netWrapper) UpdateDnsConfig(ctx *simulator.Context, req *types.UpdateDnsConfig) soap.HasFault {
	body := &methods.UpdateDnsConfigBody{}
	var cfg *types.HostDnsConfig
	switch c := req.Config.(type) {
	case *types.HostDnsConfig:
		cfg = c
	case *types.HostDnsConfigSpec:
		cfg = &c.HostDnsConfig
	}
	if cfg == nil {
		body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "config"})
		return body
	}
	dns := *cfg
	dns.Address = append([]string(nil), cfg.Address...)
	dns.SearchDomain = append([]string(nil), cfg.SearchDomain...)
	if fault := w.change(ctx, func(n *types.HostNetworkInfo) types.BaseMethodFault {
		n.DnsConfig = &dns
		w.DnsConfig = &dns
		return nil
	}); fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	body.Res = &types.UpdateDnsConfigResponse{}
	return body
}

// AddVirtualSwitch adds a standard vSwitch.
func (w *netWrapper) AddVirtualSwitch(ctx *simulator.Context, req *types.AddVirtualSwitch) soap.HasFault {
	body := &methods.AddVirtualSwitchBody{}
	fault := w.change(ctx, func(n *types.HostNetworkInfo) types.BaseMethodFault {
		if req.VswitchName == "" {
			return &types.InvalidArgument{InvalidProperty: "vswitchName"}
		}
		if vswitchIndex(n, req.VswitchName) >= 0 {
			return &types.AlreadyExists{Name: req.VswitchName}
		}
		vs := newVswitch(req.VswitchName, 0)
		if req.Spec != nil {
			applySwitchSpec(&vs, *req.Spec)
		}
		n.Vswitch = append(n.Vswitch, vs)
		return nil
	})
	if fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	body.Res = &types.AddVirtualSwitchResponse{}
	return body
}

// UpdateVirtualSwitch changes a vSwitch's ports, MTU, uplinks or policy.
func (w *netWrapper) UpdateVirtualSwitch(ctx *simulator.Context, req *types.UpdateVirtualSwitch) soap.HasFault {
	body := &methods.UpdateVirtualSwitchBody{}
	fault := w.change(ctx, func(n *types.HostNetworkInfo) types.BaseMethodFault {
		i := vswitchIndex(n, req.VswitchName)
		if i < 0 {
			return &types.NotFound{}
		}
		applySwitchSpec(&n.Vswitch[i], req.Spec)
		return nil
	})
	if fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	body.Res = &types.UpdateVirtualSwitchResponse{}
	return body
}

// RemoveVirtualSwitch removes a vSwitch and its port groups.
func (w *netWrapper) RemoveVirtualSwitch(ctx *simulator.Context, req *types.RemoveVirtualSwitch) soap.HasFault {
	body := &methods.RemoveVirtualSwitchBody{}
	fault := w.change(ctx, func(n *types.HostNetworkInfo) types.BaseMethodFault {
		i := vswitchIndex(n, req.VswitchName)
		if i < 0 {
			return &types.NotFound{}
		}
		n.Vswitch = append(n.Vswitch[:i:i], n.Vswitch[i+1:]...)
		var pgs []types.HostPortGroup
		for _, pg := range n.Portgroup {
			if pg.Spec.VswitchName != req.VswitchName {
				pgs = append(pgs, pg)
			}
		}
		n.Portgroup = pgs
		return nil
	})
	if fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	body.Res = &types.RemoveVirtualSwitchResponse{}
	return body
}

// AddPortGroup adds a port group to a vSwitch.
func (w *netWrapper) AddPortGroup(ctx *simulator.Context, req *types.AddPortGroup) soap.HasFault {
	body := &methods.AddPortGroupBody{}
	spec := req.Portgrp
	fault := w.change(ctx, func(n *types.HostNetworkInfo) types.BaseMethodFault {
		if spec.Name == "" {
			return &types.InvalidArgument{InvalidProperty: "portgrp.name"}
		}
		i := vswitchIndex(n, spec.VswitchName)
		if i < 0 {
			return &types.NotFound{}
		}
		if portgroupIndex(n, spec.Name) >= 0 {
			return &types.AlreadyExists{Name: spec.Name}
		}
		n.Vswitch[i].Portgroup = append(append([]string(nil), n.Vswitch[i].Portgroup...), portgroupKeyPrefix+spec.Name)
		n.Portgroup = append(n.Portgroup, types.HostPortGroup{Key: portgroupKeyPrefix + spec.Name, Vswitch: n.Vswitch[i].Key, Spec: spec})
		return nil
	})
	if fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	body.Res = &types.AddPortGroupResponse{}
	return body
}

// UpdatePortGroup changes a port group (VLAN, vSwitch, name, policy).
func (w *netWrapper) UpdatePortGroup(ctx *simulator.Context, req *types.UpdatePortGroup) soap.HasFault {
	body := &methods.UpdatePortGroupBody{}
	spec := req.Portgrp
	fault := w.change(ctx, func(n *types.HostNetworkInfo) types.BaseMethodFault {
		p := portgroupIndex(n, req.PgName)
		if p < 0 {
			return &types.NotFound{}
		}
		if spec.Name == "" {
			spec.Name = req.PgName
		}
		if spec.VswitchName == "" {
			spec.VswitchName = n.Portgroup[p].Spec.VswitchName
		}
		to := vswitchIndex(n, spec.VswitchName)
		if to < 0 {
			return &types.NotFound{}
		}
		if spec.Name != req.PgName && portgroupIndex(n, spec.Name) >= 0 {
			return &types.AlreadyExists{Name: spec.Name}
		}
		for i := range n.Vswitch {
			n.Vswitch[i].Portgroup = removeString(n.Vswitch[i].Portgroup, portgroupKeyPrefix+req.PgName)
		}
		n.Vswitch[to].Portgroup = append(n.Vswitch[to].Portgroup, portgroupKeyPrefix+spec.Name)
		pg := &n.Portgroup[p]
		pg.Key, pg.Vswitch, pg.Spec = portgroupKeyPrefix+spec.Name, n.Vswitch[to].Key, spec
		return nil
	})
	if fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	body.Res = &types.UpdatePortGroupResponse{}
	return body
}

// RemovePortGroup removes a port group.
func (w *netWrapper) RemovePortGroup(ctx *simulator.Context, req *types.RemovePortGroup) soap.HasFault {
	body := &methods.RemovePortGroupBody{}
	fault := w.change(ctx, func(n *types.HostNetworkInfo) types.BaseMethodFault {
		p := portgroupIndex(n, req.PgName)
		if p < 0 {
			return &types.NotFound{}
		}
		n.Portgroup = append(n.Portgroup[:p:p], n.Portgroup[p+1:]...)
		for i := range n.Vswitch {
			n.Vswitch[i].Portgroup = removeString(n.Vswitch[i].Portgroup, portgroupKeyPrefix+req.PgName)
		}
		return nil
	})
	if fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	body.Res = &types.RemovePortGroupResponse{}
	return body
}
