package vm_test

import (
	"context"
	"github.com/vmlua/vmlua/internal/harness/simtest"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/vsim"
	vlog "github.com/vmlua/vmlua/modules/log"
	"github.com/vmlua/vmlua/modules/transport"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	_ "github.com/vmlua/vmlua/transports/vmfs"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// vmfsExport freezes scsi0:1 of DB01, exports it to arg.to and commits.
const vmfsExport = `
local vm = require "vm"
local log = require "log"
local v = vm.open("name:DB01")
v:add_redo("scsi0:1")
local res = v:export("scsi0:1", arg.to)
log.info("exported", { path = res.path, descriptor = res.descriptor, bytes = res.bytes, sha256 = res.sha256 })
v:commit("scsi0:1", 0, 0, 1)
`

func grantVMFS(o *runtime.Options) {
	if err := o.Grants.Allow("vmfs://LocalDS_1/backups"); err != nil {
		panic(err)
	}
}

// TestExportToVMFSCopiesOnTheServer: v:export to a vmfs:// folder of the
// same vSphere copies the frozen disk on the server; the copy, read back
// through /folder, holds exactly what the disk held at add_redo, the
// result carries its sha256, and no temporary folder or snapshot remains.
func TestExportToVMFSCopiesOnTheServer(t *testing.T) {
	dsDir := t.TempDir()
	e := simtest.Start(t, vsim.Options{WriteRate: 400, DatastoreDir: dsDir})
	var mu sync.Mutex
	var seq uint64
	frozen := false
	hook := func(msg string, a map[string]any) {
		if msg != "add_redo: disk frozen" {
			return
		}
		ref, ok := e.SnapshotRef(t, "DB01", a["snapshot"].(string))
		if !ok {
			t.Errorf("snapshot %v not found right after add_redo", a["snapshot"])
			return
		}
		s, err := e.Sim.SnapshotSeq(ref)
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		seq, frozen = s, true
		mu.Unlock()
	}
	err, recs := e.Run(t, vmfsExport, simtest.RunOptions{Args: []string{"to=vmfs://LocalDS_1/backups/DB01"}, Hook: hook, Mod: grantVMFS})
	if err != nil {
		t.Fatalf("export to vmfs:// failed: %v\n%s", err, recs)
	}
	if !frozen {
		t.Fatal("the disk was never frozen")
	}
	if len(recs.Find("export: disk copied on the server")) != 1 {
		t.Fatalf("the export did not copy on the server:\n%s", recs)
	}
	want, size, err := e.Sim.ExpectedContent("DB01", "scsi0:1", seq)
	if err != nil {
		t.Fatal(err)
	}
	wantSHA := simtest.ShaOf(t, want, size)
	if got := e.DiskSHA(t, "[LocalDS_1] backups/DB01/DB01_1.vmdk"); got != wantSHA {
		t.Errorf("the server's copy differs from the disk's content at add_redo (write %d)", seq)
	}
	res := recs.Find("exported")
	if len(res) != 1 || res[0]["sha256"] != wantSHA || res[0]["path"] != "DB01_1-flat.vmdk" || res[0]["descriptor"] != "DB01_1.vmdk" || res[0]["bytes"] != float64(size) && res[0]["bytes"] != int64(size) {
		t.Errorf("v:export returned %v, want path DB01_1-flat.vmdk, descriptor DB01_1.vmdk, %d bytes, sha256 %s", res, size, wantSHA)
	}
	desc, err := os.ReadFile(filepath.Join(dsDir, "LocalDS_1", "backups", "DB01", "DB01_1.vmdk"))
	if err != nil || !strings.Contains(string(desc), `"DB01_1-flat.vmdk"`) {
		t.Errorf("the copy's descriptor does not name its flat extent: %s (%v)", desc, err)
	}
	if p := simtest.Partials(dsDir); len(p) != 0 {
		t.Errorf("temporary copies left behind: %v", p)
	}
	if s := e.Snapshots(t, "DB01"); len(s) != 0 {
		t.Errorf("snapshots left on DB01: %v", s)
	}
}

// TestFailingServerCopyLeavesNothing: when CopyVirtualDisk fails, the
// script gets a vsphere error, nothing appears under the final name, no
// temporary folder remains and the REDO log is committed.
func TestFailingServerCopyLeavesNothing(t *testing.T) {
	dsDir := t.TempDir()
	e := simtest.Start(t, vsim.Options{DatastoreDir: dsDir})
	e.Sim.AddFaultRule(&simulator.FaultInjectionRule{MethodName: "CopyVirtualDisk_Task", ObjectType: "*", ObjectName: "*",
		Fault: &types.NoDiskSpace{Datastore: "LocalDS_1"}, Probability: 1, Enabled: true, MaxCount: 1})
	err, recs := e.Run(t, vmfsExport, simtest.RunOptions{Args: []string{"to=vmfs://LocalDS_1/backups/DB01"}, Mod: grantVMFS})
	if err == nil {
		t.Fatalf("the export succeeded although CopyVirtualDisk failed:\n%s", recs)
	}
	if code(err) != "vsphere" || !strings.Contains(err.Error(), "nothing was left under its final name") {
		t.Errorf("error = %v (code %q), want a vsphere error saying nothing was left", err, code(err))
	}
	for _, f := range []string{"DB01_1.vmdk", "DB01_1-flat.vmdk"} {
		if _, err := os.Stat(filepath.Join(dsDir, "LocalDS_1", "backups", "DB01", f)); !os.IsNotExist(err) {
			t.Errorf("%s exists after a failed copy (%v)", f, err)
		}
	}
	if p := simtest.Partials(dsDir); len(p) != 0 {
		t.Errorf("temporary copies left behind: %v", p)
	}
	if s := e.Snapshots(t, "DB01"); len(s) != 0 {
		t.Errorf("snapshots left on DB01: %v", s)
	}
}

// TestServerCopyReadsTheDescriptorWhole: the server's copy of a disk
// whose descriptor is over 1 MiB (a long comment before its extent) is
// read whole, so the export finds the extent and the descriptor that lands
// keeps every line; one over 16 MiB is refused with a clear error and
// leaves nothing behind, never cut short.
func TestServerCopyReadsTheDescriptorWhole(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pad     int    // bytes of comment before the extent line
		wantErr string // "" for success
	}{
		{"a descriptor of 2 MiB is read whole", 2 << 20, ""},
		{"a descriptor over 16 MiB is refused", 17 << 20, "larger than 16 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsDir := t.TempDir()
			e := simtest.Start(t, vsim.Options{DatastoreDir: dsDir})
			padDescriptor(t, filepath.Join(dsDir, "LocalDS_1", "DB01", "DB01_1.vmdk"), tc.pad)
			err, recs := e.Run(t, vmfsExport, simtest.RunOptions{Args: []string{"to=vmfs://LocalDS_1/backups/DB01"}, Mod: grantVMFS})
			final := filepath.Join(dsDir, "LocalDS_1", "backups", "DB01", "DB01_1.vmdk")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("export = %v, want an error saying %q\n%s", err, tc.wantErr, recs)
				}
				if _, err := os.Stat(final); !os.IsNotExist(err) {
					t.Errorf("%s exists after a refused export (%v)", final, err)
				}
			} else {
				if err != nil {
					t.Fatalf("export of a disk with a %d-byte descriptor failed: %v\n%s", tc.pad, err, recs)
				}
				desc, err := os.ReadFile(final)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(desc), `"DB01_1-flat.vmdk"`) || !strings.Contains(string(desc), "# end of padding") {
					t.Errorf("the copy's descriptor (%d bytes) lost its extent or its last comment line", len(desc))
				}
			}
			if p := simtest.Partials(dsDir); len(p) != 0 {
				t.Errorf("temporary copies left behind: %v", p)
			}
			if s := e.Snapshots(t, "DB01"); len(s) != 0 {
				t.Errorf("snapshots left on DB01: %v", s)
			}
		})
	}
}

