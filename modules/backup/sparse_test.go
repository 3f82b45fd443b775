package backup_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"

	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmware/govmomi/find"
)

// registerEmptyVM writes a VM whose 32 MiB disk holds 1 MiB of data onto
// the datastore folder and registers it.
func registerEmptyVM(t *testing.T, e *simtest.Env, dsDir, name string, size int64) {
	registerEmptyVMB(t, e, dsDir, name, size, 1<<20)
}

func registerEmptyVMB(t testing.TB, e *simtest.Env, dsDir, name string, size, dataBytes int64) {
	t.Helper()
	dir := filepath.Join(dsDir, "LocalDS_0", name)
	os.MkdirAll(dir, 0o755)
	vmx := fmt.Sprintf("displayName = %q\nmemsize = \"128\"\nnumvcpus = \"1\"\nguestOS = \"other-64\"\nscsi0.present = \"TRUE\"\nscsi0.virtualDev = \"lsilogic\"\n"+
		"scsi0:0.present = \"TRUE\"\nscsi0:0.fileName = \"%s.vmdk\"\nscsi0:0.mode = \"persistent\"\n", name, name)
	desc := fmt.Sprintf("# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType=\"vmfs\"\n\nRW %d VMFS \"%s-flat.vmdk\"\n\nddb.adapterType = \"lsilogic\"\n", size/512, name)
	os.WriteFile(filepath.Join(dir, name+".vmx"), []byte(vmx), 0o644)
	os.WriteFile(filepath.Join(dir, name+".vmdk"), []byte(desc), 0o644)
	f, err := os.Create(filepath.Join(dir, name+"-flat.vmdk"))
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i*7 + 1)
	}
	// the data in 1 MiB pieces spread over the disk
	n := dataBytes / int64(len(data))
	for i := int64(0); i < n; i++ {
		f.WriteAt(data, size/2+(i-n/2)*(size/2/max(n, 1)))
	}
	f.Truncate(size)
	f.Close()
	ctx := context.Background()
	fd := find.NewFinder(e.Client.Client)
	dc, _ := fd.DefaultDatacenter(ctx)
	fd.SetDatacenter(dc)
	folders, _ := dc.Folders(ctx)
	pools, err := fd.ResourcePoolList(ctx, "*")
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(pools, func(i, j int) bool { return pools[i].InventoryPath < pools[j].InventoryPath })
	pool := pools[0]
	task, err := folders.VmFolder.RegisterVM(ctx, fmt.Sprintf("[LocalDS_0] %s/%s.vmx", name, name), name, false, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestAMostlyEmptyDiskMakesASmallSet(t *testing.T) {
	dsDir := t.TempDir()
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 1 << 20, DatastoreDir: dsDir})
	const size = 32 << 20
	registerEmptyVM(t, e, dsDir, "EMPTY", size)
	for _, compress := range []string{"none", "zstd"} {
		err, recs := e.Run(t, `
			local vm, backup = require "vm", require "backup"
			local v = vm.open("name:EMPTY")
			local set = v:backup{ to = arg.dest, compress = arg.compress }
			assert(set.disks[1].data_bytes == 1048576, "data bytes " .. set.disks[1].data_bytes)
			assert(set.disks[1].bytes < 2 * 1048576, "stored " .. set.disks[1].bytes .. " bytes for 1 MiB of data")
			assert(backup.verify{ at = arg.dest, set = set.id }.ok)
			local r = backup.restore{ from = arg.dest, set = set.id, name = "EMPTY-" .. arg.compress }
			local set2 = r:backup{ to = arg.dest, compress = arg.compress }
			assert(set2.disks[1].sha256 == set.disks[1].sha256, "the restored disk differs")
		`, simtest.RunOptions{Args: []string{"compress=" + compress}})
		if err != nil {
			t.Fatalf("%s: %v\n%s", compress, err, recs)
		}
	}
}
