package backup_test

import (
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
)

// TestRestoreDisk: backup.restore_disk puts one disk of a set into an
// existing VM: attached as a new disk to a running VM (its content the
// disk's at the set's freeze, its UUID new), refused clearly in place of
// a running VM's disk, and in place of a powered-off VM's disk (same
// unit; the replaced disk's files kept). No such function existed.
func TestRestoreDisk(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 1 << 20, WriteRate: -1})
	id, seq := e.Backup(t, "DB01", "full")
	want := func(disk string) string {
		b, size, err := e.Sim.ExpectedContent("DB01", disk, seq)
		if err != nil {
			t.Fatal(err)
		}
		return simtest.ShaOf(t, b, size)
	}
	err, recs := e.Run(t, `
		local vm, backup = require "vm", require "backup"
		local v = vm.open("name:VM1")
		local r = backup.restore_disk{ from = arg.dest, set = arg.set, disk = "scsi0:1", into = v }
		print("ATTACHED " .. r.id .. " " .. r.path)
		v:refresh()
		assert(#v:disks() == 2, #v:disks() .. " disks")
		local ok, err = pcall(backup.restore_disk, { from = arg.dest, set = arg.set, disk = "scsi0:0", into = v, replace = "scsi0:0" })
		assert(not ok)
		print("REFUSED " .. err.code .. " " .. err.message:gsub('"', "'"))
		v:power_off()
		local old = v:disks()[1].path
		local r2 = backup.restore_disk{ from = arg.dest, vm = "DB01", set = "latest", disk = "scsi0:0", into = v, replace = "scsi0:0" }
		assert(r2.id == "scsi0:0" and r2.replaced == old, "replaced " .. tostring(r2.id) .. " " .. tostring(r2.replaced))
		print("REPLACED " .. r2.path)
	`, simtest.RunOptions{Args: []string{"set=" + id}})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	attached := strings.Fields(printed(recs, "ATTACHED "))
	if len(attached) < 3 || attached[0] != "scsi0:1" {
		t.Fatalf("attached: %v", attached)
	}
	if got := e.DiskSHA(t, strings.Join(attached[1:], " ")); got != want("scsi0:1") {
		t.Errorf("the attached disk is not DB01's scsi0:1 at the set's freeze")
	}
	if r := printed(recs, "REFUSED "); !strings.HasPrefix(r, "invalid_state") || !strings.Contains(r, "powered on") || !strings.Contains(r, "attach") {
		t.Errorf("replacing a running VM's disk: %q", r)
	}
	if got := e.DiskSHA(t, printed(recs, "REPLACED ")); got != want("scsi0:0") {
		t.Errorf("the replaced disk is not DB01's scsi0:0 at the set's freeze")
	}
	if u := diskUUIDs(t, e, "VM1"); len(u) != 2 || strings.Join(u, ",") == strings.Join(diskUUIDs(t, e, "DB01")[:2], ",") {
		t.Errorf("VM1's disk UUIDs %v: want two, of their own", u)
	}
}
