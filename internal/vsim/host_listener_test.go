package vsim

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// presented returns the SHA-1 thumbprint of the certificate served at addr.
func presented(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var info object.HostCertificateInfo
	info.FromCertificate(conn.ConnectionState().PeerCertificates[0])
	return info.ThumbprintSHA1
}

// Every host of the vCenter model serves /folder at an address of its
// own, with a certificate of its own, which vCenter reports as the host's
// config.certificate; its port is summary.config.port and its management
// address config.virtualNicManagerInfo's.
func TestHostsHaveAddressesAndCertificatesOfTheirOwn(t *testing.T) {
	s, c := startSim(t, Options{VMs: 1})
	ctx := context.Background()
	hosts, err := find.NewFinder(c.Client).HostSystemList(ctx, "*/*")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{s.Thumbprint: "vCenter"}
	for _, h := range hosts {
		var m mo.HostSystem
		if err := h.Properties(ctx, h.Reference(), []string{"name", "summary.config", "config.certificate"}, &m); err != nil {
			t.Fatal(err)
		}
		ips, err := h.ManagementIPs(ctx)
		if err != nil || len(ips) == 0 {
			t.Fatalf("%s: management IPs %v, %v", m.Name, ips, err)
		}
		addr := net.JoinHostPort(ips[0].String(), fmt.Sprint(m.Summary.Config.Port))
		if want, _ := s.HostAddress(m.Name); addr != want {
			t.Fatalf("%s: address from its properties %s, it serves at %s", m.Name, addr, want)
		}
		var info object.HostCertificateInfo
		if _, err := info.FromPEM(m.Config.Certificate); err != nil {
			t.Fatalf("%s: config.certificate: %v", m.Name, err)
		}
		got := presented(t, addr)
		if got != info.ThumbprintSHA1 || got != m.Summary.Config.SslThumbprint {
			t.Fatalf("%s presents %s; config.certificate is %s, summary.config.sslThumbprint %s", m.Name, got, info.ThumbprintSHA1, m.Summary.Config.SslThumbprint)
		}
		if other, dup := seen[got]; dup {
			t.Fatalf("%s has the certificate of %s", m.Name, other)
		}
		seen[got] = m.Name
	}
	if len(seen) < 3 {
		t.Fatalf("only %d distinct certificates", len(seen))
	}
}

// A host whose listener is down cannot be reached; it comes back on the
// same address. A swapped certificate vCenter does not know is presented
// while vCenter keeps reporting the old one.
func TestHostListenerControls(t *testing.T) {
	s, _ := startSim(t, Options{VMs: 1})
	host := s.Hosts()[0]
	addr, _ := s.HostAddress(host)
	old := presented(t, addr)
	if err := s.SetHostReachable(host, false); err != nil {
		t.Fatal(err)
	}
	if conn, err := net.Dial("tcp", addr); err == nil {
		conn.Close()
		t.Fatal("the host's address still accepts connections")
	}
	if err := s.SetHostReachable(host, true); err != nil {
		t.Fatal(err)
	}
	if got := presented(t, addr); got != old {
		t.Fatalf("after reopening: %s, want %s", got, old)
	}
	if err := s.SwapHostCertificate(host, false); err != nil {
		t.Fatal(err)
	}
	now := presented(t, addr)
	if now == old {
		t.Fatal("the certificate did not change")
	}
	if tp, _ := s.HostThumbprint(host); tp != now {
		t.Fatalf("HostThumbprint %s, presented %s", tp, now)
	}
}

// On the ESX model the SDK endpoint is the host.
func TestESXHostIsTheSDKEndpoint(t *testing.T) {
	s, _ := startSim(t, Options{Model: "esx", VMs: 1})
	host := s.Hosts()[0]
	if addr, _ := s.HostAddress(host); addr != s.URL.Host {
		t.Fatalf("host address %s, SDK %s", addr, s.URL.Host)
	}
	if tp, _ := s.HostThumbprint(host); tp != s.Thumbprint {
		t.Fatalf("host thumbprint %s, SDK %s", tp, s.Thumbprint)
	}
}

// VMSpec.Host places a VM on a host (the benchmark spreads VMs on two).
func TestVMsArePlacedOnTheirHost(t *testing.T) {
	probe, _ := startSim(t, Options{VMs: 1})
	hosts := probe.Hosts()
	s, _ := startSim(t, Options{Inventory: []VMSpec{{Name: "A", Host: hosts[0]}, {Name: "B", Host: hosts[1]}}})
	for name, want := range map[string]string{"A": hosts[0], "B": hosts[1]} {
		if got, err := s.HostOf(name); err != nil || got != want {
			t.Errorf("%s runs on %s (%v), want %s", name, got, err, want)
		}
	}
	if _, err := Start(t.Context(), Options{Inventory: []VMSpec{{Name: "C", Host: "nowhere"}}}); err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Errorf("a VM on an unknown host: %v", err)
	}
}

// On the vCenter model a host's configuration bundle is served by the
// host's own address (to a service ticket, Basic or a session cookie),
// not by vCenter's.
func TestBundlesAreServedByTheirHost(t *testing.T) {
	s, c := startSim(t, Options{VMs: 1})
	ctx := context.Background()
	names := s.Hosts()
	h := findHosts(t, c)[names[0]]
	v := viewHost(t, c, h)
	res, err := methods.BackupFirmwareConfiguration(ctx, c.Client, &types.BackupFirmwareConfiguration{This: v.FirmwareSystem})
	if err != nil {
		t.Fatal(err)
	}
	p := strings.TrimPrefix(res.Returnval, "http://*")
	addr, _ := s.HostAddress(names[0])
	get := func(host string, auth func(*http.Request)) int {
		r := rawDo(t, http.MethodGet, "https://"+host+p, auth)
		r.Body.Close()
		return r.StatusCode
	}
	if got := get(s.URL.Host, withCookie(c)); got != http.StatusNotFound {
		t.Errorf("vCenter's address: %d, want 404", got)
	}
	if got := get(addr, nil); got != http.StatusUnauthorized {
		t.Errorf("the host's address without credentials: %d, want 401", got)
	}
	tk := acquireTicket(t, c, "httpGet", "https://"+addr+p)
	if got := get(addr, withTicket(tk.Id)); got != http.StatusOK {
		t.Errorf("the host's address with a ticket: %d, want 200", got)
	}
	other, _ := s.HostAddress(names[1])
	if got := get(other, withCookie(c)); got != http.StatusNotFound {
		t.Errorf("another host's address: %d, want 404", got)
	}
}
