package vm

import (
	"context"
	"fmt"

	"github.com/vmlua/vmlua/internal/taskwait"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/types"
	lua "github.com/yuin/gopher-lua"
)

// RegisterOptions place a VM registered from its .vmx.
type RegisterOptions struct {
	Name   string // display name; default the one in the .vmx
	Folder string // inventory path of a VM folder; default the datacenter's VM folder
	Pool   string // inventory path of a resource pool; default the host's or the default pool
	Host   string // host name or inventory path; default chosen by vSphere
}

// Register adds the VM whose .vmx is at a datastore path to the inventory
// (the book's "Swiss Army Knife" step on the other host, and vmware-cmd -s
// register) and returns it.
func (c *Conn) Register(r *runtime.Run, vmx string, o RegisterOptions) (*VM, error) {
	ctx := r.Context()
	if _, err := ParseSpec(vmx); err != nil {
		return nil, &runtime.Error{Code: runtime.CodeInvalidArg, Message: err.Error(), Path: vmx}
	}
	f := find.NewFinder(c.Client)
	dc, err := f.DefaultDatacenter(ctx)
	if err != nil {
		return nil, vsphereErr(err, "", "find the datacenter (with several, give folder= as a full inventory path)")
	}
	f.SetDatacenter(dc)
	var folder *object.Folder
	if o.Folder != "" {
		folder, err = f.Folder(ctx, o.Folder)
	} else {
		var fs *object.DatacenterFolders
		fs, err = dc.Folders(ctx)
		if err == nil {
			folder = fs.VmFolder
		}
	}
	if err != nil {
		return nil, vsphereErr(err, "", "find the VM folder "+o.Folder)
	}
	var host *object.HostSystem
	if o.Host != "" {
		if host, err = f.HostSystem(ctx, o.Host); err != nil {
			return nil, vsphereErr(err, "", "find host "+o.Host)
		}
	}
	var pool *object.ResourcePool
	switch {
	case o.Pool != "":
		pool, err = f.ResourcePool(ctx, o.Pool)
	case host != nil:
		pool, err = host.ResourcePool(ctx)
	default:
		pool, err = f.DefaultResourcePool(ctx)
		if err != nil {
			// Several pools: take a host that mounts the .vmx's datastore.
			host, pool, err = hostOfDatastore(ctx, f, dsOfPath(vmx))
		}
	}
	if err != nil {
		return nil, vsphereErr(err, "", "find the resource pool (give pool= or host=)")
	}
	if r.DryRunAction("register a VM", "vmx", vmx, "name", o.Name) {
		return nil, nil
	}
	task, err := folder.RegisterVM(ctx, vmx, o.Name, false, pool, host)
	if err != nil {
		return nil, vsphereErr(err, o.Name, "register "+vmx)
	}
	info, err := taskwait.Wait(ctx, task)
	if err != nil {
		if IsFault[*types.FileNotFound](err) || IsFault[types.FileNotFound](err) {
			return nil, &runtime.Error{Code: runtime.CodeNotFound, VM: o.Name, Path: vmx, Err: err,
				Message: fmt.Sprintf("cannot register %s: it, or a disk it names, is not on the datastore (copy or replicate the disks there first)", vmx)}
		}
		return nil, vsphereErr(err, o.Name, "register "+vmx)
	}
	ref, ok := info.Result.(types.ManagedObjectReference)
	if !ok {
		return nil, &runtime.Error{Code: runtime.CodeVSphere, Message: fmt.Sprintf("RegisterVM of %s returned no VM", vmx)}
	}
	v, err := c.newVM(ctx, ref)
	if err != nil {
		return nil, err
	}
	r.Log.Info("registered a VM", "vm", v.Name(), "vmx", vmx, "moref", ref.Value)
	return v, nil
}

func luaRegister(r *runtime.Run, L *lua.LState) int {
	vmx := L.CheckString(1)
	o := optTable(L, 2)
	var ro RegisterOptions
	if o != nil {
		ro = RegisterOptions{Name: lua.LVAsString(o.RawGetString("name")), Folder: lua.LVAsString(o.RawGetString("folder")),
			Pool: lua.LVAsString(o.RawGetString("pool")), Host: lua.LVAsString(o.RawGetString("host"))}
	}
	c, err := RunConn(r)
	if err != nil {
		return r.Raise(L, err)
	}
	v, err := c.Register(r, vmx, ro)
	if err != nil {
		return r.Raise(L, err)
	}
	if v == nil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(r.NewObject(L, VMType, v))
	return 1
}

// hostOfDatastore returns a host that mounts the datastore, and its pool.
func hostOfDatastore(ctx context.Context, f *find.Finder, dsName string) (*object.HostSystem, *object.ResourcePool, error) {
	ds, err := f.Datastore(ctx, dsName)
	if err != nil {
		return nil, nil, err
	}
	hosts, err := ds.AttachedHosts(ctx)
	if err != nil {
		return nil, nil, err
	}
	if len(hosts) == 0 {
		return nil, nil, fmt.Errorf("no host mounts datastore %s", dsName)
	}
	pool, err := hosts[0].ResourcePool(ctx)
	return hosts[0], pool, err
}
