package vsim

import (
	"context"
	"fmt"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// How the extensions attach to vcsim: vcsim resolves a logged-in call's
// target through the caller's session registry first. For VMs, snapshots
// and folders, dispatch puts a wrapper (embedding the stock object as field
// 0) into that session registry; the wrapper's methods override the stock
// ones and everything else is promoted. The stock object stays in the main
// registry, so vcsim's own type assertions keep working.

type vmWrapper struct {
	*simulator.VirtualMachine
	s *Sim
}

type snapWrapper struct {
	*simulator.VirtualMachineSnapshot
	s *Sim
}

type folderWrapper struct {
	*simulator.Folder
	s *Sim
}

func (s *Sim) dispatch(ctx *simulator.Context, m *simulator.Method) (mo.Reference, types.BaseMethodFault) {
	if ctx.Session == nil {
		return nil, nil
	}
	if f := s.touchSession(ctx); f != nil { // session_expiry.go
		return nil, f
	}
	s.recordCall(ctx.Session.Key, m.Name) // call_log.go
	ref := m.This
	obj := ctx.Map.Get(ref)
	cur := ctx.Session.Registry.Get(ref)
	// the SessionManager view that served a ticket (folder_auth.go) serves
	// only that call
	smRef := ctx.Map.SessionManager().Reference()
	if w, ok := ctx.Session.Registry.Get(smRef).(*smWrapper); ok && (ref != smRef || m.Name != "AcquireGenericServiceTicket") {
		ctx.WithLock(w.SessionManager, func() { ctx.Session.Registry.Remove(ctx, smRef) })
	}
	switch o := obj.(type) {
	case *simulator.SessionManager:
		if m.Name == "AcquireGenericServiceTicket" {
			put(ctx, o, s.sessionManagerView(ctx))
		}
	case *simulator.VirtualMachine:
		if w, ok := cur.(*vmWrapper); ok && w.VirtualMachine == o {
			return nil, nil
		}
		if _, err := s.adopt(ref, false); err != nil {
			s.logf("vsim: adopt %s: %v", ref, err)
		}
		put(ctx, o, &vmWrapper{o, s})
	case *simulator.VirtualMachineSnapshot:
		if w, ok := cur.(*snapWrapper); ok && w.VirtualMachineSnapshot == o {
			return nil, nil
		}
		put(ctx, o, &snapWrapper{o, s})
	case *simulator.Folder:
		if w, ok := cur.(*folderWrapper); ok && w.Folder == o {
			return nil, nil
		}
		put(ctx, o, &folderWrapper{o, s})
	case *simulator.HostNetworkSystem:
		if w, ok := cur.(*netWrapper); ok && w.HostNetworkSystem == o {
			return nil, nil
		}
		put(ctx, o, &netWrapper{o, s})
	case *simulator.HostDatastoreBrowser:
		if w, ok := cur.(*browserWrapper); ok && w.HostDatastoreBrowser == o {
			return nil, nil
		}
		put(ctx, o, &browserWrapper{o, s})
	case *simulator.Datastore: // capacity and free space (datastore_space.go)
		if w, ok := cur.(*datastoreWrapper); ok && w.Datastore == o {
			return nil, nil
		}
		put(ctx, o, &datastoreWrapper{o, s})
	case *simulator.AuthorizationManager: // privileges as vSphere checks them (authorization.go)
		if w, ok := cur.(*authWrapper); ok && w.AuthorizationManager == o {
			return nil, nil
		}
		put(ctx, o, &authWrapper{o, s})
	case *simulator.ResourcePool: // ImportVApp (nfc_lease.go)
		if w, ok := cur.(*poolWrapper); ok && w.ResourcePool == o {
			return nil, nil
		}
		put(ctx, o, &poolWrapper{o, s})
	case *simulator.HostDatastoreSystem: // NAS datastores (nas_datastore.go)
		if w, ok := cur.(*dsSysWrapper); ok && w.HostDatastoreSystem == o {
			return nil, nil
		}
		put(ctx, o, &dsSysWrapper{o, s})
	case nil:
		// removed object: drop a stale wrapper so the call gets ManagedObjectNotFound
		switch cur.(type) {
		case *vmWrapper, *snapWrapper, *folderWrapper, *netWrapper, *browserWrapper, *dsSysWrapper, *datastoreWrapper, *authWrapper:
			ctx.Session.Registry.Remove(ctx, ref)
		}
	}
	return nil, nil
}

// runTask starts a task on obj whose work runs in its own goroutine without
// holding obj's lock, so it may block (on a question) while property reads,
// AnswerVM and WaitForUpdates go on. fn gets a Context of its own.
func (s *Sim) runTask(ctx *simulator.Context, obj mo.Reference, name string, fn func(tctx *simulator.Context, task *simulator.Task) (types.AnyType, types.BaseMethodFault)) types.ManagedObjectReference {
	task := simulator.CreateTask(obj, name, nil)
	ctx.Map.Put(task)
	task.Info.Key = task.Self.Value
	task.Info.Task = task.Self
	if ctx.Session != nil {
		task.Info.Reason = &types.TaskReasonUser{UserName: ctx.Session.UserName}
	}
	tctx := &simulator.Context{Map: ctx.Map, Session: ctx.Session, Context: s.ctx}
	ctx.Map.AtomicUpdate(tctx, task, []types.PropertyChange{
		{Name: "info.startTime", Val: time.Now()},
		{Name: "info.state", Val: types.TaskInfoStateRunning},
	})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		res, fault := fn(tctx, task)
		state := types.TaskInfoStateSuccess
		var lf any
		if fault != nil {
			state = types.TaskInfoStateError
			lf = &types.LocalizedMethodFault{Fault: fault, LocalizedMessage: faultMessage(fault)}
		}
		ctx.Map.AtomicUpdate(tctx, task, []types.PropertyChange{
			{Name: "info.completeTime", Val: time.Now()},
			{Name: "info.state", Val: state},
			{Name: "info.result", Val: res},
			{Name: "info.error", Val: lf},
		})
	}()
	return task.Self
}

