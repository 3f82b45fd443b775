package vsim

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

func findHosts(t testing.TB, c *govmomi.Client) map[string]*object.HostSystem {
	t.Helper()
	hosts, err := find.NewFinder(c.Client).HostSystemList(context.Background(), "*/*")
	if err != nil {
		hosts, err = find.NewFinder(c.Client).HostSystemList(context.Background(), "*")
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*object.HostSystem{}
	for _, h := range hosts {
		name, err := h.ObjectName(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out[name] = h
	}
	return out
}

func hostProps(t testing.TB, c *govmomi.Client, h *object.HostSystem) mo.HostSystem {
	t.Helper()
	var m mo.HostSystem
	if err := h.Properties(context.Background(), h.Reference(), []string{"name", "config", "configManager", "runtime", "summary", "hardware"}, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// hostView is what a host-configuration client reads through the API.
type hostView struct {
	NTP, NTPdt             []string
	DNS, DNSns             types.HostDnsConfig
	Syslog                 string
	Vswitches, Portgroups  []string
	Options                map[string]any
	BootTime               time.Time
	InMaintenance          bool
	UUID, Build            string
	FirmwareSystem, DTSyst types.ManagedObjectReference
}

func viewHost(t testing.TB, c *govmomi.Client, h *object.HostSystem) hostView {
	t.Helper()
	ctx := context.Background()
	m := hostProps(t, c, h)
	v := hostView{Options: map[string]any{}, BootTime: *m.Runtime.BootTime, InMaintenance: m.Runtime.InMaintenanceMode,
		UUID: m.Hardware.SystemInfo.Uuid, Build: m.Config.Product.Build}
	if m.ConfigManager.FirmwareSystem == nil || m.ConfigManager.DateTimeSystem == nil {
		t.Fatalf("%s: configManager lacks firmwareSystem or dateTimeSystem", m.Name)
	}
	v.FirmwareSystem, v.DTSyst = *m.ConfigManager.FirmwareSystem, *m.ConfigManager.DateTimeSystem
	v.NTP = m.Config.DateTimeInfo.NtpConfig.Server
	var dt mo.HostDateTimeSystem
	if err := h.Properties(ctx, v.DTSyst, []string{"dateTimeInfo"}, &dt); err != nil {
		t.Fatal(err)
	}
	v.NTPdt = dt.DateTimeInfo.NtpConfig.Server
	v.DNS = *m.Config.Network.DnsConfig.(*types.HostDnsConfig)
	var ns mo.HostNetworkSystem
	if err := h.Properties(ctx, *m.ConfigManager.NetworkSystem, []string{"dnsConfig", "networkInfo"}, &ns); err != nil {
		t.Fatal(err)
	}
	v.DNSns = *ns.DnsConfig.(*types.HostDnsConfig)
	for _, vs := range m.Config.Network.Vswitch {
		v.Vswitches = append(v.Vswitches, vs.Name+":"+strings.Join(vs.Portgroup, ","))
	}
	for _, pg := range m.Config.Network.Portgroup {
		v.Portgroups = append(v.Portgroups, pg.Spec.Name+"@"+pg.Spec.VswitchName)
	}
	if !reflect.DeepEqual(ns.NetworkInfo.Vswitch, m.Config.Network.Vswitch) || !reflect.DeepEqual(ns.NetworkInfo.Portgroup, m.Config.Network.Portgroup) {
		t.Fatalf("%s: networkSystem.networkInfo and config.network differ", m.Name)
	}
	for _, o := range m.Config.Option {
		v.Options[o.GetOptionValue().Key] = o.GetOptionValue().Value
	}
	om := object.NewOptionManager(c.Client, *m.ConfigManager.AdvancedOption)
	opts, err := om.Query(ctx, "Syslog.global.logHost")
	if err != nil {
		t.Fatal(err)
	}
	v.Syslog = opts[0].GetOptionValue().Value.(string)
	return v
}

// sameConfig compares the parts a restore replaces.
func sameConfig(a, b hostView) bool {
	return reflect.DeepEqual(a.NTP, b.NTP) && reflect.DeepEqual(a.NTPdt, b.NTPdt) &&
		reflect.DeepEqual(a.DNS, b.DNS) && reflect.DeepEqual(a.DNSns, b.DNSns) && a.Syslog == b.Syslog &&
		reflect.DeepEqual(a.Vswitches, b.Vswitches) && reflect.DeepEqual(a.Portgroups, b.Portgroups) &&
		reflect.DeepEqual(a.Options, b.Options)
}

// bundleURL resolves an ESXi "http://*/..." URL of firmware system fw:
// "*" is the host's own address (on the ESX model, the SDK's).
func bundleURL(t testing.TB, c *govmomi.Client, raw string, fw types.ManagedObjectReference) *url.URL {
	t.Helper()
	if !strings.HasPrefix(raw, "http://*/") {
		t.Fatalf("URL %q does not start with http://*/ as ESXi's do", raw)
	}
	u, err := c.Client.ParseURL(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Scheme = c.Client.URL().Scheme
	if host, ok := strings.CutPrefix(fw.Value, "firmwareSystem-"); ok { // vCenter: the host's
		var m mo.HostSystem
		ref := types.ManagedObjectReference{Type: "HostSystem", Value: host}
		if err := property.DefaultCollector(c.Client).RetrieveOne(context.Background(), ref, []string{"summary.config.port"}, &m); err != nil {
			t.Fatal(err)
		}
		u.Host = fmt.Sprintf("127.0.0.1:%d", m.Summary.Config.Port)
	}
	return u
}

func backupBundle(t testing.TB, c *govmomi.Client, fw types.ManagedObjectReference) (*url.URL, []byte) {
	t.Helper()
	ctx := context.Background()
	res, err := methods.BackupFirmwareConfiguration(ctx, c.Client, &types.BackupFirmwareConfiguration{This: fw})
	if err != nil {
		t.Fatal(err)
	}
	u := bundleURL(t, c, res.Returnval, fw)
	rc, n, err := c.Client.Download(ctx, u, &soap.DefaultDownload)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	if int64(len(data)) != n {
		t.Fatalf("GET %s: %d bytes, Content-Length %d", u, len(data), n)
	}
	return u, data
}

func uploadBundle(t *testing.T, c *govmomi.Client, fw types.ManagedObjectReference, data []byte) {
	t.Helper()
	ctx := context.Background()
	res, err := methods.QueryFirmwareConfigUploadURL(ctx, c.Client, &types.QueryFirmwareConfigUploadURL{This: fw})
	if err != nil {
		t.Fatal(err)
	}
	p := soap.DefaultUpload
	p.ContentLength = int64(len(data))
	if err := c.Client.Upload(ctx, bytes.NewReader(data), bundleURL(t, c, res.Returnval, fw), &p); err != nil {
		t.Fatal(err)
	}
}

func restoreBundle(c *govmomi.Client, fw types.ManagedObjectReference, force bool) error {
	_, err := methods.RestoreFirmwareConfiguration(context.Background(), c.Client, &types.RestoreFirmwareConfiguration{This: fw, Force: force})
	return err
}

func setMaintenance(t *testing.T, h *object.HostSystem, on bool) {
	t.Helper()
	ctx := context.Background()
	var task *object.Task
	var err error
	if on {
		task, err = h.EnterMaintenanceMode(ctx, 0, false, nil)
	} else {
		task, err = h.ExitMaintenanceMode(ctx, 0)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

func untar(t *testing.T, data []byte) map[string]string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = string(b)
	}
}

func TestEveryHostHasItsOwnFirmwareAndDateTimeSystemAndBuild(t *testing.T) {
	for _, tc := range []struct {
		model string
		hosts int
	}{{"esx", 1}, {"vpx", 4}} {
		t.Run(tc.model, func(t *testing.T) {
			_, c := startSim(t, Options{Model: tc.model, VMs: 1})
			hosts := findHosts(t, c)
			if len(hosts) != tc.hosts {
				t.Fatalf("%d hosts, want %d", len(hosts), tc.hosts)
			}
			seen := map[string]string{}
			for name, h := range hosts {
				v := viewHost(t, c, h)
				for _, k := range []string{"fw:" + v.FirmwareSystem.Value, "dt:" + v.DTSyst.Value, "uuid:" + v.UUID, "build:" + v.Build} {
					if other, dup := seen[k]; dup {
						t.Errorf("%s and %s share %s", name, other, k)
					}
					seen[k] = name
				}
				if len(v.NTP) == 0 || len(v.DNS.Address) == 0 || v.Syslog == "" || len(v.Vswitches) == 0 {
					t.Errorf("%s: no NTP, DNS, syslog or vSwitch: %+v", name, v)
				}
			}
		})
	}
}

func TestBundleIsATgzOfTheHostsFacts(t *testing.T) {
	_, c := startSim(t, Options{VMs: 1})
	for name, h := range findHosts(t, c) {
		t.Run(name, func(t *testing.T) {
			v := viewHost(t, c, h)
			u, data := backupBundle(t, c, v.FirmwareSystem)
			if !strings.HasSuffix(u.Path, "/configBundle-"+name+".tgz") || !strings.HasPrefix(u.Path, "/downloads/") {
				t.Errorf("bundle URL %s", u)
			}
			files := untar(t, data)
			for _, want := range []struct{ file, text string }{
				{"Manifest.txt", "UUID=" + v.UUID + "\n"},
				{"Manifest.txt", "BUILD=" + v.Build + "\n"},
				{"Manifest.txt", "HOSTNAME=" + name + "\n"},
				{"etc/ntp.conf", "server " + v.NTP[0] + "\n"},
				{"etc/ntp.conf", "server " + v.NTP[1] + "\n"},
				{"etc/resolv.conf", "nameserver " + v.DNS.Address[0] + "\n"},
				{"etc/resolv.conf", "search " + strings.Join(v.DNS.SearchDomain, " ") + "\n"},
				{"etc/vmware/esx.conf", `/adv/Syslog/global/logHost = "` + v.Syslog + `"`},
				{"etc/vmware/esx.conf", `/net/vswitch/child[0000]/name = "vSwitch0"`},
				{"etc/vmware/esx.conf", `/net/vswitch/child[0000]/portgroup/child[0000]/name = "VM Network"`},
				{"etc/vmware/esx.conf", `/system/uuid = "` + v.UUID + `"`},
			} {
				if !strings.Contains(files[want.file], want.text) {
					t.Errorf("%s lacks %q:\n%s", want.file, want.text, files[want.file])
				}
			}
			if _, again := backupBundle(t, c, v.FirmwareSystem); !bytes.Equal(again, data) {
				t.Error("two backups of an unchanged host differ")
			}
		})
	}
}

// changeHost changes what a restore puts back: NTP, DNS, syslog, a vSwitch
// with a port group, an advanced setting.
func changeHost(t *testing.T, c *govmomi.Client, h *object.HostSystem) {
	t.Helper()
	ctx := context.Background()
	m := hostProps(t, c, h)
	dt := object.NewHostDateTimeSystem(c.Client, *m.ConfigManager.DateTimeSystem)
	if err := dt.UpdateConfig(ctx, types.HostDateTimeConfig{NtpConfig: &types.HostNtpConfig{Server: []string{"time.other.test # a comment"}}}); err != nil {
		t.Fatal(err)
	}
	ns := object.NewHostNetworkSystem(c.Client, *m.ConfigManager.NetworkSystem)
	if _, err := methods.UpdateDnsConfig(ctx, c.Client, &types.UpdateDnsConfig{This: ns.Reference(), Config: &types.HostDnsConfig{
		HostName: "renamed", DomainName: "other.test", Address: []string{"192.0.2.53"}, SearchDomain: []string{"other.test"}}}); err != nil {
		t.Fatal(err)
	}
	if err := ns.AddVirtualSwitch(ctx, "vSwitch9", &types.HostVirtualSwitchSpec{NumPorts: 64, Mtu: 9000}); err != nil {
		t.Fatal(err)
	}
	if err := ns.AddPortGroup(ctx, types.HostPortGroupSpec{Name: "Backup Net", VswitchName: "vSwitch9", VlanId: 42}); err != nil {
		t.Fatal(err)
	}
	om := object.NewOptionManager(c.Client, *m.ConfigManager.AdvancedOption)
	if err := om.Update(ctx, []types.BaseOptionValue{
		&types.OptionValue{Key: "Syslog.global.logHost", Value: "tcp://elsewhere.test:1514"},
		&types.OptionValue{Key: "UserVars.ESXiShellTimeOut", Value: int64(1)},
	}); err != nil {
		t.Fatal(err)
	}
}

func TestAPIChangesShowInTheHostsConfiguration(t *testing.T) {
	_, c := startSim(t, Options{Model: "esx", VMs: 1})
	for _, h := range findHosts(t, c) {
		before := viewHost(t, c, h)
		changeHost(t, c, h)
		after := viewHost(t, c, h)
		for _, check := range []struct {
			what      string
			got, want any
		}{
			{"config.dateTimeInfo NTP", after.NTP, []string{"time.other.test"}},
			{"dateTimeSystem NTP", after.NTPdt, []string{"time.other.test"}},
			{"config.network.dnsConfig", after.DNS.Address, []string{"192.0.2.53"}},
			{"networkSystem.dnsConfig", after.DNSns.SearchDomain, []string{"other.test"}},
			{"syslog", after.Syslog, "tcp://elsewhere.test:1514"},
			{"vSwitches", after.Vswitches[len(after.Vswitches)-1], "vSwitch9:key-vim.host.PortGroup-Backup Net"},
			{"port groups", after.Portgroups[len(after.Portgroups)-1], "Backup Net@vSwitch9"},
			{"vSwitch count", len(after.Vswitches), len(before.Vswitches) + 1},
		} {
			if !reflect.DeepEqual(check.got, check.want) {
				t.Errorf("%s = %v, want %v", check.what, check.got, check.want)
			}
		}
	}
}

func TestRestoreBringsBackTheBundlesConfiguration(t *testing.T) {
	for _, model := range []string{"esx", "vpx"} {
		t.Run(model, func(t *testing.T) {
			s, c := startSim(t, Options{Model: model, VMs: 1})
			for name, h := range findHosts(t, c) {
				orig := viewHost(t, c, h)
				_, data := backupBundle(t, c, orig.FirmwareSystem)
				changeHost(t, c, h)
				if sameConfig(viewHost(t, c, h), orig) {
					t.Fatalf("%s: the changes did not change the configuration", name)
				}
				setMaintenance(t, h, true)
				uploadBundle(t, c, orig.FirmwareSystem, data)
				if err := restoreBundle(c, orig.FirmwareSystem, false); err != nil {
					t.Fatalf("%s: restore: %v", name, err)
				}
				got := viewHost(t, c, h)
				if !sameConfig(got, orig) {
					t.Errorf("%s: after the restore\n got %+v\nwant %+v", name, got, orig)
				}
				if !got.BootTime.After(orig.BootTime) {
					t.Errorf("%s: bootTime %v not after %v: no reboot", name, got.BootTime, orig.BootTime)
				}
				if !got.InMaintenance {
					t.Errorf("%s: left maintenance mode", name)
				}
				if _, again := backupBundle(t, c, orig.FirmwareSystem); !bytes.Equal(again, data) {
					t.Errorf("%s: a backup after the restore differs from the restored bundle", name)
				}
				if up, _ := s.UploadedBundle(name); up != nil {
					t.Errorf("%s: the uploaded bundle is still there after the restore", name)
				}
				setMaintenance(t, h, false)
			}
		})
	}
}

func TestRestoreRefusesWhatESXiRefuses(t *testing.T) {
	s, c := startSim(t, Options{VMs: 1})
	hosts := findHosts(t, c)
	names := s.Hosts()
	a, b := hosts[names[0]], hosts[names[1]]
	va, vb := viewHost(t, c, a), viewHost(t, c, b)
	_, bundleA := backupBundle(t, c, va.FirmwareSystem)
	_, bundleB := backupBundle(t, c, vb.FirmwareSystem)

	var tarNoManifest bytes.Buffer
	zw := gzip.NewWriter(&tarNoManifest)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "etc/ntp.conf", Mode: 0o644, Size: 3})
	tw.Write([]byte("x\n\n"))
	tw.Close()
	zw.Close()

	for _, tc := range []struct {
		name        string
		maintenance bool
		upload      []byte // nil: none
		setBuild    string
		force       bool
		check       func(error) bool
	}{
		{"a host not in maintenance mode is InvalidState", false, bundleA, "", false, func(err error) bool { var f *types.InvalidState; return isFault(err, &f) }},
		{"no uploaded bundle is FileNotFound", true, nil, "", false, func(err error) bool { var f *types.FileNotFound; return isFault(err, &f) }},
		{"another host's bundle is MismatchedBundle", true, bundleB, "", false, func(err error) bool {
			var f *types.MismatchedBundle
			return isFault(err, &f) && f.BundleUuid == vb.UUID && f.HostUuid == va.UUID && f.BundleBuildNumber != f.HostBuildNumber && f.HostBuildNumber != 0
		}},
		{"a bundle of an older build is MismatchedBundle", true, bundleA, "99999999", false, func(err error) bool {
			var f *types.MismatchedBundle
			return isFault(err, &f) && f.BundleUuid == f.HostUuid && f.HostBuildNumber == 99999999
		}},
		{"a truncated bundle is InvalidBundle", true, bundleA[:len(bundleA)/2], "", false, func(err error) bool { var f *types.InvalidBundle; return isFault(err, &f) }},
		{"a bundle missing its last bytes is InvalidBundle", true, bundleA[:len(bundleA)-4], "", true, func(err error) bool { var f *types.InvalidBundle; return isFault(err, &f) }},
		{"a file that is not gzip is InvalidBundle", true, []byte("<html>proxy error</html>"), "", true, func(err error) bool { var f *types.InvalidBundle; return isFault(err, &f) }},
		{"a tar without Manifest.txt is InvalidBundle", true, tarNoManifest.Bytes(), "", true, func(err error) bool {
			var f *types.InvalidBundle
			return isFault(err, &f) && strings.Contains(f.Text, "Manifest.txt")
		}},
		{"another host's bundle with force is applied", true, bundleB, "", true, func(err error) bool { return err == nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setMaintenance(t, a, tc.maintenance)
			if tc.upload != nil {
				uploadBundle(t, c, va.FirmwareSystem, tc.upload)
			} else if up, _ := s.UploadedBundle(names[0]); up != nil {
				t.Fatal("a bundle is uploaded already")
			}
			if tc.setBuild != "" {
				s.SetHostBuild(names[0], tc.setBuild)
				defer s.SetHostBuild(names[0], va.Build)
			}
			before := viewHost(t, c, a)
			err := restoreBundle(c, va.FirmwareSystem, tc.force)
			if !tc.check(err) {
				t.Fatalf("restore: %v (%T)", err, err)
			}
			after := viewHost(t, c, a)
			if err != nil && (!sameConfig(before, after) || !after.BootTime.Equal(before.BootTime)) {
				t.Error("a refused restore changed the host")
			}
			if err == nil {
				want := vb
				if !reflect.DeepEqual(after.NTP, want.NTP) || !reflect.DeepEqual(after.DNS, want.DNS) || after.Syslog != want.Syslog {
					t.Errorf("forced restore: got %+v, want %s's %+v", after, names[1], want)
				}
			}
			// leave nothing uploaded for the next case
			if up, _ := s.UploadedBundle(names[0]); up != nil {
				setMaintenance(t, a, true)
				uploadBundle(t, c, va.FirmwareSystem, bundleA)
				if err := restoreBundle(c, va.FirmwareSystem, true); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestDownloadCutMidwayIsAShortRead(t *testing.T) {
	s, c := startSim(t, Options{Model: "esx", VMs: 1})
	ctx := context.Background()
	for _, h := range findHosts(t, c) {
		v := viewHost(t, c, h)
		_, whole := backupBundle(t, c, v.FirmwareSystem)
		s.InjectDownloadFault(DownloadFault{After: 100})
		res, err := methods.BackupFirmwareConfiguration(ctx, c.Client, &types.BackupFirmwareConfiguration{This: v.FirmwareSystem})
		if err != nil {
			t.Fatal(err)
		}
		rc, n, err := c.Client.Download(ctx, bundleURL(t, c, res.Returnval, v.FirmwareSystem), &soap.DefaultDownload)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err == nil || n != int64(len(whole)) || len(got) != 100 || !bytes.Equal(got, whole[:100]) {
			t.Fatalf("cut download: %d of Content-Length %d bytes (whole %d), err %v", len(got), n, len(whole), err)
		}
		// the fault strikes once
		if _, again := backupBundle(t, c, v.FirmwareSystem); !bytes.Equal(again, whole) {
			t.Fatal("the next download is not whole")
		}
	}
}

func TestBundleURLsNeedALoggedInSession(t *testing.T) {
	_, c := startSim(t, Options{Model: "esx", VMs: 1})
	ctx := context.Background()
	for _, h := range findHosts(t, c) {
		v := viewHost(t, c, h)
		dl, _ := backupBundle(t, c, v.FirmwareSystem)
		res, err := methods.QueryFirmwareConfigUploadURL(ctx, c.Client, &types.QueryFirmwareConfigUploadURL{This: v.FirmwareSystem})
		if err != nil {
			t.Fatal(err)
		}
		up := bundleURL(t, c, res.Returnval, v.FirmwareSystem)
		anon := &http.Client{Transport: c.Client.DefaultTransport()}
		for _, req := range []struct {
			method string
			u      *url.URL
			cookie string
		}{
			{http.MethodGet, dl, ""},
			{http.MethodGet, dl, "not-a-session"},
			{http.MethodPut, up, ""},
		} {
			r, _ := http.NewRequest(req.method, req.u.String(), strings.NewReader("x"))
			if req.cookie != "" {
				r.AddCookie(&http.Cookie{Name: soap.SessionCookieName, Value: req.cookie})
			}
			resp, err := anon.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with cookie %q: %s, want 401", req.method, req.u.Path, req.cookie, resp.Status)
			}
		}
	}
}

func TestBundleDecodesToWhatItEncodes(t *testing.T) {
	b := &bundleConfig{
		Hostname: "h", UUID: "u-1", Version: "8.0.2", Build: "123", TimeZone: "UTC",
		NTP: []string{"a", "b"}, DNSHost: "h", DNSDomain: "d.test", DNSServers: []string{"10.0.0.1"}, DNSSearch: []string{"d.test", "e.test"},
		Vswitches:  []bundleVswitch{{Name: "vSwitch0", NumPorts: 128, MTU: 1500, Nics: []string{"vmnic0", "vmnic1"}}, {Name: "v1", NumPorts: 8, MTU: 9000}},
		Portgroups: []bundlePortgroup{{Name: "A \"quoted\" name", Vswitch: "vSwitch0", VLAN: 4}, {Name: "B", Vswitch: "v1"}},
		Options:    []bundleOption{{"A.b", "1"}, {"Z.z", "with = sign"}},
	}
	got, err := decodeBundle(b.encode())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, b) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, b)
	}
}

func TestADisconnectedHostCannotBackUp(t *testing.T) {
	_, c := startSim(t, Options{VMs: 1})
	ctx := context.Background()
	for name, h := range findHosts(t, c) {
		v := viewHost(t, c, h)
		task, err := h.Disconnect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := task.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		_, err = methods.BackupFirmwareConfiguration(ctx, c.Client, &types.BackupFirmwareConfiguration{This: v.FirmwareSystem})
		var f *types.HostNotConnected
		if !isFault(err, &f) {
			t.Errorf("%s disconnected: backup gave %v, want HostNotConnected", name, err)
		}
		task, err = h.Reconnect(ctx, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := task.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		backupBundle(t, c, v.FirmwareSystem)
	}
}

// BenchmarkHostBundleBackup measures one BackupFirmwareConfiguration call
// plus the bundle's download, and reports the bundle's size.
func BenchmarkHostBundleBackup(b *testing.B) {
	s, err := Start(context.Background(), Options{Model: "esx", VMs: 1, DiskSize: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c, err := s.Client(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	var fw types.ManagedObjectReference
	for _, h := range findHosts(b, c) {
		fw = viewHost(b, c, h).FirmwareSystem
	}
	var size int
	b.ResetTimer()
	for range b.N {
		_, data := backupBundle(b, c, fw)
		size = len(data)
	}
	b.ReportMetric(float64(size), "bundle-bytes")
}
