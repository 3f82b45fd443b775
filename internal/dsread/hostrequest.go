package dsread

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

// HostRequest sends one request for raw, a URL a host gave whose host
// part is "*" (a configuration bundle's, from HostFirmwareSystem), to that
// host's own address: with a service ticket and the host's certificate
// checked, within the session's budget, retried as the data path's
// requests are. When the session is with the ESXi host itself, the
// endpoint's address and cookie are used. Only the host serves such URLs:
// a host whose own address cannot be used fails with ErrHostUnreachable,
// never through vCenter. body, when not nil, is sent from its start on
// each try; handle takes the answer (any status but 401, 500, 502, 503 and
// 504, which are retried).
func HostRequest(ctx context.Context, c *vim25.Client, host types.ManagedObjectReference, method, raw string, body []byte, handle func(*http.Response) error) error {
	a := accessOf(c)
	r, err := a.route(ctx, nil, &host)
	if err != nil {
		return err
	}
	parsed, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("URL %q: %w", raw, err)
	}
	at := func(direct bool) (*url.URL, error) {
		u := *parsed
		u.Scheme = "https" // ESXi's reverse proxy serves it over TLS too
		u.Host = r.addr
		if !direct {
			u.Host = c.URL().Host
		}
		return &u, nil
	}
	hc, _ := sessionClient(c)
	return a.roundTrip(ctx, request{route: r, name: parsed.Path, url: at, method: method, session: hc, hostOnly: c.IsVC(),
		prep: func(req *http.Request) error {
			if body != nil {
				req.Body = io.NopCloser(bytes.NewReader(body))
				req.ContentLength = int64(len(body))
				req.Header.Set("Content-Type", "application/octet-stream")
			}
			return nil
		}, handle: handle})
}
