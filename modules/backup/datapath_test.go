package backup_test

import (
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
)

// The data path against the simulator as hard as real vSphere (issue 24):
// disk bytes from the VM's host, retried per request, through vCenter
// only when the host cannot be reached, sessions logged in again.

// exportScript freezes DB01's first two disks and exports them to
// arg.dest; it checks that no snapshot is left.
const exportScript = `
	local vm = require "vm"
	local v = vm.open("name:DB01")
	for _, d in ipairs{ "scsi0:0", "scsi0:1" } do
		v:add_redo(d)
		local r = v:export(d, arg.dest)
		print(d .. " " .. r.path)
	end
	v:commit("scsi0:1", 0, 0, 1)
	v:commit("scsi0:0", 0, 0, 1)
	assert(#v:snapshots() == 0, "a snapshot is left")
`

// checkExports compares the exported images with the disks' content (the
// guest is paused: the content is the current one).
func checkExports(t *testing.T, e *simtest.Env) {
	t.Helper()
	seq, err := e.Sim.WriteSeq("DB01")
	if err != nil {
		t.Fatal(err)
	}
	for disk, file := range map[string]string{"scsi0:0": "DB01-flat.vmdk", "scsi0:1": "DB01_1-flat.vmdk"} {
		want, size, err := e.Sim.ExpectedContent("DB01", disk, seq)
		if err != nil {
			t.Fatal(err)
		}
		if got := simtest.FileSHA(t, filepath.Join(e.Dir, file)); got != simtest.ShaOf(t, want, size) {
			t.Errorf("%s: the exported image differs from the disk's content", disk)
		}
	}
}

// A session that expires in the middle of a backup is logged in again
// and the backup goes on: from the host (a new ticket) and through vCenter
// (a new cookie). The clock jumps past the idle limit while the second
// GET of a disk is served, so the rest of the reads and the snapshot's
// removal meet the expired session.
func TestBackupGoesOnThroughAnExpiringSession(t *testing.T) {
	for _, throughVC := range []bool{false, true} {
		name := "from the host"
		if throughVC {
			name = "through vCenter"
		}
		t.Run(name, func(t *testing.T) {
			var sim atomic.Pointer[vsim.Sim]
			var gets atomic.Int32
			e := simtest.Start(t, vsim.Options{OnFolder: func(r vsim.FolderRequest) {
				if r.Method == "GET" && strings.HasSuffix(r.Path, "-flat.vmdk") && gets.Add(1) == 2 {
					sim.Load().AdvanceClock(vsim.DefaultSessionIdle + time.Minute)
				}
			}})
			sim.Store(e.Sim)
			e.Endpoint.ThroughVCenter = throughVC
			err, recs := e.Run(t, `
				local vm, backup = require "vm", require "backup"
				local v = vm.open("name:DB01")
				local set = v:backup{ to = arg.dest }
				assert(set.complete, "set not complete")
				assert(backup.verify{ at = arg.dest, set = set.id }.ok, "verify failed")
				assert(#v:snapshots() == 0, "a snapshot is left")
			`, simtest.RunOptions{})
			if err != nil {
				t.Fatalf("%v\n%s", err, recs)
			}
			if gets.Load() < 3 {
				t.Fatalf("only %d GETs of disk files: the session did not expire in the middle", gets.Load())
			}
			if n := len(recs.Find("the vSphere session was lost; logged in again")); n != 1 {
				t.Errorf("logged in again %d times, want once:\n%s", n, recs)
			}
		})
	}
}

// A host that answers 503 to all but one request at a time slows the
// export, it does not fail it: every range is read once, the bytes right.
func TestExportGoesOnThroughA503Storm(t *testing.T) {
	var sim atomic.Pointer[vsim.Sim]
	var mu sync.Mutex
	ranges := map[string]int{}
	var first, ended atomic.Bool
	host := ""
	e := simtest.Start(t, vsim.Options{DiskSize: 8 << 20, HostConns: 1, OnFolder: func(r vsim.FolderRequest) {
		if r.Method != "GET" || !strings.HasSuffix(r.Path, "-flat.vmdk") {
			return
		}
		mu.Lock()
		ranges[r.Path+" "+r.Range]++
		mu.Unlock()
		// the first GET is held until three others were turned away (or
		// the run ended: a data path that gives up on a 503)
		if first.CompareAndSwap(false, true) {
			for sim.Load().FolderStats(host).Throttled < 3 && !ended.Load() {
				time.Sleep(time.Millisecond)
			}
		}
	}})
	sim.Store(e.Sim)
	host, _ = e.Sim.HostOf("DB01")
	e.Sim.PauseGuest("DB01")
	err, recs := e.Run(t, exportScript, simtest.RunOptions{})
	ended.Store(true)
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	checkExports(t, e)
	if st := e.Sim.FolderStats(host); st.Throttled < 3 {
		t.Errorf("the host answered 503 %d times: the storm did not happen", st.Throttled)
	}
	for r, n := range ranges {
		if n != 1 {
			t.Errorf("%s was read %d times", r, n)
		}
	}
	if len(ranges) != 2*4 {
		t.Errorf("%d ranges read, want 8 (two 8 MiB disks in 2 MiB spans): %v", len(ranges), ranges)
	}
}

