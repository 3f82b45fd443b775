package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
)

// TestInstantRecoveryRunsTheVMFromTheSetThenMigratesIt: vmlua serve nfs
// exports a point; scripts/instant_recovery.lua mounts it on the
// simulated host as an NFS datastore (the simulator mounts it from the
// real NFS server), registers the VM from it and powers it on; the
// guest's writes land in the scratch folder, not in the set, which still
// verifies; then the script migrates the running VM to production
// storage and unmounts: the VM runs from LocalDS_1 with the point's
// content plus its writes.
func TestInstantRecoveryRunsTheVMFromTheSetThenMigratesIt(t *testing.T) {
	needTool(t, "fusermount3", "fuse3")
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Fatalf("FUSE is unavailable here (the simulator mounts NAS datastores through it): %v", err)
	}
	const size = 8 << 20
	e := simtest.Start(t, vsim.Options{Inventory: []vsim.VMSpec{{Name: "IR01", Disks: []vsim.DiskSpec{{Size: size}}}}, WriteRate: 1e-9}) // only the test writes
	_, seq := e.Backup(t, "IR01", "full")
	point := e.Expected(t, "IR01", "scsi0:0", seq)
	scratch := t.TempDir()
	p := startVerb(t, nfsURL, "serve", "nfs", "--listen", "127.0.0.1:0", "--scratch", scratch, "file://"+e.Dir, "IR01")
	url := nfsURL.FindString(p.out.String())
	vmx := strings.Fields(p.out.String()[strings.Index(p.out.String(), url)+len(url):])[0]
	if vmx != "IR01/IR01.vmx" {
		t.Fatalf("serve nfs printed the .vmx %q", vmx)
	}

	run := func(args ...string) []string {
		t.Helper()
		err, recs := e.Run(t, "../../scripts/instant_recovery.lua", simtest.RunOptions{Args: args})
		if err != nil {
			t.Fatalf("instant_recovery.lua %v: %v\n%s", args, err, recs)
		}
		return recs.Printed()
	}
	out := run("url="+url, "vmx="+vmx, "name=IR01-ir", "datastore=vmlua-ir")
	if !simtest.Contains(out, "VM IR01-ir runs from datastore vmlua-ir ([vmlua-ir] IR01/IR01.vmx), power on") {
		t.Fatalf("printed %q", out)
	}

	// the recovered guest writes: into the scratch folder, not the set
	w := bytes.Repeat([]byte("written while running from the backup "), 2000)[:64<<10]
	const at = 1 << 20
	if _, err := e.Sim.GuestWriteData("IR01-ir", "scsi0:0", at, w); err != nil {
		t.Fatal(err)
	}
	cow, err := os.ReadFile(filepath.Join(scratch, ".vmlua-overlay", "IR01", "IR01-flat.vmdk"))
	if err != nil || !bytes.Equal(cow[at:at+len(w)], w) {
		t.Fatalf("the write is not in the scratch folder: %v", err)
	}
	if o, errs, code := vmlua(t, "verify", "file://"+e.Dir, "IR01"); code != 0 {
		t.Fatalf("the set does not verify while the VM runs from it: exit %d\n%s%s", code, o, errs)
	}

	out = run("vm=IR01-ir", "to=LocalDS_1", "datastore=vmlua-ir")
	if !simtest.Contains(out, "VM IR01-ir migrated to datastore LocalDS_1 ([LocalDS_1] IR01/IR01.vmx)") || !simtest.Contains(out, "datastore vmlua-ir unmounted") {
		t.Fatalf("printed %q", out)
	}
	lines := (simtest.Site{Endpoint: e.Endpoint}).RunLua(t, `
local v = require("vm").open("name:IR01-ir")
print(v.power .. " " .. v.vmx .. " " .. table.concat(v.datastores, ","))`)
	if len(lines) != 1 || lines[0] != "on [LocalDS_1] IR01/IR01.vmx LocalDS_1" {
		t.Fatalf("the VM after the migration: %q", lines)
	}
	want := bytes.Clone(point)
	copy(want[at:], w)
	sum := sha256.Sum256(want)
	if got := e.DiskSHA(t, "[LocalDS_1] IR01/IR01.vmdk"); got != hex.EncodeToString(sum[:]) {
		t.Fatal("the migrated disk is not the point's content plus the guest's write")
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(); err != nil {
		t.Fatalf("serve nfs after SIGTERM: %v\n%s", err, p.errb)
	}
	if o, errs, code := vmlua(t, "verify", "file://"+e.Dir, "IR01"); code != 0 {
		t.Fatalf("the set does not verify after the recovery: exit %d\n%s%s", code, o, errs)
	}
}
