package host_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
)

const hostName = "DC0_H0"

// deq is a Lua deep comparison the test scripts share.
const deq = `
local function deq(a, b, path)
  path = path or "summary"
  if type(a) ~= type(b) then return false, path .. ": " .. tostring(a) .. " ~= " .. tostring(b) end
  if type(a) ~= "table" then
    if a == b then return true end
    return false, path .. ": " .. tostring(a) .. " ~= " .. tostring(b)
  end
  for k, v in pairs(a) do local ok, why = deq(v, b[k], path .. "." .. tostring(k)); if not ok then return false, why end end
  for k, v in pairs(b) do if a[k] == nil then return false, path .. "." .. tostring(k) .. " is new" end end
  return true
end
local host = require "host"
local h = host.find("name:` + hostName + `")[1]
assert(h, "no host ` + hostName + `")
`

func hostObj(t *testing.T, e *simtest.Env) *object.HostSystem {
	t.Helper()
	ctx := context.Background()
	f := find.NewFinder(e.Client.Client, true)
	dc, err := f.DefaultDatacenter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.SetDatacenter(dc)
	h, err := f.HostSystem(ctx, hostName)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// changeConfig changes the host's NTP servers and DNS behind the script's back.
func changeConfig(t *testing.T, e *simtest.Env) {
	ctx := context.Background()
	h := hostObj(t, e)
	dts, err := h.ConfigManager().DateTimeSystem(ctx)
	if err != nil {
		t.Error(err)
		return
	}
	if err := dts.UpdateConfig(ctx, types.HostDateTimeConfig{NtpConfig: &types.HostNtpConfig{Server: []string{"ntp.changed.example"}}}); err != nil {
		t.Error(err)
	}
	ns, err := h.ConfigManager().NetworkSystem(ctx)
	if err != nil {
		t.Error(err)
		return
	}
	if err := ns.UpdateDnsConfig(ctx, &types.HostDnsConfig{HostName: "changed", DomainName: "changed.example", Address: []string{"192.0.2.53"}}); err != nil {
		t.Error(err)
	}
}

// TestARestoreBringsBackTheBackedUpConfiguration is the round trip:
// backup, change NTP and DNS, enter maintenance, restore, and the summary
// equals the first.
func TestARestoreBringsBackTheBackedUpConfiguration(t *testing.T) {
	e := simtest.Start(t, vsim.Options{})
	script := deq + `
local before = h:config_summary()
assert(#before.ntp > 0 and #before.dns.servers > 0 and #before.vswitches > 0, "the summary is empty")
local m = h:backup_config(arg.dest)
assert(m.build == h.build and m.uuid == h.uuid and #m.sha256 == 64 and m.bytes > 0, "the sidecar is incomplete")
print("change the configuration")
local changed = h:config_summary()
assert(changed.ntp[1] == "ntp.changed.example", "the change did not take: " .. tostring(changed.ntp[1]))
assert(not deq(before, changed), "the change is not in the summary")
h:enter_maintenance()
assert(h.maintenance, "not in maintenance mode")
h:restore_config(arg.dest)
local ok, why = deq(before, h:config_summary())
assert(ok, "after the restore: " .. tostring(why))
h:exit_maintenance()
`
	err, recs := e.Run(t, script, simtest.RunOptions{Hook: func(msg string, _ map[string]any) {
		if msg == "change the configuration" {
			changeConfig(t, e)
		}
	}})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	for _, f := range []string{"configBundle-" + hostName + ".tgz", "configBundle-" + hostName + ".json"} {
		if _, err := os.Stat(filepath.Join(e.Dir, f)); err != nil {
			t.Errorf("%s is not stored: %v", f, err)
		}
	}
}

// TestHostListAndFindDescribeTheHosts checks the look-ups' fields.
func TestHostListAndFindDescribeTheHosts(t *testing.T) {
	e := simtest.Start(t, vsim.Options{})
	script := `
local host = require "host"
local all = host.list()
assert(#all == 4, "want 4 hosts, got " .. #all)
for i = 2, #all do assert(all[i-1].name < all[i].name, "not sorted") end
local c = host.find("name:DC0_C0_H*")
assert(#c == 3, "want 3 cluster hosts, got " .. #c)
for _, h in ipairs(c) do
  assert(h.cluster == "DC0_C0", "cluster " .. tostring(h.cluster))
  assert(h.connection_state == "connected" and h.maintenance == false)
  assert(h.version ~= "" and h.build ~= "" and h.uuid ~= "", "missing version/build/uuid")
end
local s = host.find("DC0_H0")[1]
assert(s.cluster == nil, "a standalone host has no cluster")
assert(#host.find("moref:" .. s.moref) == 1)
assert(#host.find("none:") == 0 and #host.find("name:nope") == 0)
local ok, err = pcall(host.find, "vlan:3")
assert(not ok and err.code == "invalid_argument", tostring(err))
`
	if err, recs := e.Run(t, script, simtest.RunOptions{}); err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
}

// TestBadBundlesAndHostsAreRefusedClearly covers each bad input: the error
// has a code and says what to do, and the host is unchanged (or nothing is
// stored).
func TestBadBundlesAndHostsAreRefusedClearly(t *testing.T) {
	bundle := "configBundle-" + hostName + ".tgz"
	cases := []struct {
		name     string
		script   string // after the shared prelude
		hook     func(t *testing.T, e *simtest.Env)
		arm      func(e *simtest.Env)
		wantCode string
		wantMsg  string
		noFiles  bool // nothing may be left on the target
	}{
		{name: "a restore to a host not in maintenance mode is refused and says to enter it",
			script: `h:backup_config(arg.dest); h:restore_config(arg.dest)`, wantCode: "invalid_state", wantMsg: "enter_maintenance()"},
		{name: "a bundle of another build is refused unless forced",
			script: `h:backup_config(arg.dest); print("patch"); h:enter_maintenance(); h:restore_config(arg.dest)`,
			hook: func(t *testing.T, e *simtest.Env) {
				if err := e.Sim.SetHostBuild(hostName, "99999999"); err != nil {
					t.Error(err)
				}
			}, wantCode: "conflict", wantMsg: "force=true"},
		{name: "a bundle of another build is applied with force=true",
			script: `h:backup_config(arg.dest); print("patch"); h:enter_maintenance(); h:restore_config(arg.dest, {force=true})`,
			hook: func(t *testing.T, e *simtest.Env) {
				if err := e.Sim.SetHostBuild(hostName, "99999999"); err != nil {
					t.Error(err)
				}
			}},
		{name: "a corrupt bundle is refused before anything is uploaded",
			script: `h:backup_config(arg.dest); print("damage"); h:enter_maintenance(); h:restore_config(arg.dest)`,
			hook: func(t *testing.T, e *simtest.Env) {
				p := filepath.Join(e.Dir, bundle)
				b, err := os.ReadFile(p)
				if err != nil {
					t.Error(err)
					return
				}
				b[len(b)/2] ^= 0xff
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Error(err)
				}
			}, wantCode: "verify", wantMsg: "corrupt or altered"},
		{name: "a truncated bundle is refused before anything is uploaded",
			script: `h:backup_config(arg.dest); print("damage"); h:enter_maintenance(); h:restore_config(arg.dest)`,
			hook: func(t *testing.T, e *simtest.Env) {
				if err := os.Truncate(filepath.Join(e.Dir, bundle), 100); err != nil {
					t.Error(err)
				}
			}, wantCode: "verify", wantMsg: "truncated"},
		{name: "a bundle whose sidecar is missing is an incomplete backup",
			script: `h:backup_config(arg.dest); print("damage"); h:enter_maintenance(); h:restore_config(arg.dest)`,
			hook: func(t *testing.T, e *simtest.Env) {
				if err := os.Remove(filepath.Join(e.Dir, "configBundle-"+hostName+".json")); err != nil {
					t.Error(err)
				}
			}, wantCode: "invalid_state", wantMsg: "did not finish"},
		{name: "a restore of a bundle never backed up says there is none",
			script: `h:enter_maintenance(); h:restore_config(arg.dest)`, wantCode: "not_found", wantMsg: "no configuration bundle"},
		{name: "a host that disconnects mid-download leaves nothing on the target",
			script: `h:backup_config(arg.dest)`,
			arm: func(e *simtest.Env) {
				e.Sim.InjectDownloadFault(vsim.DownloadFault{Host: hostName, After: 64})
			}, wantCode: "transport", wantMsg: "back up again", noFiles: true},
		{name: "a host whose own address cannot be reached: its bundle, which only the host serves, is refused clearly",
			script: `h:backup_config(arg.dest)`,
			arm: func(e *simtest.Env) {
				if err := e.Sim.SetHostReachable(hostName, false); err != nil {
					panic(err)
				}
			}, wantCode: "vsphere", wantMsg: "own address cannot be reached", noFiles: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := simtest.Start(t, vsim.Options{})
			if tc.arm != nil {
				tc.arm(e)
			}
			script := deq + "local before = h:config_summary()\n" +
				"local ok, err = pcall(function() " + tc.script + " end)\n" +
				"if not ok then error(err) end\n"
			err, recs := e.Run(t, script, simtest.RunOptions{Hook: func(msg string, a map[string]any) {
				if a["source"] == "print" && tc.hook != nil {
					tc.hook(t, e)
				}
			}})
			switch {
			case tc.wantCode == "" && err != nil:
				t.Fatalf("%v\n%s", err, recs)
			case tc.wantCode != "" && simtest.Code(err) != tc.wantCode:
				t.Fatalf("error = %v (code %q), want code %q\n%s", err, simtest.Code(err), tc.wantCode, recs)
			case tc.wantCode != "" && (!strings.Contains(err.Error(), tc.wantMsg) || !strings.Contains(err.Error(), hostName) && !strings.Contains(err.Error(), bundle)):
				t.Errorf("error = %v, want it to say %q and name the host or bundle", err, tc.wantMsg)
			}
			if tc.noFiles {
				if left, _ := os.ReadDir(e.Dir); len(left) != 0 {
					var names []string
					for _, f := range left {
						names = append(names, f.Name())
					}
					t.Errorf("left on the target: %v", names)
				}
			}
		})
	}
}