// A host whose own address cannot be reached is read through vCenter,
// retrying the 500s vCenter's proxy answers under load; it is logged once
// with why, and once how much slower it was (against the reads from the
// host before it went away, when there were some).
func TestReadsGoThroughVCenterWhenTheHostCannotBeReached(t *testing.T) {
	for _, midway := range []bool{false, true} {
		name := "from the start"
		if midway {
			name = "after the first disk"
		}
		t.Run(name, func(t *testing.T) {
			e := simtest.Start(t, vsim.Options{DiskSize: 8 << 20, HostsUnreachable: !midway, VCenterBusy: -1, VCenterErrorEvery: 3})
			host, _ := e.Sim.HostOf("DB01")
			e.Sim.PauseGuest("DB01")
			err, recs := e.Run(t, exportScript, simtest.RunOptions{Hook: func(msg string, a map[string]any) {
				if midway && strings.HasPrefix(msg, "scsi0:0 ") {
					if err := e.Sim.SetHostReachable(host, false); err != nil {
						t.Error(err)
					}
				}
			}})
			if err != nil {
				t.Fatalf("%v\n%s", err, recs)
			}
			checkExports(t, e)
			fell := recs.Find("a host cannot be reached directly: its datastore files go through vCenter, the slower path (VMware KB 2112692: vCenter's proxy is not made for streaming large data)")
			if len(fell) != 1 {
				t.Fatalf("the fallback was logged %d times, want once:\n%s", len(fell), recs)
			}
			if fell[0]["host"] != host || !strings.Contains(fell[0]["why"].(string), "refused") {
				t.Errorf("the log does not say which host and why: %v", fell[0])
			}
			slower := recs.Find("datastore throughput through vCenter, per request, against the hosts' own addresses")
			if len(slower) != 1 {
				t.Fatalf("how much slower was logged %d times, want once:\n%s", len(slower), recs)
			}
			// the factor is measured, so its value depends on how busy the
			// machine is (it read 0.7 once at load 16): only its presence is
			// asserted; the figures (bench 14b) measure it
			if times, ok := slower[0]["times_slower"].(float64); midway && (!ok || times <= 0) {
				t.Errorf("how much slower: %v, want the measured factor", slower[0])
			}
			if st := e.Sim.FolderStats(vsim.VCenter); st.ProxyErrors == 0 || st.BytesOut < 8<<20 {
				t.Errorf("vCenter's proxy: %+v; want a disk through it, and some 500s retried", st)
			}
		})
	}
}

// A host whose certificate is not the one expected of it (vCenter's
// record, or the profile's pin) is sent nothing: the export fails and
// says why; a right pin reads.
func TestHostCertificateMismatchIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setup   func(e *simtest.Env, host string)
		wantErr string
	}{
		{"an impostor at the host's address", func(e *simtest.Env, host string) {
			if err := e.Sim.SwapHostCertificate(host, false); err != nil {
				t.Fatal(err)
			}
		}, "not the one vCenter reports for it"},
		{"a wrong pin in the profile", func(e *simtest.Env, host string) {
			e.Endpoint.HostThumbprints = map[string]string{host: strings.Repeat("AB:", 31) + "AB"}
		}, "not the one pinned for it in the profile"},
		{"the right pin in the profile", func(e *simtest.Env, host string) {
			if err := e.Sim.SwapHostCertificate(host, false); err != nil { // vCenter's record is not used
				t.Fatal(err)
			}
			tp, _ := e.Sim.HostThumbprint(host)
			e.Endpoint.HostThumbprints = map[string]string{host: tp}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := simtest.Start(t, vsim.Options{DiskSize: 4 << 20})
			host, _ := e.Sim.HostOf("DB01")
			tc.setup(e, host)
			err, recs := e.Run(t, exportScript, simtest.RunOptions{})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("%v\n%s", err, recs)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), host) {
				t.Fatalf("error %v, want one saying the certificate of %s is %s\n%s", err, host, tc.wantErr, recs)
			}
			if st := e.Sim.FolderStats(host); st.BytesOut > 64<<10 {
				t.Errorf("the host served %d bytes", st.BytesOut)
			}
			if len(recs.Find("a host cannot be reached directly: its datastore files go through vCenter, the slower path (VMware KB 2112692: vCenter's proxy is not made for streaming large data)")) != 0 {
				t.Error("a certificate mismatch fell back to vCenter")
			}
		})
	}
}

// A restore writes the disks to a host of the datastore directly, not
// through vCenter.
func TestRestoreUploadsToTheHost(t *testing.T) {
	e := simtest.Start(t, vsim.Options{DiskSize: 8 << 20})
	err, recs := e.Run(t, `
		local vm, backup = require "vm", require "backup"
		local set = vm.open("name:DB01"):backup{ to = arg.dest }
		backup.restore{ from = arg.dest, set = set.id, name = "DB01-restored", datastore = "LocalDS_1" }
	`, simtest.RunOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	var hosts int64
	for _, h := range e.Sim.Hosts() {
		hosts += e.Sim.FolderStats(h).BytesIn
	}
	if vc := e.Sim.FolderStats(vsim.VCenter).BytesIn; hosts < 16<<20 || vc > 1<<20 {
		t.Errorf("%d bytes written at the hosts, %d of them through vCenter; want the disks (16 MiB) written to the hosts directly", hosts, vc)
	}
}
