package backup_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// diskUUIDs are the backing UUIDs of the VM's flat disks, sorted.
func diskUUIDs(t *testing.T, e *simtest.Env, vmName string) []string {
	t.Helper()
	var m mo.VirtualMachine
	v := e.VMObj(t, vmName)
	if err := v.Properties(context.Background(), v.Reference(), []string{"config.hardware.device"}, &m); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range object.VirtualDeviceList(m.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil)) {
		if b, ok := d.(*types.VirtualDisk).Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
			out = append(out, strings.ToLower(b.Uuid))
		}
	}
	sort.Strings(out)
	return out
}

// TestRestoredCopiesGetDiskUUIDsOfTheirOwn: a set restored under another
// name, beside the original, has disks whose UUIDs (the descriptors'
// ddb.uuid, which ESXi takes the disks' identity from) are new, not the
// original's; restored in place of the original (its own name) the disks
// keep theirs. The old code copied the original's ddb.uuid into the copy.
func TestRestoredCopiesGetDiskUUIDsOfTheirOwn(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 1 << 20, WriteRate: -1})
	orig := diskUUIDs(t, e, "VM1")
	if len(orig) != 1 || orig[0] == "" {
		t.Fatalf("VM1's disk UUIDs: %v", orig)
	}
	err, recs := e.Run(t, `
		local vm, backup = require "vm", require "backup"
		local v = vm.open("name:VM1")
		local set = v:backup{ to = arg.dest }
		backup.restore{ from = arg.dest, set = set.id, datastore = "LocalDS_1", name = "VM1-copy" }
		v:power_off()
		backup.restore{ from = arg.dest, set = set.id, on_conflict = "overwrite" }
	`, simtest.RunOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	cp := diskUUIDs(t, e, "VM1-copy")
	if len(cp) != 1 || cp[0] == "" || cp[0] == orig[0] {
		t.Errorf("the copy's disk UUIDs %v, the original's %v: want new ones", cp, orig)
	}
	if again := diskUUIDs(t, e, "VM1"); len(again) != 1 || again[0] != orig[0] {
		t.Errorf("restored in place, VM1's disk UUIDs %v, were %v: want them kept", again, orig)
	}
}
