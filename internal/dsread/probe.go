package dsread

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

// Reach is how the data path would reach one host's datastore files.
type Reach struct {
	Host    string // the host's name (the endpoint's address for an ESXi session)
	Address string // host:port of its own /folder; "" when it has none
	Direct  bool   // to the host itself; else through vCenter
	Why     string // why not directly, when not
	// Chosen: through vCenter because the profile says so
	// (Config.ThroughVCenter), not because the host cannot be reached.
	Chosen bool
}

// Probe says how the session's reads and writes of host's datastore
// files would go, without reading or changing anything (vmlua doctor):
// it connects to the host's own address as a read would, checking the
// host's certificate the same way (the profile's pin, else vCenter's
// record of it), and sends one request without credentials, whose answer
// (any status, 401 included) proves the host reachable. It asks for no
// service ticket and leaves the session's routes as they are. A
// certificate that is not the one expected is an error wrapping
// ErrHostCertificate: reads from that host are refused, never sent
// through vCenter instead. Another failure after connecting is an error
// too; a host that cannot be connected to is Direct false with why.
func Probe(ctx context.Context, c *vim25.Client, host types.ManagedObjectReference) (Reach, error) {
	if !c.IsVC() {
		return Reach{Host: c.URL().Host, Address: c.URL().Host, Direct: true}, nil
	}
	a := accessOf(c)
	r, err := a.newHostRoute(ctx, host)
	if err != nil {
		return Reach{}, err
	}
	out := Reach{Host: r.name, Address: r.addr}
	if r.via {
		out.Why, out.Chosen = r.why, a.cfg.ThroughVCenter
		return out, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*dialTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+r.addr+"/folder", nil)
	if err != nil {
		return out, err
	}
	if ua := c.UserAgent; ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	res, err := r.hc.Do(req)
	switch {
	case err == nil:
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		res.Body.Close()
		out.Direct = true
		return out, nil
	case errors.Is(err, ErrHostCertificate):
		return out, err
	case unreachable(err):
		out.Why = err.Error()
		return out, nil
	}
	return out, fmt.Errorf("host %s at %s: connected, but %w", r.name, r.addr, err)
}
