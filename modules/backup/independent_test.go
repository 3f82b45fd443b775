package backup_test

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
)

// TestIndependentDisksAreReadWhenTheVMIsOff: a VM that is off while its
// disks are read — off already, or shut down by power_off=true — has its
// independent disk backed up like the others (the set is "ok", nothing
// skipped), byte-exact, and a restore brings the disk back with its
// independent mode; power_off=true leaves the VM running again.
func TestIndependentDisksAreReadWhenTheVMIsOff(t *testing.T) {
	for _, tc := range []struct {
		name, prepare, options string
		wantPower              string
	}{
		{"the VM is powered off already", `v:power_off()`, ``, "off"},
		{"power_off=true shuts the VM down for the backup", ``, `power_off = true`, "on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := simtest.Start(t, vsim.Options{VMs: 0, WriteRate: 200})
			var mu sync.Mutex
			var seq uint64
			seen := false
			hook := func(msg string, a map[string]any) {
				if msg == "backup: disk stored" && a["vm"] == "DB01" {
					mu.Lock()
					defer mu.Unlock()
					if !seen { // the guest is off: no write happens until the backup ends
						seq, _ = e.Sim.WriteSeq("DB01")
						seen = true
					}
				}
			}
			err, recs := e.Run(t, `
				local vm, backup = require "vm", require "backup"
				local v = vm.open("name:DB01")
				`+tc.prepare+`
				local set = v:backup{ to = arg.dest, `+tc.options+` }
				assert(set.status == "ok", "status " .. set.status)
				assert(set.skipped == nil or next(set.skipped) == nil, "a disk was skipped")
				assert(#set.disks == 3, "disks " .. #set.disks)
				v:refresh()
				assert(v.power == "`+tc.wantPower+`", "the VM is " .. v.power .. " after the backup")
				assert(backup.verify{ at = arg.dest, set = set.id }.ok, "verify")
				local copy = backup.restore{ from = arg.dest, set = set.id, datastore = "LocalDS_1", name = "DB01-copy" }
				local modes = {}
				for _, d in ipairs(copy:disks()) do modes[d.id] = d.mode end
				for _, d in ipairs(v:disks()) do
					assert(modes[d.id] == d.mode, d.id .. " restored as " .. tostring(modes[d.id]) .. ", was " .. d.mode)
				end
				assert(modes["scsi0:2"] == "independent-persistent", "scsi0:2 restored as " .. tostring(modes["scsi0:2"]))
				local set2 = copy:backup{ to = arg.dest }
				assert(#set2.disks == 3, "the restored VM's set has " .. #set2.disks .. " disks")
				for i, d in ipairs(set.disks) do
					assert(set2.disks[i].sha256 == d.sha256, d.id .. " differs after the restore")
				end
			`, simtest.RunOptions{Hook: hook})
			if err != nil {
				t.Fatalf("%v\n%s", err, recs)
			}
			if len(recs.Find("backup: disk skipped")) != 0 {
				t.Errorf("a disk was skipped:\n%s", recs)
			}
			sets, _ := filepath.Glob(filepath.Join(e.Dir, "DB01", "*", catalog.FileName))
			if len(sets) != 1 {
				t.Fatalf("sets of DB01: %v", sets)
			}
			c, dir := readCatalog(t, e.Dir, "DB01")
			for _, d := range c.Disks {
				want, size, err := e.Sim.ExpectedContent("DB01", d.ID, seq)
				if err != nil {
					t.Fatal(err)
				}
				if got := imageSHA(t, filepath.Join(dir, d.File), c.Options.Compress); got != simtest.ShaOf(t, want, size) {
					t.Errorf("%s (%s): the stored image differs from the disk (write %d)", d.ID, d.Mode, seq)
				}
			}
			if s := e.Snapshots(t, "DB01"); len(s) != 0 {
				t.Errorf("snapshots left: %v", s)
			}
		})
	}
}

// TestADryRunOfAPowerOffBackupPlansTheIndependentDisks: the dry run of a
// power_off=true backup of a running VM plans what the real run does — the
// shutdown, and every disk, the independent one too, without a snapshot —
// and changes nothing.
func TestADryRunOfAPowerOffBackupPlansTheIndependentDisks(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 0})
	err, recs := e.Run(t, `
		local v = require("vm").open("name:DB01")
		local set = v:backup{ to = arg.dest, power_off = true }
		assert(set.dry_run and set.status == "ok", "status " .. set.status)
		assert(#set.disks == 3 and (set.skipped == nil or next(set.skipped) == nil), "disks " .. #set.disks)
		v:refresh()
		assert(v.power == "on", "the dry run changed the power state: " .. v.power)
	`, simtest.RunOptions{DryRun: true})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	if len(recs.Find("dry run: would shut the guest down for the backup (power_off=true), and power it on again after")) != 1 {
		t.Errorf("the shutdown was not in the plan:\n%s", recs)
	}
}
