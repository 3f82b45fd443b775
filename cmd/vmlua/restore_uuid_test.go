package main

import (
	"context"
	"strings"
	"testing"

	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// TestRestoreVerbPowersOnAnsweringMovedOrCopied: vmlua restore --power-on
// of a VM beside the original: its first power-on asks msg.uuid.altered
// (as ESXi does), the restore answers I Copied It, and the VM runs with a
// uuid of its own; the log says so. It used to fail on the question and
// undo the restore.
func TestRestoreVerbPowersOnAnsweringMovedOrCopied(t *testing.T) {
	s := newVerbSite(t)
	uuidOf := func(name string) (string, types.VirtualMachinePowerState) {
		var m mo.VirtualMachine
		vm := s.VMObj(t, name)
		if err := vm.Properties(context.Background(), vm.Reference(), []string{"config.uuid", "runtime.powerState"}, &m); err != nil {
			t.Fatal(err)
		}
		return m.Config.Uuid, m.Runtime.PowerState
	}
	orig, _ := uuidOf("VM1")
	out, errOut, code := s.vmlua(t, "restore", "--json", "--log-format", "json", s.target, "VM1", "--name", "VM1-on", "--datastore", "LocalDS_1", "--power-on")
	if code != exitOK {
		t.Fatalf("restore --power-on: exit %d\n%s%s", code, out, errOut)
	}
	got, power := uuidOf("VM1-on")
	if power != types.VirtualMachinePowerStatePoweredOn || got == orig || got == "" {
		t.Errorf("restored VM1-on is %s with uuid %s (VM1's: %s): want on, with a uuid of its own", power, got, orig)
	}
	if !strings.Contains(errOut, `"choice":"button.uuid.copiedTheVM"`) || !strings.Contains(errOut, "is still registered") {
		t.Errorf("the log does not say the restore answered I Copied It because VM1 is still registered:\n%s", errOut)
	}
}
