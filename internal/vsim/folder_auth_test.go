package vsim

import (
	"net/http"
	"testing"
)

// /folder answers 401 to a request without credentials, at vCenter and
// at every host; a session cookie, HTTP Basic or a service ticket (once,
// for its URL and method) are let in.
func TestFolderNeedsAuthentication(t *testing.T) {
	s, c := startSim(t, Options{VMs: 1})
	host := hostOf(t, s, c, "VM1")
	hostAddr, err := s.HostAddress(host)
	if err != nil {
		t.Fatal(err)
	}
	const ds, file = "LocalDS_0", "VM1/VM1.vmdk"
	basic := func(r *http.Request) { pw, _ := s.URL.User.Password(); r.SetBasicAuth(s.URL.User.Username(), pw) }
	wrongBasic := func(r *http.Request) { r.SetBasicAuth(s.URL.User.Username(), "wrong") }
	for _, addr := range []string{s.URL.Host, hostAddr} {
		for _, tc := range []struct {
			name string
			auth func(*http.Request)
			want int
		}{
			{"nothing", nil, http.StatusUnauthorized},
			{"a wrong password", wrongBasic, http.StatusUnauthorized},
			{"an unknown ticket", withTicket("0123456789abcdef"), http.StatusUnauthorized},
			{"an unknown session cookie", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "vmware_soap_session", Value: "nope"}) }, http.StatusUnauthorized},
			{"HTTP Basic", basic, http.StatusOK},
			{"the session cookie", withCookie(c), http.StatusOK},
		} {
			if got, body := rawGet(t, addr, ds, file, tc.auth); got != tc.want {
				t.Errorf("%s with %s: %d %s, want %d", addr, tc.name, got, body, tc.want)
			}
		}
	}

	u := folderURL(hostAddr, ds, file)
	tk := acquireTicket(t, c, "httpGet", u)
	if tk.SslThumbprint == "" || tk.SslThumbprint == s.Thumbprint {
		t.Errorf("the ticket names thumbprint %q, want the host's own (vCenter's is %s)", tk.SslThumbprint, s.Thumbprint)
	}
	if got, _ := rawGet(t, hostAddr, ds, file, withTicket(tk.Id)); got != http.StatusOK {
		t.Fatalf("GET with a fresh ticket: %d", got)
	}
	if got, _ := rawGet(t, hostAddr, ds, file, withTicket(tk.Id)); got != http.StatusUnauthorized {
		t.Fatalf("GET with a used ticket: %d, want 401 (a ticket is good for one request)", got)
	}
	other := acquireTicket(t, c, "httpGet", u)
	if got, _ := rawGet(t, hostAddr, ds, "VM1/VM1.vmx", withTicket(other.Id)); got != http.StatusUnauthorized {
		t.Fatalf("GET of another file with a ticket: %d, want 401", got)
	}
	put := acquireTicket(t, c, "httpPut", u)
	if got, _ := rawGet(t, hostAddr, ds, file, withTicket(put.Id)); got != http.StatusUnauthorized {
		t.Fatalf("GET with a PUT ticket: %d, want 401", got)
	}
	if st := s.FolderStats(host); st.Unauthorized < 4 {
		t.Errorf("host stats %+v: want its 401s counted", st)
	}
}

// OpenFolder turns authentication off, for a test that needs it off.
func TestOpenFolderServesWithoutCredentials(t *testing.T) {
	s, _ := startSim(t, Options{VMs: 1, OpenFolder: true})
	if got, _ := rawGet(t, s.URL.Host, "LocalDS_0", "VM1/VM1.vmdk", nil); got != http.StatusOK {
		t.Fatalf("GET without credentials: %d", got)
	}
}
