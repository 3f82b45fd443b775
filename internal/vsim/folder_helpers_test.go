package vsim

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25/types"
)

// rawGet GETs https://addr/folder/p?dsName=ds with the given credentials
// (any of them may be empty) and returns the status and body.
func rawGet(t *testing.T, addr, ds, p string, auth func(*http.Request)) (int, []byte) {
	t.Helper()
	res := rawDo(t, http.MethodGet, folderURL(addr, ds, p), auth)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b
}

func folderURL(addr, ds, p string) string {
	u := url.URL{Scheme: "https", Host: addr, Path: "/folder/" + p, RawQuery: url.Values{"dsName": {ds}}.Encode()}
	return u.String()
}

func rawDo(t *testing.T, method, u string, auth func(*http.Request)) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != nil {
		auth(req)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// withCookie authenticates a request with c's session cookie.
func withCookie(c *govmomi.Client) func(*http.Request) {
	return func(r *http.Request) {
		u := c.URL()
		for _, ck := range c.Client.Client.Jar.Cookies(u) {
			r.AddCookie(ck)
		}
	}
}

func withTicket(id string) func(*http.Request) {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "vmware_cgi_ticket", Value: id}) }
}

// acquireTicket asks for a service ticket for method at u.
func acquireTicket(t *testing.T, c *govmomi.Client, method, u string) types.SessionManagerGenericServiceTicket {
	t.Helper()
	tk, err := session.NewManager(c.Client).AcquireGenericServiceTicket(context.Background(), &types.SessionManagerHttpServiceRequestSpec{Url: u, Method: method})
	if err != nil {
		t.Fatal(err)
	}
	return *tk
}

// hostOf returns the name of the host the VM runs on.
func hostOf(t *testing.T, s *Sim, c *govmomi.Client, vmName string) string {
	t.Helper()
	vm := findVM(t, c, vmName)
	hs := s.hostOfVM(vm.Reference())
	if hs == nil {
		t.Fatalf("%s runs on no host", vmName)
	}
	return hs.name
}

func drain(res *http.Response) (int64, error) { return io.Copy(io.Discard, res.Body) }
