package vm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// lookupProps are the properties every look-up reads: templates are left
// out, and an ambiguous match names each VM's .vmx. The specifier's own
// (Spec.Props) are added: reading every look-up property of every VM (the
// guest's networks among them) made a look-up by name cost twice as much,
// on both sides, as reading names.
var lookupProps = []string{"name", "config.template", "config.files.vmPathName"}

// inventory returns every VM (not templates) with lookupProps and props,
// sorted by name.
func (c *Conn) inventory(ctx context.Context, props ...string) ([]mo.VirtualMachine, error) {
	m := view.NewManager(c.Client)
	v, err := m.CreateContainerView(ctx, c.Client.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return nil, vsphereErr(err, "", "list the VMs")
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	var vms []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, union(lookupProps, props), &vms); err != nil {
		return nil, vsphereErr(err, "", "list the VMs")
	}
	out := vms[:0]
	for _, x := range vms {
		if x.Config != nil && x.Config.Template {
			continue
		}
		out = append(out, x)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// union returns a followed by the elements of b not in a.
func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// Find returns the VMs matching spec, sorted by name, with the properties
// name, config.template, config.files.vmPathName and those the specifier
// matches on (Spec.Props) read, in one read of the inventory.
func (c *Conn) Find(ctx context.Context, spec Spec) ([]mo.VirtualMachine, error) {
	return c.find(ctx, spec)
}

// find is Find reading props too.
func (c *Conn) find(ctx context.Context, spec Spec, props ...string) ([]mo.VirtualMachine, error) {
	if spec.none() {
		return nil, nil
	}
	spec, err := c.Resolve(ctx, spec)
	if err != nil {
		return nil, err
	}
	all, err := c.inventory(ctx, union(spec.Props(), props)...)
	if err != nil {
		return nil, err
	}
	var out []mo.VirtualMachine
	for _, x := range all {
		if spec.Matches(x) {
			out = append(out, x)
		}
	}
	return out, nil
}

// Open returns the one VM spec names, nil when none, an ambiguous error
// when several.
func (c *Conn) Open(ctx context.Context, spec Spec, raw string) (*VM, error) {
	if spec.Kind == "moref" {
		// By reference: read that VM alone, not the inventory (a fleet run
		// opens every VM this way; a scan each time made it O(N²)).
		v, err := c.newVM(ctx, types.ManagedObjectReference{Type: "VirtualMachine", Value: spec.Value})
		var re *runtime.Error
		if errors.As(err, &re) && re.Code == runtime.CodeNotFound {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if v.MO().Config.Template {
			return nil, nil
		}
		return v, nil
	}
	found, err := c.Find(ctx, spec)
	if err != nil {
		return nil, err
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return c.newVM(ctx, found[0].Self)
	}
	var names []string
	for _, x := range found {
		path := ""
		if x.Config != nil {
			path = " " + x.Config.Files.VmPathName
		}
		names = append(names, fmt.Sprintf("%s (moref:%s%s)", x.Name, x.Self.Value, path))
	}
	return nil, &runtime.Error{Code: runtime.CodeAmbiguous, Message: fmt.Sprintf("%q matches %d VMs: %s; use moref: or a .vmx path to pick one", raw, len(found), strings.Join(names, ", "))}
}

// Registered lists the .vmx paths of every registered VM, sorted.
func (c *Conn) Registered(ctx context.Context) ([]string, error) {
	all, err := c.inventory(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, x := range all {
		if x.Config != nil {
			out = append(out, x.Config.Files.VmPathName)
		}
	}
	sort.Strings(out)
	return out, nil
}

// VMByRef returns the VM with the given managed object reference, or a
// not_found error; it reads only that VM (not the inventory).
func (c *Conn) VMByRef(ctx context.Context, ref types.ManagedObjectReference) (*VM, error) {
	return c.newVM(ctx, ref)
}
