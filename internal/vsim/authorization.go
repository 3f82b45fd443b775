package vsim

import (
	"context"
	"fmt"
	"slices"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Privileges as vCenter and ESXi check them: AuthorizationManager's
// HasPrivilegeOnEntity, HasPrivilegeOnEntities and
// FetchUserPrivilegeOnEntities answer from the permissions set on the
// entity and its ancestors (SetEntityPermissions), for the calling
// session's user; vcsim answers true for every privilege of everyone. The
// simulator's own user (Options.Username) holds the Admin role on the
// root folder, as a vCenter's administrator does, so that everything
// works as before until a test gives it a narrower role somewhere.
//
// The rule (vSphere Security, "Hierarchical Inheritance of Permissions"
// and "Multiple Permission Settings"): a permission defined on an entity
// applies to it; one on an ancestor applies when it propagates; the
// nearest one wins, and a permission given to the user overrides those of
// its groups (the simulator knows no groups of its users, so a group's
// permission is ignored). A user with no applicable permission has no
// privilege. Only the caller's own session is judged: the sessionId or
// userName a call names is taken to be the caller's.
//
// HasPrivilegeOnEntity answers a list of booleans, whose false elements
// vcsim's SOAP encoding drops (govmomi's omitempty on []bool): a client
// reads fewer answers than it asked. vmlua asks HasPrivilegeOnEntities,
// whose answers name their privilege.

type authWrapper struct {
	*simulator.AuthorizationManager
	s *Sim
}

// grantAdmin gives the simulator's user the Admin role on the root folder
// (Start).
func (s *Sim) grantAdmin(ctx context.Context) error {
	am := object.NewAuthorizationManager(s.ctl.Client)
	root := s.ctl.ServiceContent.RootFolder
	perms, err := am.RetrieveEntityPermissions(ctx, root, false)
	if err != nil {
		return fmt.Errorf("vsim: permissions of the root folder: %w", err)
	}
	perms = append(perms, types.Permission{Entity: &root, Principal: s.opts.Username, RoleId: adminRoleID, Propagate: true})
	if err := am.SetEntityPermissions(ctx, root, perms); err != nil {
		return fmt.Errorf("vsim: give %s the Admin role: %w", s.opts.Username, err)
	}
	return nil
}

// adminRoleID is the Admin system role's id (vSphere's, and vcsim's).
const adminRoleID = -1

// privileges returns the privileges the user holds on entity.
func (w *authWrapper) privileges(ctx *simulator.Context, user string, entity types.ManagedObjectReference) []string {
	own := true
	for ref := &entity; ref != nil; own = false {
		body, ok := w.AuthorizationManager.RetrieveEntityPermissions(ctx, &types.RetrieveEntityPermissions{Entity: *ref}).(*methods.RetrieveEntityPermissionsBody)
		if !ok || body.Res == nil {
			return nil
		}
		for _, p := range body.Res.Returnval {
			if p.Group || p.Principal != user || (!own && !p.Propagate) {
				continue
			}
			for _, r := range w.RoleList {
				if r.RoleId == p.RoleId {
					return r.Privilege
				}
			}
			return nil
		}
		e, ok := ctx.Map.Get(*ref).(mo.Entity)
		if !ok {
			return nil
		}
		ref = e.Entity().Parent
	}
	return nil
}

func (w *authWrapper) user(ctx *simulator.Context) string {
	if ctx.Session == nil {
		return ""
	}
	return ctx.Session.UserName
}

func (w *authWrapper) HasPrivilegeOnEntity(ctx *simulator.Context, req *types.HasPrivilegeOnEntity) soap.HasFault {
	held := w.privileges(ctx, w.user(ctx), req.Entity)
	out := make([]bool, len(req.PrivId))
	for i, id := range req.PrivId {
		out[i] = slices.Contains(held, id)
	}
	return &methods.HasPrivilegeOnEntityBody{Res: &types.HasPrivilegeOnEntityResponse{Returnval: out}}
}

func (w *authWrapper) HasPrivilegeOnEntities(ctx *simulator.Context, req *types.HasPrivilegeOnEntities) soap.HasFault {
	var out []types.EntityPrivilege
	for _, e := range req.Entity {
		held := w.privileges(ctx, w.user(ctx), e)
		ep := types.EntityPrivilege{Entity: e}
		for _, id := range req.PrivId {
			ep.PrivAvailability = append(ep.PrivAvailability, types.PrivilegeAvailability{PrivId: id, IsGranted: slices.Contains(held, id)})
		}
		out = append(out, ep)
	}
	return &methods.HasPrivilegeOnEntitiesBody{Res: &types.HasPrivilegeOnEntitiesResponse{Returnval: out}}
}

func (w *authWrapper) FetchUserPrivilegeOnEntities(ctx *simulator.Context, req *types.FetchUserPrivilegeOnEntities) soap.HasFault {
	var out []types.UserPrivilegeResult
	for _, e := range req.Entities {
		out = append(out, types.UserPrivilegeResult{Entity: e, Privileges: w.privileges(ctx, w.user(ctx), e)})
	}
	return &methods.FetchUserPrivilegeOnEntitiesBody{Res: &types.FetchUserPrivilegeOnEntitiesResponse{Returnval: out}}
}
