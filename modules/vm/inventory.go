package vm

import (
	"context"
	"sort"
	"strings"

	"github.com/vmlua/vmlua/runtime"
	lua "github.com/yuin/gopher-lua"
)

// Container is a VM folder or a resource pool, as vm.folders and vm.pools
// list them (vcbUtil -c vmfolders / -c resourcepools).
type Container struct {
	Path  string // inventory path: what folder:, pool: and vm.register take
	Name  string
	Owner string // the datacenter of a folder, the cluster or host of a pool
	VMs   int    // VMs in it and below it (what folder:PATH / pool:PATH select)
}

// Containers lists the VM folders (kind "folder") or the resource pools
// (kind "pool") with the number of VMs (not templates) each holds, itself
// and below, sorted by path: two reads of the inventory.
func (c *Conn) Containers(ctx context.Context, kind string) ([]Container, error) {
	ents, err := c.readEntities(ctx)
	if err != nil {
		return nil, err
	}
	prop := "parent"
	if kind == "pool" {
		prop = "resourcePool"
	}
	vms, err := c.inventory(ctx, prop)
	if err != nil {
		return nil, err
	}
	count := map[string]int{}
	for _, x := range vms {
		ref := ""
		if kind == "pool" && x.ResourcePool != nil {
			ref = x.ResourcePool.Value
		} else if kind == "folder" && x.Parent != nil {
			ref = x.Parent.Value
		}
		for n := 0; ref != "" && n < 256; n++ {
			count[ref]++
			e, ok := ents[ref]
			if !ok {
				break
			}
			ref = e.parent
		}
	}
	var out []Container
	for ref, e := range ents {
		switch {
		case kind == "folder" && e.ref.Type == "Folder":
			dc, ok := ents[e.parent]
			for ok && dc.ref.Type != "Datacenter" {
				dc, ok = ents[dc.parent]
			}
			if !ok || !strings.HasPrefix(e.path, dc.path+"/vm") {
				continue // host, datastore and network folders
			}
			out = append(out, Container{Path: e.path, Name: e.name, Owner: dc.name, VMs: count[ref]})
		case kind == "pool" && e.ref.Type == "ResourcePool":
			owner, ok := ents[e.parent]
			for ok && owner.ref.Type == "ResourcePool" {
				owner, ok = ents[owner.parent]
			}
			name := ""
			if ok {
				name = owner.name
			}
			out = append(out, Container{Path: e.path, Name: e.name, Owner: name, VMs: count[ref]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func luaContainers(kind string) func(r *runtime.Run, L *lua.LState) int {
	return func(r *runtime.Run, L *lua.LState) int {
		c, err := RunConn(r)
		if err != nil {
			return r.Raise(L, err)
		}
		list, err := c.Containers(r.Context(), kind)
		if err != nil {
			return r.Raise(L, err)
		}
		owner := "datacenter"
		if kind == "pool" {
			owner = "owner"
		}
		t := L.NewTable()
		for _, x := range list {
			e := L.NewTable()
			e.RawSetString("path", lua.LString(x.Path))
			e.RawSetString("name", lua.LString(x.Name))
			e.RawSetString(owner, lua.LString(x.Owner))
			e.RawSetString("vms", lua.LNumber(x.VMs))
			t.Append(e)
		}
		L.Push(t)
		return 1
	}
}
