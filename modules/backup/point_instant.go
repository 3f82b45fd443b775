package backup

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
	lua "github.com/yuin/gopher-lua"

	"github.com/vmlua/vmlua/internal/taskwait"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
)

// Instant recovery from a script (scripts/instant_recovery.lua): mount a
// point served by vmlua serve nfs as a datastore, register and run the
// VM from it, migrate it to production storage, unmount. Registered
// after module.go's init (file order: it assigns Module.Funcs and
// VMMethods).

func init() {
	hostOpt := runtime.Option{Name: "host", Type: "string", Doc: "the host (default: the only or first host)"}
	Module.Funcs = append(Module.Funcs,
		runtime.Func{Name: "mount_nfs", Args: optionsArg(
			runtime.Option{Name: "url", Type: "string", Required: true, Doc: "the export, nfs://SERVER[:PORT]/EXPORT, as vmlua serve nfs prints it"},
			runtime.Option{Name: "name", Type: "string", Required: true, Doc: "the datastore's name"},
			hostOpt), Returns: "string",
			Doc: "Mounts an NFSv3 export on a host as a datastore (HostDatastoreSystem.CreateNasDatastore, read-write) and returns its name. " +
				"A port in the URL is passed in the remote host (ESXi itself always uses 2049; the simulator takes the port). Undo with backup.unmount_datastore.", Fn: luaMountNFS},
		runtime.Func{Name: "unmount_datastore", Args: optionsArg(
			runtime.Option{Name: "name", Type: "string", Required: true, Doc: "the datastore's name"}, hostOpt), Returns: "nil",
			Doc: "Unmounts a datastore from a host (HostDatastoreSystem.RemoveDatastore); vSphere refuses while a VM is on it.", Fn: luaUnmountDatastore},
		runtime.Func{Name: "register", Args: optionsArg(
			runtime.Option{Name: "vmx", Type: "string", Required: true, Doc: `the .vmx's datastore path, "[DS] DB01/DB01.vmx"`},
			runtime.Option{Name: "name", Type: "string", Doc: "the VM's name (default: the .vmx's displayName)"},
			runtime.Option{Name: "folder", Type: "string", Doc: "inventory path of the VM folder (default: the datacenter's)"},
			runtime.Option{Name: "pool", Type: "string", Doc: "inventory path of the resource pool (default: the default one)"},
			hostOpt), Returns: "VM",
			Doc: "Registers a VM from its .vmx on a datastore (Folder.RegisterVM_Task) and returns it. Its first power-on asks whether it was moved or copied (msg.uuid.altered): powered on through the VM returned, vmlua answers I Copied It while the VM of the same BIOS uuid is registered, else I Moved It (docs/questions.md).", Fn: luaRegister},
	)
	VMMethods = append(VMMethods, runtime.Func{Name: "relocate", Args: optionsArg(
		runtime.Option{Name: "datastore", Type: "string", Required: true, Doc: "the datastore every file of the VM moves to"},
		runtime.Option{Name: "timeout", Type: "number", Default: "3600", Doc: "seconds to wait for the migration"}), Returns: "nil",
		Doc: "Moves the VM's files (its disks through their chains) to another datastore while it runs: a storage migration (RelocateVM_Task), waited for.", Fn: luaRelocate})
}

// hostOf finds the host named (the only or first one when "").
func hostOf(ctx context.Context, r *runtime.Run, name string) (*object.HostSystem, *find.Finder, error) {
	conn, err := vm.RunConn(r)
	if err != nil {
		return nil, nil, err
	}
	finder := find.NewFinder(conn.Client)
	dc, err := finder.DefaultDatacenter(ctx)
	if err != nil {
		return nil, nil, runtime.Errorf(runtime.CodeNotFound, "no datacenter: %v", err)
	}
	finder.SetDatacenter(dc)
	if name != "" {
		h, err := finder.HostSystem(ctx, name)
		if err != nil {
			return nil, nil, runtime.Errorf(runtime.CodeNotFound, "host %q: %v", name, err)
		}
		return h, finder, nil
	}
	hs, err := finder.HostSystemList(ctx, "*")
	if err != nil || len(hs) == 0 {
		return nil, nil, runtime.Errorf(runtime.CodeNotFound, "no host: %v", err)
	}
	return hs[0], finder, nil
}

