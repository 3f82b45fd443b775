package host

import (
	"context"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/vmlua/vmlua/internal/taskwait"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Host is one ESXi host of the connection.
type Host struct {
	conn    *vm.Conn
	Ref     types.ManagedObjectReference
	Name    string
	Version string
	Build   string
	UUID    string
	State   string // connected, disconnected, notResponding
	Maint   bool
	Cluster string // "" for a standalone host
}

// hostProps are what a look-up reads of every host.
var hostProps = []string{"name", "summary.config.product", "hardware.systemInfo.uuid", "runtime.connectionState", "runtime.inMaintenanceMode", "parent"}

func fromMO(ctx context.Context, c *vm.Conn, m mo.HostSystem) *Host {
	h := &Host{conn: c, Ref: m.Self, Name: m.Name}
	if p := m.Summary.Config.Product; p != nil {
		h.Version, h.Build = p.Version, p.Build
	}
	if m.Hardware != nil {
		h.UUID = m.Hardware.SystemInfo.Uuid
	}
	h.State, h.Maint = string(m.Runtime.ConnectionState), m.Runtime.InMaintenanceMode
	if m.Parent != nil && m.Parent.Type == "ClusterComputeResource" {
		var cl mo.ClusterComputeResource
		if err := retrieve(ctx, c, *m.Parent, []string{"name"}, &cl); err == nil {
			h.Cluster = cl.Name
		}
	}
	return h
}

// List returns every host of the connection, sorted by name.
func List(ctx context.Context, c *vm.Conn) ([]*Host, error) {
	m := view.NewManager(c.Client)
	v, err := m.CreateContainerView(ctx, c.Client.ServiceContent.RootFolder, []string{"HostSystem"}, true)
	if err != nil {
		return nil, vsphereErr(err, "", "list the hosts")
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	var hs []mo.HostSystem
	if err := v.Retrieve(ctx, []string{"HostSystem"}, hostProps, &hs); err != nil {
		return nil, vsphereErr(err, "", "list the hosts")
	}
	out := make([]*Host, 0, len(hs))
	for _, x := range hs {
		out = append(out, fromMO(ctx, c, x))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Spec is a parsed host specifier: name:GLOB, moref:host-N, any:, none:.
type Spec struct{ Kind, Value string }

// ParseSpec parses a host specifier; a bare word is a name.
func ParseSpec(s string) (Spec, error) {
	s = strings.TrimSpace(s)
	kind, val, ok := strings.Cut(s, ":")
	if !ok {
		kind, val = "name", s
	}
	kind = strings.ToLower(kind)
	switch kind {
	case "name", "moref":
		if val == "" {
			return Spec{}, fmt.Errorf("host specifier %q: %s: needs a value", s, kind)
		}
		if _, err := path.Match(val, ""); err != nil {
			return Spec{}, fmt.Errorf("host specifier %q: bad pattern: %v", s, err)
		}
	case "any", "none":
		if val != "" {
			return Spec{}, fmt.Errorf("host specifier %q: %s: takes no value", s, kind)
		}
	default:
		return Spec{}, fmt.Errorf("host specifier %q: unknown kind %q (want name:, moref:, any: or none:)", s, kind)
	}
	return Spec{Kind: kind, Value: val}, nil
}

// Matches reports whether h matches the specifier.
func (s Spec) Matches(h *Host) bool {
	switch s.Kind {
	case "any":
		return true
	case "moref":
		return h.Ref.Value == s.Value
	case "name":
		ok, _ := path.Match(s.Value, h.Name)
		return ok
	}
	return false
}

// Find returns the hosts matching spec, sorted by name.
func Find(ctx context.Context, c *vm.Conn, spec Spec) ([]*Host, error) {
	if spec.Kind == "none" {
		return nil, nil
	}
	all, err := List(ctx, c)
	if err != nil {
		return nil, err
	}
	var out []*Host
	for _, h := range all {
		if spec.Matches(h) {
			out = append(out, h)
		}
	}
	return out, nil
}

// Refresh re-reads the host's properties.
func (h *Host) Refresh(ctx context.Context) error {
	var m mo.HostSystem
	if err := retrieve(ctx, h.conn, h.Ref, hostProps, &m); err != nil {
		return vsphereErr(err, h.Name, "read the host")
	}
	*h = *fromMO(ctx, h.conn, m)
	return nil
}

// Maintenance enters (on) or leaves maintenance mode and waits.
func (h *Host) Maintenance(r *runtime.Run, on bool) error {
	ctx := r.Context()
	o := object.NewHostSystem(h.conn.Client, h.Ref)
	what := "enter maintenance mode"
	if !on {
		what = "exit maintenance mode"
	}
	if r.DryRun {
		r.DryRunAction(what, "host", h.Name)
		setDryMaint(r, h, on) // the rest of the dry run sees it
		return nil
	}
	var task *object.Task
	var err error
	if on {
		task, err = o.EnterMaintenanceMode(ctx, 0, false, nil)
	} else {
		task, err = o.ExitMaintenanceMode(ctx, 0)
	}
	if err == nil {
		err = taskwait.Done(ctx, task)
	}
	if err != nil {
		return vsphereErr(err, h.Name, what)
	}
	r.Log.Info("host: "+what, "host", h.Name)
	return h.refresh(r)
}

// vsphereErr wraps a vSphere fault with what was being done to which host.
func vsphereErr(err error, host, what string) error {
	e := runtime.Wrap(err, runtime.CodeVSphere)
	if e.Err == err { // not already one of ours
		on := ""
		if host != "" {
			on = " of host " + host
		}
		e = &runtime.Error{Code: e.Code, Message: fmt.Sprintf("cannot %s%s: %v", what, on, err), Err: err}
	}
	return e
}

// retrieve reads props of one object.
func retrieve(ctx context.Context, c *vm.Conn, ref types.ManagedObjectReference, props []string, dst any) error {
	return property.DefaultCollector(c.Client).RetrieveOne(ctx, ref, props, dst)
}
