package vsim

import (
	"context"
	"slices"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// TestPrivilegesFollowThePermissions: HasPrivilegeOnEntities and
// FetchUserPrivilegeOnEntities answer from the
// permissions, as vSphere does: the simulator's user is an administrator
// everywhere until a permission on an entity gives it a narrower role
// there, which overrides the inherited one on that entity only. vcsim
// answered true for every privilege of everyone.
func TestPrivilegesFollowThePermissions(t *testing.T) {
	s, c := startSim(t, Options{VMs: 2})
	ctx := context.Background()
	am := object.NewAuthorizationManager(c.Client)
	us, err := c.SessionManager.UserSession(ctx)
	if err != nil {
		t.Fatal(err)
	}
	vm1, vm2 := findVM(t, c, "VM1").Reference(), findVM(t, c, "VM2").Reference()
	id, err := am.AddRole(ctx, "reader", []string{"VirtualMachine.Interact.AnswerQuestion"})
	if err != nil {
		t.Fatal(err)
	}
	if err := am.SetEntityPermissions(ctx, vm1, []types.Permission{{Entity: &vm1, Principal: s.opts.Username, RoleId: id}}); err != nil {
		t.Fatal(err)
	}
	privs := []string{"VirtualMachine.State.CreateSnapshot", "VirtualMachine.Interact.AnswerQuestion"}
	for _, tc := range []struct {
		name string
		ref  types.ManagedObjectReference
		want []bool
	}{
		{"the narrower role on VM1 holds only its privilege", vm1, []bool{false, true}},
		{"VM2 inherits the Admin role of the root folder", vm2, []bool{true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := methods.HasPrivilegeOnEntities(ctx, c.Client, &types.HasPrivilegeOnEntities{This: am.Reference(), Entity: []types.ManagedObjectReference{tc.ref}, SessionId: us.Key, PrivId: privs})
			if err != nil || len(res.Returnval) != 1 {
				t.Fatalf("HasPrivilegeOnEntities = %v, %v", res, err)
			}
			for i, a := range res.Returnval[0].PrivAvailability {
				if a.IsGranted != tc.want[i] {
					t.Errorf("HasPrivilegeOnEntities: %s granted %v, want %v", a.PrivId, a.IsGranted, tc.want[i])
				}
			}
			fetched, err := am.FetchUserPrivilegeOnEntities(ctx, []types.ManagedObjectReference{tc.ref}, s.opts.Username)
			if err != nil || len(fetched) != 1 {
				t.Fatalf("FetchUserPrivilegeOnEntities = %v, %v", fetched, err)
			}
			if got := slices.Contains(fetched[0].Privileges, privs[0]); got != tc.want[0] {
				t.Errorf("FetchUserPrivilegeOnEntities holds %s: %v, want %v", privs[0], got, tc.want[0])
			}
		})
	}
}