// padDescriptor puts n bytes of comment lines after a descriptor's first
// line, before its extents.
func padDescriptor(t *testing.T, file string, n int) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	head, rest, _ := strings.Cut(string(b), "\n")
	line := "# " + strings.Repeat("p", 97) + "\n"
	pad := strings.Repeat(line, n/len(line)) + "# end of padding\n"
	if err := os.WriteFile(file, []byte(head+"\n"+pad+rest), 0o644); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkExport1GiB exports a frozen 1 GiB disk to a vmfs:// folder of
// the same simulator (server-side CopyVirtualDisk, then the sha256 read
// back over /folder) and streamed to a file:// folder.
func BenchmarkExport1GiB(b *testing.B) {
	const size = 1 << 30
	s, err := vsim.Start(context.Background(), vsim.Options{Password: simtest.Password,
		Inventory: []vsim.VMSpec{{Name: "DB01", Disks: []vsim.DiskSpec{{Size: 1 << 20}, {Size: size, Datastore: "LocalDS_1"}}, PoweredOff: true}}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	u := *s.URL
	u.User = nil
	ep := runtime.Endpoint{Name: "sim", URL: u.String(), Username: s.URL.User.Username(), Password: simtest.Password, Insecure: true}
	dir := b.TempDir()
	script := `
local v = require("vm").open("name:DB01")
local res = v:export("scsi0:1", arg.to)
assert(res.bytes == ` + "1073741824" + `)
`
	for _, tc := range []struct{ name, to string }{
		{"vmfs server-side copy", "vmfs://LocalDS_1/backups/DB01"},
		{"file streamed", "file://" + dir},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				opts := runtime.Options{
					Logger:    slog.New(slog.DiscardHandler),
					Modules:   []*runtime.Module{vlog.Module, transport.Module, vm.Module},
					Timeout:   10 * time.Minute,
					Endpoints: map[string]runtime.Endpoint{"sim": ep}, DefaultEndpoint: "sim",
					Args: []string{"to=" + tc.to},
				}
				if err := opts.Grants.Allow(tc.to); err != nil {
					b.Fatal(err)
				}
				r, err := runtime.New(opts)
				if err != nil {
					b.Fatal(err)
				}
				if err := r.ExecString("bench.lua", script); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