func faultMessage(f types.BaseMethodFault) string {
	if m := f.GetMethodFault().FaultMessage; len(m) > 0 && m[0].Message != "" {
		return m[0].Message
	}
	return fmt.Sprintf("%T", f)
}

// withMessage sets a human message on a fault.
func withMessage[F types.BaseMethodFault](f F, msg string) F {
	f.GetMethodFault().FaultMessage = []types.LocalizableMessage{{Key: "vmlua.sim", Message: msg}}
	return f
}

// waitTask waits for a vcsim task (started by a stock method) to finish.
func (s *Sim) waitTask(ctx context.Context, ref types.ManagedObjectReference) types.BaseMethodFault {
	t, ok := s.reg.Get(ref).(*simulator.Task)
	if !ok {
		return &types.ManagedObjectNotFound{Obj: ref}
	}
	lctx := s.bgContext()
	for {
		var info types.TaskInfo
		lctx.WithLock(t, func() { info = t.Info })
		switch info.State {
		case types.TaskInfoStateSuccess:
			return nil
		case types.TaskInfoStateError:
			if info.Error != nil {
				return info.Error.Fault
			}
			return &types.SystemError{}
		}
		select {
		case <-ctx.Done():
			return &types.RequestCanceled{}
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// put installs a wrapper in the caller's session registry. Registry.Put
// writes the entity's status fields, which are shared with the stock object,
// so it runs under the object's lock. It calls the session's Registry.Put,
// not Session.Put: the wrapper already carries the object's reference, and
// Session.Put would rewrite the shared Self field by reflection while other
// goroutines read it, unlocked, to find the object's lock (a data race).
func put(ctx *simulator.Context, obj, w mo.Reference) {
	ctx.WithLock(obj, func() { ctx.Session.Registry.Put(w) })
}
