package vm_test

import (
	"github.com/vmlua/vmlua/internal/harness/simtest"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// TestSnapshotRemovalRecovers covers the fixes the fault matrix
// (internal/harness/faultmatrix) asked for: a failed snapshot removal is retried
// with back-off, a merge that failed half-way is finished by consolidating
// the disks, a snapshot a failed CreateSnapshot task made anyway is
// removed, and a commit started without waiting whose merge task fails is
// committed by the run's cleanup (whether or not the script waited for it).
func TestSnapshotRemovalRecovers(t *testing.T) {
	removeFailsOnce := func(e *simtest.Env) {
		e.Sim.AddFaultRule(&simulator.FaultInjectionRule{MethodName: "RemoveSnapshot_Task", ObjectType: "*", ObjectName: "*",
			FaultType: simulator.FaultTypeResourceInUse, Probability: 1, Enabled: true, MaxCount: 1})
	}
	removeTaskFails := func(e *simtest.Env) {
		e.Sim.InjectTaskFault(vsim.TaskFault{Method: "RemoveSnapshot_Task", VM: "DB01", Point: vsim.PointStart})
	}
	cases := []struct {
		name, script, wantErr, wantLog string
		arm                            func(e *simtest.Env)
	}{
		{"a commit whose RemoveSnapshot call fails once is retried and succeeds",
			`v:add_redo("scsi0:0"); v:commit("scsi0:0", 0, 0, 1)`, "", "removing a snapshot failed, retrying", removeFailsOnce},
		{"a cleanup whose RemoveSnapshot call fails once is retried",
			`v:add_redo("scsi0:0"); error("stop here")`, "stop here", "removing a snapshot failed, retrying", removeFailsOnce},
		{"a commit whose merge fails half-way consolidates the disks",
			`v:add_redo("scsi0:0"); v:commit("scsi0:0", 0, 0, 1)`, "", "a snapshot removal left the VM's disks needing consolidation; consolidating them",
			func(e *simtest.Env) {
				e.Sim.InjectTaskFault(vsim.TaskFault{Method: "RemoveSnapshot_Task", VM: "DB01", Point: vsim.PointMerge})
			}},
		{"a CreateSnapshot task failing after it made the snapshot leaves no snapshot",
			`v:add_redo("scsi0:0")`, "InsufficientDisks", "add_redo failed after vSphere made the snapshot; removing it",
			func(e *simtest.Env) {
				e.Sim.InjectTaskFault(vsim.TaskFault{Method: "CreateSnapshot_Task", VM: "DB01", Point: vsim.PointEnd, Fault: &types.InsufficientDisks{}})
			}},
		{"a commit without wait whose merge task fails, waited for by the script, leaves no snapshot",
			`v:add_redo("scsi0:0"); local task = v:commit("scsi0:0", 0, 0, 0); assert(not pcall(task.wait, task), "the failed merge was not reported")`, "", "cleanup done", removeTaskFails},
		{"a commit without wait whose merge task fails, not waited for, leaves no snapshot",
			`v:add_redo("scsi0:0"); v:commit("scsi0:0", 0, 0, 0)`, "", "cleanup done", removeTaskFails},
		{"an export to a URL that is not granted names the VM and the disk",
			`v:add_redo("scsi0:0"); v:export("scsi0:0", "file:///not/granted")`, "vm=DB01, disk=scsi0:0", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := simtest.Start(t, vsim.Options{DiskSize: 4 << 20, WriteRate: 200})
			if tc.arm != nil {
				tc.arm(e)
			}
			err, recs := e.Run(t, `local v = require("vm").open("name:DB01"); `+tc.script, simtest.RunOptions{})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("%v\n%s", err, recs)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error = %v, want %q\n%s", err, tc.wantErr, recs)
			}
			if tc.wantLog != "" && len(recs.Find(tc.wantLog)) == 0 {
				t.Errorf("not logged: %q\n%s", tc.wantLog, recs)
			}
			if s := e.Snapshots(t, "DB01"); len(s) != 0 {
				t.Errorf("snapshots left: %v", s)
			}
			disks, _ := e.Sim.Disks("DB01")
			for _, d := range disks {
				if len(d.Chain) != 1 {
					t.Errorf("disk %s left on a delta: %v", d.ID, d.Chain)
				}
			}
		})
	}
}
