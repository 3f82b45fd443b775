package all

import (
	"testing"

	"github.com/vmlua/vmlua/modules/backup"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
)

// TestEveryFunctionIsDocumented: a Lua function without documentation is
// not finished; the reference is generated from these descriptions.
func TestEveryFunctionIsDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range Modules() {
		if seen[m.Name] {
			t.Errorf("module %s listed twice", m.Name)
		}
		seen[m.Name] = true
		if err := m.Validate(); err != nil {
			t.Error(err)
		}
	}
}

// TestModulesGiveVMsTheirBackupMethod: the backup module's v:backup is
// registered here, on the vm module's VM, and only in the list Modules
// returns (vm.VMType itself is not changed).
func TestModulesGiveVMsTheirBackupMethod(t *testing.T) {
	var found *runtime.Type
	for _, m := range Modules() {
		for _, ty := range m.Types {
			if ty.Name == vm.VMType.Name {
				found = ty
			}
		}
	}
	if found == nil {
		t.Fatal("no module offers the VM type")
	}
	for _, tc := range []struct {
		name string
		typ  *runtime.Type
		want bool
	}{
		{"the listed VM type has backup", found, true},
		{"the vm module's own VM type has not", vm.VMType, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := tc.typ.Method("backup"); ok != tc.want {
				t.Errorf("VM:backup present = %v, want %v", ok, tc.want)
			}
		})
	}
	if len(found.Methods) != len(vm.VMType.Methods)+len(backup.VMMethods) {
		t.Errorf("the listed VM type has %d methods, want the vm module's %d and backup's %d", len(found.Methods), len(vm.VMType.Methods), len(backup.VMMethods))
	}
}
