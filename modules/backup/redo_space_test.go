package backup_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/eventually"
	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmware/govmomi/vim25/types"
)

// TestABackupWhoseREDOFillsTheDatastoreIsAbortedAndTheVMRunsOn: a small
// datastore, the guest's writes fill it through the backup's REDO log
// while the disk is read, and the VM stops on msg.hbacommon.outofspace
// naming that REDO log. vmlua aborts the backup (it fails, with the
// reason, and keeps no set), commits the REDO log to free the space, then
// answers Retry, logging each step: the VM ends running, writing, with no
// snapshot and no question. (The backup used to wait for its read while
// the VM stayed stopped, then fail its commit on the question.)
func TestABackupWhoseREDOFillsTheDatastoreIsAbortedAndTheVMRunsOn(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 1 << 20, WriteRate: 400,
		Inventory: []vsim.VMSpec{{Name: "VM1"}}})
	e.Sim.SetDatastoreCapacity(e.Sim.DatastoreUsed("LocalDS_0") + 256<<10)
	// the disk's read waits until vmlua saw the VM stop on the question
	// (the guest fills the datastore meanwhile), so that the backup is
	// aborted while it reads, whatever the load
	ctx := eventually.Context(t)
	detected := make(chan struct{})
	var once sync.Once
	e.Sim.SetOnFolder(func(fr vsim.FolderRequest) {
		if fr.Method != "GET" || fr.Path != "VM1/VM1-flat.vmdk" { // the frozen base, not the .vmx
			return
		}
		select {
		case <-detected:
		case <-ctx.Done():
		}
	})
	err, recs := e.Run(t, `
		local v = require("vm").open("name:VM1")
		v:backup{ to = arg.dest }
	`, simtest.RunOptions{Hook: func(msg string, _ map[string]any) {
		if strings.HasPrefix(msg, "backup: the datastore is full") {
			once.Do(func() { close(detected) })
		}
	}})
	if len(recs.Find("backup: disk stored")) != 0 {
		t.Errorf("the disk was stored: the read was not aborted\n%s", recs)
	}
	if err == nil || simtest.Code(err) != "conflict" || !strings.Contains(err.Error(), "filled its datastore") ||
		!strings.Contains(err.Error(), "VM1-000001.vmdk") || !strings.Contains(err.Error(), "msg.hbacommon.outofspace") {
		t.Fatalf("backup: %v, want a conflict saying its REDO log filled the datastore\n%s", err, recs)
	}
	for _, step := range []string{
		"backup: the datastore is full: the VM stopped on msg.hbacommon.outofspace for this backup's REDO log; aborting the backup, committing its REDO logs to free the space, then answering Retry",
		"backup: its REDO logs are committed: the space they took is free",
		"answered a question",
		"backup: answered Retry: the VM runs on",
	} {
		if len(recs.Find(step)) != 1 {
			t.Errorf("the log does not say once %q\n%s", step, recs)
		}
	}
	if a := recs.Find("answered a question"); len(a) == 1 && (a[0]["choice"] != "button.retry" || !strings.HasPrefix(a[0]["by"].(string), "backup: ")) {
		t.Errorf("answer %v, want Retry by the backup", a[0])
	}
	if s := e.Snapshots(t, "VM1"); len(s) != 0 {
		t.Errorf("snapshots left on VM1: %v", s)
	}
	if q := e.Sim.PendingQuestion("VM1"); q != nil {
		t.Errorf("VM1 still stopped on %q", q.Text)
	}
	seq, _ := e.Sim.WriteSeq("VM1")
	eventually.True(t, "the guest to write on", func() bool {
		s, _ := e.Sim.WriteSeq("VM1")
		return s > seq
	})
	on, err := e.VMObj(t, "VM1").PowerState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if on != types.VirtualMachinePowerStatePoweredOn {
		t.Errorf("VM1 is %s, want poweredOn", on)
	}
	if sets, _ := filepath.Glob(filepath.Join(e.Dir, "VM1", "*", catalog.FileName)); len(sets) != 0 {
		t.Errorf("the aborted backup left a set: %v", sets)
	}
}
