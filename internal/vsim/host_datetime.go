package vsim

import (
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// hostDateTimeSystem is a host's HostDateTimeSystem (vcsim has none): the
// NTP servers and time zone, shown as its dateTimeInfo and as the host's
// config.dateTimeInfo. The clock is the simulator's, plus an offset that
// UpdateDateTime sets.
type hostDateTimeSystem struct {
	mo.HostDateTimeSystem
	s      *Sim
	host   types.ManagedObjectReference
	offset time.Duration
}

// setInfo sets dateTimeInfo here and on the host; the caller holds this
// object's lock, and the host's is taken here.
func (d *hostDateTimeSystem) setInfo(ctx *simulator.Context, h *simulator.HostSystem, info types.HostDateTimeInfo) {
	d.DateTimeInfo = info
	cp := info
	if info.NtpConfig != nil {
		ntp := *info.NtpConfig
		ntp.Server = append([]string(nil), info.NtpConfig.Server...)
		cp.NtpConfig = &ntp
	}
	ctx.WithLock(h, func() { h.Config.DateTimeInfo = &cp })
}

// UpdateDateTimeConfig sets the NTP servers and/or the time zone.
func (d *hostDateTimeSystem) UpdateDateTimeConfig(ctx *simulator.Context, req *types.UpdateDateTimeConfig) soap.HasFault {
	body := &methods.UpdateDateTimeConfigBody{}
	h, ok := ctx.Map.Get(d.host).(*simulator.HostSystem)
	if !ok {
		body.Fault_ = simulator.Fault("", &types.ManagedObjectNotFound{Obj: d.host})
		return body
	}
	info := d.DateTimeInfo
	cfg := req.Config
	if cfg.TimeZone != "" {
		if cfg.TimeZone != utcZone.Key {
			body.Fault_ = simulator.Fault("", withMessage(&types.InvalidArgument{InvalidProperty: "config.timeZone"},
				"unknown time zone "+cfg.TimeZone+" (the simulated hosts know UTC only)"))
			return body
		}
		info.TimeZone = utcZone
	}
	if cfg.NtpConfig != nil {
		var servers []string
		for _, srv := range cfg.NtpConfig.Server {
			// ESXi drops comments after '#'
			srv, _, _ = strings.Cut(srv, "#")
			if srv = strings.TrimSpace(srv); srv != "" {
				servers = append(servers, srv)
			}
		}
		info.NtpConfig = &types.HostNtpConfig{Server: servers}
	}
	if cfg.Protocol != "" {
		info.SystemClockProtocol = cfg.Protocol
	}
	d.setInfo(ctx, h, info)
	body.Res = &types.UpdateDateTimeConfigResponse{}
	return body
}

// QueryDateTime returns the host's clock.
func (d *hostDateTimeSystem) QueryDateTime(ctx *simulator.Context, req *types.QueryDateTime) soap.HasFault {
	return &methods.QueryDateTimeBody{Res: &types.QueryDateTimeResponse{Returnval: time.Now().Add(d.offset).UTC()}}
}

// UpdateDateTime sets the host's clock.
func (d *hostDateTimeSystem) UpdateDateTime(ctx *simulator.Context, req *types.UpdateDateTime) soap.HasFault {
	d.offset = time.Until(req.DateTime)
	return &methods.UpdateDateTimeBody{Res: &types.UpdateDateTimeResponse{}}
}

// QueryAvailableTimeZones lists the time zones UpdateDateTimeConfig accepts.
func (d *hostDateTimeSystem) QueryAvailableTimeZones(ctx *simulator.Context, req *types.QueryAvailableTimeZones) soap.HasFault {
	return &methods.QueryAvailableTimeZonesBody{Res: &types.QueryAvailableTimeZonesResponse{Returnval: []types.HostDateTimeSystemTimeZone{utcZone}}}
}

// RefreshDateTimeSystem does nothing: the information is always current.
func (d *hostDateTimeSystem) RefreshDateTimeSystem(ctx *simulator.Context, req *types.RefreshDateTimeSystem) soap.HasFault {
	return &methods.RefreshDateTimeSystemBody{Res: &types.RefreshDateTimeSystemResponse{}}
}