// TestADryRunSeesWhatItWouldHaveDone: in a dry run nothing changes on the
// host, but what the dry run did is what the rest of it sees: a dry
// enter_maintenance sticks (refresh, find and a dry restore see the host in
// maintenance mode), and h:backup returns the catalog a real run would,
// host_config included, with dry_run=true.
func TestADryRunSeesWhatItWouldHaveDone(t *testing.T) {
	e := simtest.Start(t, vsim.Options{})
	if err, recs := e.Run(t, `local h = require("host").find("name:`+hostName+`")[1]
h:backup{ to = arg.dest }`, simtest.RunOptions{}); err != nil {
		t.Fatalf("the real backup: %v\n%s", err, recs)
	}
	script := deq + `
local set = h:backup{ to = arg.dest }
assert(set.dry_run == true, "the dry set does not say dry_run")
assert(set.host_config and set.host_config.build == h.build and set.host_config.uuid == h.uuid, "the dry set has no host_config")
assert(not h.maintenance, "in maintenance mode before entering it")
h:enter_maintenance()
assert(h.maintenance, "a dry enter_maintenance did not stick on the object")
h:refresh()
assert(h.maintenance, "a dry enter_maintenance did not survive a refresh")
assert(host.find("name:` + hostName + `")[1].maintenance, "find does not see the dry maintenance mode")
local m = h:restore_config(arg.dest, { set = "latest" })
assert(m.dry_run == true and m.build == h.build, "the dry restore did not run its checks")
h:exit_maintenance()
assert(not h.maintenance, "a dry exit_maintenance did not stick")
print("ok")
`
	err, recs := e.Run(t, script, simtest.RunOptions{DryRun: true})
	if err != nil || !simtest.Contains(recs.Printed(), "ok") {
		t.Fatalf("%v\n%s", err, recs)
	}
	if len(recs.Find("dry run: would restore the host's configuration")) != 1 {
		t.Errorf("the dry restore did not get to the end:\n%s", recs)
	}
	if err, recs := e.Run(t, `local h = require("host").find("name:`+hostName+`")[1]
assert(not h.maintenance, "the dry run put the host in maintenance mode")`, simtest.RunOptions{}); err != nil {
		t.Errorf("%v\n%s", err, recs)
	}
	sets := simtest.Glob(t, filepath.Join(e.Dir, "host", hostName, "*", "catalog.json"))
	if len(sets) != 1 {
		t.Errorf("sets after the real backup and the dry one: %v, want the real one only", sets)
	}
}
