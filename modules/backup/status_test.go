package backup_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
)

// TestASkippedDiskMakesTheSetPartial: a disk the backup had to leave out
// makes the set's status "partial", in the table v:backup returns and in
// catalog.json; a disk the script excluded does not.
func TestASkippedDiskMakesTheSetPartial(t *testing.T) {
	e := simtest.Start(t, vsim.Options{DiskSize: 2 << 20})
	cases := []struct {
		name, vm, opts, status string
	}{
		{"an independent disk makes the set partial", "DB01", `{ to = arg.dest }`, catalog.StatusPartial},
		{"a VM whose disks are all backed up is ok", "VM1", `{ to = arg.dest }`, catalog.StatusOK},
		{"a disk the script excludes does not make it partial", "DB01", `{ to = arg.dest, disks = { "scsi0:0", "scsi0:1", "scsi0:2" }, exclude = { "scsi0:2" } }`, catalog.StatusOK},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(e.Dir, fmt.Sprint(i))
			err, recs := e.Run(t, `
				local v = require("vm").open("name:`+tc.vm+`")
				arg.dest = arg.sub
				local set = v:backup`+tc.opts+`
				assert(set.status == "`+tc.status+`", "status " .. tostring(set.status))
				local l = require("backup").list{ at = arg.sub }
				assert(#l == 1 and l[1].status == set.status, "backup.list's status " .. tostring(l[1] and l[1].status))
			`, simtest.RunOptions{Args: []string{"sub=file://" + dir}})
			if err != nil {
				t.Fatalf("%v\n%s", err, recs)
			}
			c, _ := readCatalog(t, dir, tc.vm)
			if c.Status != tc.status || c.StatusOf() != tc.status {
				t.Errorf("catalog.json status %q, want %q", c.Status, tc.status)
			}
			if warned := len(recs.Find("backup: the set will be partial: a restore of it yields the VM without the skipped disks")) == 1; warned != (tc.status == catalog.StatusPartial) {
				t.Errorf("partial warning logged = %v, want %v:\n%s", warned, tc.status == catalog.StatusPartial, recs)
			}
		})
	}
}

// TestAnOldCatalogWithoutStatusIsReadAsPartialWhenItSkippedADisk: sets
// written before the status field say the same through StatusOf.
func TestAnOldCatalogWithoutStatusIsReadAsPartialWhenItSkippedADisk(t *testing.T) {
	cases := []struct {
		name    string
		skipped []catalog.Skipped
		want    string
	}{
		{"no skipped disk is ok", nil, catalog.StatusOK},
		{"an independent disk skipped is partial", []catalog.Skipped{{ID: "scsi0:2", Reason: "the disk is independent-persistent: ..."}}, catalog.StatusPartial},
		{"a disk excluded by the script is ok", []catalog.Skipped{{ID: "scsi0:2", Reason: "excluded by the script (exclude=)"}}, catalog.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := catalog.New()
			c.Skipped = tc.skipped
			if got := c.StatusOf(); got != tc.want {
				t.Errorf("StatusOf = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRestoreOfAPartialSetNamesTheDisksItLacks: the restore warns with the
// missing disks' ids, and its second result lists them.
func TestRestoreOfAPartialSetNamesTheDisksItLacks(t *testing.T) {
	e := simtest.Start(t, vsim.Options{DiskSize: 2 << 20})
	err, recs := e.Run(t, `
		local vm, backup = require "vm", require "backup"
		local set = vm.open("name:DB01"):backup{ to = arg.dest }
		local v, info = backup.restore{ from = arg.dest, set = set.id, name = "DB01-r", datastore = "LocalDS_1" }
		assert(v and v.name == "DB01-r", "restored")
		assert(info.status == "partial", "status " .. tostring(info.status))
		assert(info.set == set.id, "set")
		assert(#info.missing_disks == 1 and info.missing_disks[1].id == "scsi0:2", "missing " .. #info.missing_disks)
		assert(info.missing_disks[1].reason:find("independent"), info.missing_disks[1].reason)
		local _, whole = backup.restore{ from = arg.dest, set = set.id, name = "DB01-r", on_conflict = "keep" }
		assert(#whole.missing_disks == 1, "keep still says which disks the set lacks")
	`, simtest.RunOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	w := recs.Find("restore: the set does not hold every disk of the VM; the restored VM has these removed (present=FALSE in its .vmx): restore or re-attach them separately")
	if len(w) == 0 || !strings.Contains(w[0]["missing_disks"].(string), "scsi0:2") {
		t.Errorf("no warning naming scsi0:2:\n%s", recs)
	}
}

// TestDryRunBackupReturnsThePlanInTheShapeOfASet: in a dry run v:backup
// walks the cycle and returns the disks it would store, with planned
// bytes, and writes nothing; prune and backup.vmx say they are dry runs.
func TestDryRunBackupReturnsThePlanInTheShapeOfASet(t *testing.T) {
	e := simtest.Start(t, vsim.Options{DiskSize: 2 << 20})
	err, recs := e.Run(t, `
		local vm, backup = require "vm", require "backup"
		local v = vm.open("name:DB01")
		local set = v:backup{ to = arg.dest }
		assert(set.dry_run == true, "dry_run")
		assert(set.complete == false, "a plan is not a complete set")
		assert(set.status == "partial", "status " .. tostring(set.status))
		assert(set.id:find("^DB01/"), set.id)
		assert(#set.disks == 2, "disks " .. #set.disks)
		for i, d in ipairs(set.disks) do
			assert(d.id == ({ "scsi0:0", "scsi0:1" })[i], d.id)
			assert(d.planned_bytes == d.capacity and d.capacity > 0, "planned bytes")
			assert(d.bytes == 0, "no bytes stored")
			assert(d.file:find("%-flat%.vmdk%.vls"), d.file)
		end
		assert(#set.skipped == 1, "skipped")
		local p = backup.prune{ at = arg.dest, vm = v.name, keep = 1 }
		assert(p.dry_run == true and #p.removed == 0, "prune")
		local a = backup.vmx{ vm = v, to = arg.dest }
		assert(a.dry_run == true and a.bytes > 0 and a.path:find("^DB01/vmx/"), "vmx")
	`, simtest.RunOptions{DryRun: true})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	if entries, _ := os.ReadDir(e.Dir); len(entries) != 0 {
		t.Errorf("the dry run wrote to the target: %v", entries)
	}
	if s := e.Snapshots(t, "DB01"); len(s) != 0 {
		t.Errorf("snapshots left: %v", s)
	}
	for _, msg := range []string{"dry run: would add a REDO log (snapshot)", "dry run: would store the frozen disk", "dry run: would commit a REDO log (remove snapshot)", "dry run: would write the catalog", "dry run: would write the configuration archive"} {
		if len(recs.Find(msg)) == 0 {
			t.Errorf("no %q in the log:\n%s", msg, recs)
		}
	}
	if len(recs.Find("backup.vmx: archive written")) != 0 {
		t.Errorf("the dry run logged an archive as written")
	}
}
