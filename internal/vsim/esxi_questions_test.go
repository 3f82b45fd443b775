package vsim

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/eventually"
	"github.com/vmlua/vmlua/internal/vmxfmt"
	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// registerCopy copies VM's files (powered off first) to the folder dir
// and registers them as name, as a restore or a copy by hand does.
func registerCopy(t *testing.T, s *Sim, c *govmomi.Client, vmName, dir, name string) *object.VirtualMachine {
	t.Helper()
	ctx := context.Background()
	src, _ := s.dsLocal("[LocalDS_0] " + vmName)
	dst, _ := s.dsLocal("[LocalDS_0] " + dir)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{".vmx", ".vmdk", "-flat.vmdk"} {
		b, err := os.ReadFile(src + "/" + vmName + n)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst+"/"+vmName+n, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	finder := find.NewFinder(c.Client)
	dc, _ := finder.DefaultDatacenter(ctx)
	folders, _ := dc.Folders(ctx)
	pools, _ := finder.ResourcePoolList(ctx, "*")
	rt, err := folders.VmFolder.RegisterVM(ctx, "[LocalDS_0] "+dir+"/"+vmName+".vmx", name, false, pools[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := rt.WaitForResult(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return object.NewVirtualMachine(c.Client, info.Result.(types.ManagedObjectReference))
}

// editVMX sets key = value in the .vmx at dsPath.
func editVMX(t *testing.T, s *Sim, dsPath, key, value string) {
	t.Helper()
	p, _ := s.dsLocal(dsPath)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, append(b, []byte(key+" = \""+value+"\"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAMovedOrCopiedVMsPowerOnAsksWhetherItWasMovedOrCopied: msg.uuid.altered
// as ESXi asks it (its text, its three choices by label and summary, I
// Copied It the default); the power-on waits for the answer; moved keeps
// uuid.bios, copied gives a new one, Cancel fails the power-on; a VM that
// was not moved, or whose .vmx says uuid.action, is not asked.
func TestAMovedOrCopiedVMsPowerOnAsksWhetherItWasMovedOrCopied(t *testing.T) {
	cases := []struct {
		name       string
		action     string // uuid.action written in the copy's .vmx
		answer     int    // -1: no question expected
		wantOn     bool
		sameUUID   bool
		askedAgain bool
	}{
		{name: "I moved it keeps the uuid", answer: uuidAlteredMoved, wantOn: true, sameUUID: true},
		{name: "I copied it gives a new uuid", answer: uuidAlteredCopied, wantOn: true},
		{name: "Cancel fails the power-on and asks again next time", answer: uuidAlteredCancel, askedAgain: true},
		{name: "uuid.action keep is not asked and keeps the uuid", action: "keep", answer: -1, wantOn: true, sameUUID: true},
		{name: "uuid.action create is not asked and makes a new uuid", action: "create", answer: -1, wantOn: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, c := startSim(t, Options{VMs: 1, Inventory: []VMSpec{{Name: "VM1", PoweredOff: true}}})
			ctx := context.Background()
			orig := vmProps(t, findVM(t, c, "VM1"), "config.uuid").Config.Uuid
			if tc.action != "" {
				editVMX(t, s, "[LocalDS_0] VM1/VM1.vmx", "uuid.action", tc.action)
			}
			cp := registerCopy(t, s, c, "VM1", "R1", "R1")
			if got := vmProps(t, cp, "config.uuid").Config.Uuid; got != orig {
				t.Fatalf("registered copy has uuid %s, its .vmx says %s", got, orig)
			}
			task, err := cp.PowerOn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tc.answer >= 0 {
				var q *types.VirtualMachineQuestionInfo
				eventually.True(t, "the power-on to ask msg.uuid.altered", func() bool {
					q = vmProps(t, cp, "runtime.question").Runtime.Question
					return q != nil
				})
				if q.Message[0].Id != MsgUUIDAltered || !strings.HasPrefix(q.Text, "This virtual machine might have been moved or copied.") || q.Choice.DefaultIndex != 2 {
					t.Fatalf("question %+v", q)
				}
				var got []string
				for _, ci := range q.Choice.ChoiceInfo {
					e := ci.GetElementDescription()
					got = append(got, e.Key+"="+e.Label+"/"+e.Summary)
				}
				want := "0=button.uuid.cancel/Cancel 1=button.uuid.movedTheVM/I Moved It 2=button.uuid.copiedTheVM/I Copied It"
				if strings.Join(got, " ") != want {
					t.Fatalf("choices %v, want %s", got, want)
				}
				if st := vmProps(t, cp, "runtime.powerState").Runtime.PowerState; st != types.VirtualMachinePowerStatePoweredOff {
					t.Fatalf("the VM is %s before the question is answered", st)
				}
				if err := cp.Answer(ctx, q.Id, q.Choice.ChoiceInfo[tc.answer].GetElementDescription().Key); err != nil {
					t.Fatal(err)
				}
			}
			err = task.Wait(ctx)
			if (err == nil) != tc.wantOn {
				t.Fatalf("power-on: %v, want success %v", err, tc.wantOn)
			}
			m := vmProps(t, cp, "config.uuid", "runtime.powerState", "runtime.question")
			if (m.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn) != tc.wantOn {
				t.Fatalf("power state %s", m.Runtime.PowerState)
			}
			if tc.wantOn && (m.Config.Uuid == orig) != tc.sameUUID {
				t.Fatalf("uuid %s, original %s, want the same: %v", m.Config.Uuid, orig, tc.sameUUID)
			}
			vmx, _ := s.dsLocal("[LocalDS_0] R1/VM1.vmx")
			f, _ := os.Open(vmx)
			kv, _ := ParseVMX(f)
			f.Close()
			if tc.wantOn && !vmxfmt.SameUUID(kv["uuid.bios"], m.Config.Uuid) {
				t.Errorf(".vmx uuid.bios %s, VM %s", kv["uuid.bios"], m.Config.Uuid)
			}
			if tc.askedAgain {
				task, _ := cp.PowerOn(ctx)
				eventually.True(t, "the next power-on to ask again", func() bool {
					return vmProps(t, cp, "runtime.question").Runtime.Question != nil
				})
				q := vmProps(t, cp, "runtime.question").Runtime.Question
				if err := cp.Answer(ctx, q.Id, "1"); err != nil {
					t.Fatal(err)
				}
				if err := task.Wait(ctx); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !tc.wantOn {
				return
			}
			// answered once: the next power-on does not ask
			powerOff(t, cp)
			task, _ = cp.PowerOn(ctx)
			if err := task.Wait(ctx); err != nil {
				t.Fatalf("second power-on: %v", err)
			}
		})
	}
	// the VM made here, powered on where it was made, is not asked; nor
	// after a storage migration, which records the new location
	_, c := startSim(t, Options{VMs: 1, Inventory: []VMSpec{{Name: "VM1", PoweredOff: true}}})
	ctx := context.Background()
	vm := findVM(t, c, "VM1")
	task, _ := vm.PowerOn(ctx)
	if err := task.Wait(ctx); err != nil {
		t.Fatalf("power-on of a VM that did not move: %v", err)
	}
	powerOff(t, vm)
	dss, err := find.NewFinder(c.Client).DatastoreList(ctx, "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, ds := range dss {
		if ds.Name() == "LocalDS_1" {
			ref := ds.Reference()
			rt, err := vm.Relocate(ctx, types.VirtualMachineRelocateSpec{Datastore: &ref}, types.VirtualMachineMovePriorityDefaultPriority)
			if err != nil {
				t.Fatal(err)
			}
			if err := rt.Wait(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if p := vmProps(t, vm, "config.files").Config.Files.VmPathName; !strings.HasPrefix(p, "[LocalDS_1]") {
		t.Fatalf("not migrated: %s", p)
	}
	task, _ = vm.PowerOn(ctx)
	if err := task.Wait(eventually.Context(t)); err != nil {
		t.Fatalf("power-on after a storage migration: %v (question: %+v)", err, vmProps(t, vm, "runtime.question").Runtime.Question)
	}
}

// TestAFullDatastoreStopsTheVMOnOutOfSpace: a datastore has a capacity
// its summary reports; guest writes that fill it through a snapshot's
// delta stop the VM on msg.hbacommon.outofspace naming the delta; Retry
// while still full asks again, Retry after the snapshot is removed (its
// delta merged: the space freed) lets the guest write on; Cancel powers
// the VM off.
func TestAFullDatastoreStopsTheVMOnOutOfSpace(t *testing.T) {
	for _, cancel := range []bool{false, true} {
		name := "retry after space was freed resumes"
		if cancel {
			name = "cancel powers the VM off"
		}
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			probe, _ := startSim(t, Options{Inventory: []VMSpec{{Name: "VM1", PoweredOff: true}}, DiskSize: 1 << 20})
			used := probe.DatastoreUsed("LocalDS_0")
			capacity := used + 256<<10
			s, c := startSim(t, Options{Inventory: []VMSpec{{Name: "VM1"}}, DiskSize: 1 << 20, DatastoreCapacity: capacity})
			var dsm mo.Datastore
			dsObj, err := find.NewFinder(c.Client).Datastore(ctx, "*/LocalDS_0")
			if err != nil {
				dsObj, err = find.NewFinder(c.Client).Datastore(ctx, "LocalDS_0")
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := dsObj.Properties(ctx, dsObj.Reference(), []string{"summary"}, &dsm); err != nil {
				t.Fatal(err)
			}
			if dsm.Summary.Capacity != capacity || dsm.Summary.FreeSpace <= 0 || dsm.Summary.FreeSpace > capacity {
				t.Fatalf("summary capacity %d free %d, want capacity %d", dsm.Summary.Capacity, dsm.Summary.FreeSpace, capacity)
			}
			vm := findVM(t, c, "VM1")
			snapshot(t, vm, "redo")
			var q *types.VirtualMachineQuestionInfo
			eventually.True(t, "the guest to fill the datastore and stop on msg.hbacommon.outofspace", func() bool {
				q = vmProps(t, vm, "runtime.question").Runtime.Question
				return q != nil
			})
			if q.Message[0].Id != MsgOutOfSpace || !strings.Contains(q.Text, "There is no more space for virtual disk 'VM1-000001.vmdk'") ||
				len(q.Choice.ChoiceInfo) != 2 || q.Choice.ChoiceInfo[0].GetElementDescription().Summary != "Retry" || q.Choice.ChoiceInfo[1].GetElementDescription().Summary != "Cancel" {
				t.Fatalf("question %+v", q)
			}
			if _, err := methods.RefreshDatastore(ctx, c.Client, &types.RefreshDatastore{This: dsObj.Reference()}); err != nil {
				t.Fatal(err)
			}
			_ = dsObj.Properties(ctx, dsObj.Reference(), []string{"summary"}, &dsm)
			if dsm.Summary.FreeSpace >= 64<<10 {
				t.Fatalf("the datastore is full but reports %d free", dsm.Summary.FreeSpace)
			}
			seq, _ := s.WriteSeq("VM1")
			if cancel {
				if err := vm.Answer(ctx, q.Id, "1"); err != nil {
					t.Fatal(err)
				}
				eventually.True(t, "Cancel to power the VM off", func() bool {
					return vmProps(t, vm, "runtime.powerState").Runtime.PowerState == types.VirtualMachinePowerStatePoweredOff
				})
				return
			}
			// Retry while still full: asked again
			if err := vm.Answer(ctx, q.Id, "0"); err != nil {
				t.Fatal(err)
			}
			var q2 *types.VirtualMachineQuestionInfo
			eventually.True(t, "Retry on a full datastore to ask again", func() bool {
				q2 = vmProps(t, vm, "runtime.question").Runtime.Question
				return q2 != nil && q2.Id != q.Id
			})
			if s2, _ := s.WriteSeq("VM1"); s2 != seq {
				t.Fatalf("the guest wrote while stopped on the question: %d -> %d", seq, s2)
			}
			// free the space: remove the snapshot (the delta merges), then Retry
			task, err := vm.RemoveAllSnapshot(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := task.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if err := vm.Answer(ctx, q2.Id, "0"); err != nil {
				t.Fatal(err)
			}
			eventually.True(t, "the guest to write on after Retry", func() bool {
				s2, _ := s.WriteSeq("VM1")
				return s2 > seq+3
			})
			if st := vmProps(t, vm, "runtime.powerState").Runtime.PowerState; st != types.VirtualMachinePowerStatePoweredOn {
				t.Fatalf("power state %s", st)
			}
		})
	}
}