func luaMountNFS(r *runtime.Run, L *lua.LState) int {
	o := runtime.OptionsTable(L, 1)
	ctx := r.Context()
	raw, name := runtime.OptString(L, o, "url", ""), runtime.OptString(L, o, "name", "")
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "nfs" || u.Host == "" || u.Path == "" || name == "" {
		return r.RaiseCode(L, runtime.CodeInvalidArg, "backup.mount_nfs: give url=nfs://SERVER[:PORT]/EXPORT (as vmlua serve nfs prints it) and name=")
	}
	h, _, err := hostOf(ctx, r, runtime.OptString(L, o, "host", ""))
	if err != nil {
		return r.Raise(L, err)
	}
	if r.DryRunAction("mount %s on host %s as datastore %s", raw, h.Name(), name) {
		L.Push(lua.LString(name))
		return 1
	}
	dss, err := h.ConfigManager().DatastoreSystem(ctx)
	if err != nil {
		return r.Raise(L, runtime.Wrap(err, runtime.CodeVSphere))
	}
	_, err = dss.CreateNasDatastore(ctx, types.HostNasVolumeSpec{RemoteHost: u.Host, RemotePath: u.Path, LocalPath: name,
		AccessMode: string(types.HostMountModeReadWrite), Type: string(types.HostFileSystemVolumeFileSystemTypeNFS)})
	if err != nil {
		return r.Raise(L, &runtime.Error{Code: runtime.CodeVSphere, Path: raw, Message: fmt.Sprintf("host %s cannot mount %s as %s: %v", h.Name(), raw, name, err), Err: err})
	}
	r.Log.Info("backup: NFS datastore mounted", "datastore", name, "url", raw, "host", h.Name())
	L.Push(lua.LString(name))
	return 1
}

func luaUnmountDatastore(r *runtime.Run, L *lua.LState) int {
	o := runtime.OptionsTable(L, 1)
	ctx := r.Context()
	name := runtime.OptString(L, o, "name", "")
	h, finder, err := hostOf(ctx, r, runtime.OptString(L, o, "host", ""))
	if err != nil {
		return r.Raise(L, err)
	}
	ds, err := finder.Datastore(ctx, name)
	if err != nil {
		return r.Raise(L, runtime.Errorf(runtime.CodeNotFound, "datastore %q: %v", name, err))
	}
	if r.DryRunAction("unmount datastore %s from host %s", name, h.Name()) {
		return 0
	}
	dss, err := h.ConfigManager().DatastoreSystem(ctx)
	if err == nil {
		err = dss.Remove(ctx, ds)
	}
	if err != nil {
		return r.Raise(L, &runtime.Error{Code: runtime.CodeVSphere, Path: name, Message: fmt.Sprintf("host %s cannot unmount %s: %v", h.Name(), name, err), Err: err})
	}
	r.Log.Info("backup: datastore unmounted", "datastore", name, "host", h.Name())
	return 0
}

func luaRegister(r *runtime.Run, L *lua.LState) int {
	o := runtime.OptionsTable(L, 1)
	ctx := r.Context()
	vmx := runtime.OptString(L, o, "vmx", "")
	if !strings.HasPrefix(vmx, "[") || !strings.HasSuffix(vmx, ".vmx") {
		return r.RaiseCode(L, runtime.CodeInvalidArg, `backup.register: vmx= is a datastore path, "[DS] DB01/DB01.vmx"`)
	}
	h, finder, err := hostOf(ctx, r, runtime.OptString(L, o, "host", ""))
	if err != nil {
		return r.Raise(L, err)
	}
	var folder *object.Folder
	if p := runtime.OptString(L, o, "folder", ""); p != "" {
		folder, err = finder.Folder(ctx, p)
	} else {
		folder, err = finder.DefaultFolder(ctx)
	}
	if err != nil {
		return r.Raise(L, runtime.Errorf(runtime.CodeNotFound, "folder: %v", err))
	}
	var pool *object.ResourcePool
	if p := runtime.OptString(L, o, "pool", ""); p != "" {
		pool, err = finder.ResourcePool(ctx, p)
	} else {
		pool, err = h.ResourcePool(ctx)
	}
	if err != nil {
		return r.Raise(L, runtime.Errorf(runtime.CodeNotFound, "resource pool: %v", err))
	}
	name := runtime.OptString(L, o, "name", "")
	if r.DryRunAction("register %s as %q on host %s", vmx, name, h.Name()) {
		return 0
	}
	task, err := folder.RegisterVM(ctx, vmx, name, false, pool, h)
	var info *types.TaskInfo
	if err == nil {
		info, err = taskwait.Wait(ctx, task)
	}
	if err != nil {
		return r.Raise(L, &runtime.Error{Code: runtime.CodeVSphere, Path: vmx, Message: fmt.Sprintf("cannot register %s: %v", vmx, err), Err: err})
	}
	ref := info.Result.(types.ManagedObjectReference)
	conn, err := vm.RunConn(r)
	if err != nil {
		return r.Raise(L, err)
	}
	ms, _ := vm.ParseSpec("moref:" + ref.Value)
	v, err := conn.Open(ctx, ms, name)
	if err != nil {
		return r.Raise(L, err)
	}
	r.Log.Info("backup: VM registered", "vm", v.Name(), "vmx", vmx, "moref", ref.Value)
	// its first power-on asks whether it was moved or copied: answered as
	// a restore answers it (restore.go), copied while the VM the files
	// were made of is registered, moved when it is gone
	copied, why := besideOriginal(ctx, conn, v.MO().Config.Uuid, ref)
	v.SetOwnAnswers(uuidAlteredAnswer(copied, why))
	L.Push(r.NewObject(L, vm.VMType, v))
	return 1
}

func luaRelocate(r *runtime.Run, L *lua.LState) int {
	v := r.CheckObject(L, 1, vm.VMType).(*vm.VM)
	o := runtime.OptionsTable(L, 2)
	ctx := r.Context()
	name := runtime.OptString(L, o, "datastore", "")
	_, finder, err := hostOf(ctx, r, "")
	if err != nil {
		return r.Raise(L, err)
	}
	ds, err := finder.Datastore(ctx, name)
	if err != nil {
		return r.Raise(L, runtime.Errorf(runtime.CodeNotFound, "datastore %q: %v", name, err))
	}
	if r.DryRunAction("migrate VM %s to datastore %s", v.Name(), name) {
		return 0
	}
	tctx, cancel := context.WithTimeout(ctx, time.Duration(runtime.OptInt(L, o, "timeout", 3600))*time.Second)
	defer cancel()
	ref := ds.Reference()
	task, err := v.Obj.Relocate(tctx, types.VirtualMachineRelocateSpec{Datastore: &ref}, types.VirtualMachineMovePriorityDefaultPriority)
	if err == nil {
		err = taskwait.Done(tctx, task)
	}
	if err != nil {
		return r.Raise(L, &runtime.Error{Code: runtime.CodeVSphere, VM: v.Name(), Message: fmt.Sprintf("the storage migration of %s to %s failed: %v", v.Name(), name, err), Err: err})
	}
	if err := v.Refresh(ctx); err != nil {
		return r.Raise(L, err)
	}
	r.Log.Info("backup: VM migrated", "vm", v.Name(), "datastore", name, "vmx", v.MO().Config.Files.VmPathName)
	return 0
}
