package vm

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/vapi/rest"
	"github.com/vmware/govmomi/vapi/tags"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// binding holds a spec's inventory terms resolved: for the term at
// (alternative i, term j), the morefs it selects (folders, pools, hosts,
// clusters, datastores; VMs for tag:), and the parent of every inventory
// object, to walk a VM's folders and pools up.
type binding struct {
	sets    map[[2]int]map[string]bool
	parents map[string]string // moref value -> parent moref value
}

// matches reports whether x sits in what the term (i, j) selects.
func (b *binding) matches(kind string, x mo.VirtualMachine, i, j int) bool {
	set := b.sets[[2]int{i, j}]
	switch kind {
	case "tag":
		return set[x.Self.Value]
	case "host":
		return x.Runtime.Host != nil && set[x.Runtime.Host.Value]
	case "cluster":
		return x.Runtime.Host != nil && set[b.parents[x.Runtime.Host.Value]]
	case "datastore":
		for _, d := range x.Datastore {
			if set[d.Value] {
				return true
			}
		}
	case "folder":
		if x.Parent != nil {
			return b.up(x.Parent.Value, set)
		}
	case "pool":
		if x.ResourcePool != nil {
			return b.up(x.ResourcePool.Value, set)
		}
	}
	return false
}

// up reports whether ref or one of its ancestors is in set.
func (b *binding) up(ref string, set map[string]bool) bool {
	for n := 0; ref != "" && n < 256; n++ {
		if set[ref] {
			return true
		}
		ref = b.parents[ref]
	}
	return false
}

// entity is an inventory object: its type, name, parent and path.
type entity struct {
	ref          types.ManagedObjectReference
	name, parent string
	path         string // "/DC0/vm/prod"
}

// containerTypes are the inventory objects specifiers select on.
var containerTypes = []string{"Folder", "Datacenter", "ClusterComputeResource", "ComputeResource", "HostSystem", "ResourcePool", "Datastore"}

// readEntities reads the name and parent of every container object in
// one call, and computes their inventory paths.
func (c *Conn) readEntities(ctx context.Context) (map[string]*entity, error) {
	m := view.NewManager(c.Client)
	v, err := m.CreateContainerView(ctx, c.Client.ServiceContent.RootFolder, containerTypes, true)
	if err != nil {
		return nil, vsphereErr(err, "", "list the inventory")
	}
	defer v.Destroy(context.WithoutCancel(ctx))
	var content []types.ObjectContent
	if err := v.Retrieve(ctx, containerTypes, []string{"name", "parent"}, &content); err != nil {
		return nil, vsphereErr(err, "", "read the inventory")
	}
	out := map[string]*entity{}
	for _, oc := range content {
		e := &entity{ref: oc.Obj}
		for _, p := range oc.PropSet {
			switch p.Name {
			case "name":
				e.name, _ = p.Val.(string)
			case "parent":
				if r, ok := p.Val.(types.ManagedObjectReference); ok {
					e.parent = r.Value
				}
			}
		}
		out[oc.Obj.Value] = e
	}
	var pathOf func(e *entity, depth int) string
	pathOf = func(e *entity, depth int) string {
		if e.path != "" || depth > 256 {
			return e.path
		}
		// the view holds the root folder's content, not the root folder
		// (whose name is not part of paths)
		if p, ok := out[e.parent]; ok {
			e.path = pathOf(p, depth+1) + "/" + e.name
		} else {
			e.path = "/" + e.name
		}
		return e.path
	}
	for _, e := range out {
		pathOf(e, 0)
	}
	return out, nil
}

// Resolve binds the spec's terms on where VMs sit (folder:, cluster:,
// host:, pool:, datastore:, tag:) to the inventory as it is now, so that
// Matches can answer them; other specs are returned as they are. A value
// that selects nothing at all (no such folder, cluster, tag, ...) is an
// invalid_argument error naming what exists (and the nearest, "did you
// mean"): a typo must not look like an empty folder.
func (c *Conn) Resolve(ctx context.Context, spec Spec) (Spec, error) {
	if spec.bind != nil || !spec.inventory() {
		return spec, nil
	}
	ents, err := c.readEntities(ctx)
	if err != nil {
		return spec, err
	}
	b := &binding{sets: map[[2]int]map[string]bool{}, parents: map[string]string{}}
	for ref, e := range ents {
		b.parents[ref] = e.parent
	}
	var tg *tagIndex
	for i, alt := range spec.alts() {
		for j, t := range alt {
			if !inventoryKinds[t.Kind] {
				continue
			}
			var set map[string]bool
			if t.Kind == "tag" {
				if tg == nil {
					if tg, err = c.readTags(ctx); err != nil {
						return spec, err
					}
					defer tg.close(ctx)
				}
				set, err = tg.resolve(ctx, spec.String(), t)
			} else {
				set, err = resolveContainers(spec.String(), t, ents)
			}
			if err != nil {
				return spec, err
			}
			b.sets[[2]int{i, j}] = set
		}
	}
	spec.bind = b
	return spec, nil
}

// kindTypes are the object types each container kind selects.
var kindTypes = map[string][]string{
	"folder":    {"Folder", "Datacenter"},
	"pool":      {"ResourcePool"},
	"cluster":   {"ClusterComputeResource"},
	"host":      {"HostSystem"},
	"datastore": {"Datastore"},
}

// kindWhat names each kind's objects in messages.
var kindWhat = map[string]string{"folder": "VM folder", "pool": "resource pool", "cluster": "cluster", "host": "host", "datastore": "datastore"}

// resolveContainers returns the objects each value of t selects. A value
// starting with "/" is a glob on inventory paths; otherwise folder: and
// pool: take a path below each datacenter's VM folder or each cluster's
// (host's) root pool, and cluster:, host:, datastore: a glob on names.
func resolveContainers(raw string, t Term, ents map[string]*entity) (map[string]bool, error) {
	var cands []*entity
	for _, e := range ents {
		if containsStr(kindTypes[t.Kind], e.ref.Type) && e.path != "" {
			cands = append(cands, e)
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].path < cands[j].path })
	set := map[string]bool{}
	for _, v := range t.Values {
		pats := patterns(t.Kind, v, ents)
		n := 0
		for _, e := range cands {
			for _, p := range pats {
				subject := e.path
				if !strings.HasPrefix(p, "/") {
					subject = e.name
				}
				if ok, _ := path.Match(p, subject); ok {
					set[e.ref.Value] = true
					n++
					break
				}
			}
		}
		if n == 0 {
			return nil, notFound(raw, t.Kind, v, cands, ents)
		}
	}
	return set, nil
}

// patterns turns a value into the globs it stands for.
func patterns(kind, v string, ents map[string]*entity) []string {
	if strings.HasPrefix(v, "/") {
		return []string{path.Clean(v)}
	}
	var roots []string
	switch kind {
	case "folder":
		for _, e := range ents {
			if e.ref.Type == "Datacenter" {
				roots = append(roots, e.path+"/vm")
			}
		}
	case "pool":
		for _, e := range ents {
			if e.ref.Type == "ClusterComputeResource" || e.ref.Type == "ComputeResource" {
				roots = append(roots, e.path+"/Resources")
			}
		}
	default:
		return []string{v}
	}
	var out []string
	for _, r := range roots {
		out = append(out, path.Clean(r+"/"+v))
	}
	return out
}

// relName is how a candidate is written in a value: its path below the
// datacenter's VM folder or its root pool, else its name or path.
func relName(kind string, e *entity, ents map[string]*entity) string {
	switch kind {
	case "folder", "pool":
		root := "/vm/"
		if kind == "pool" {
			root = "/Resources/"
		}
		if i := strings.Index(e.path, root); i >= 0 {
			return e.path[i+len(root):]
		}
		return e.path
	}
	return e.name
}

// notFound says that v selects nothing, what exists, and the nearest.
func notFound(raw, kind, v string, cands []*entity, ents map[string]*entity) error {
	var names []string
	for _, e := range cands {
		n := relName(kind, e, ents)
		if strings.HasPrefix(v, "/") {
			n = e.path
		}
		if kind == "folder" && !strings.Contains(e.path, "/vm") && e.ref.Type == "Folder" {
			continue // host, datastore and network folders hold no VMs
		}
		if !containsStr(names, n) {
			names = append(names, n)
		}
	}
	what := kindWhat[kind]
	return &runtime.Error{Code: runtime.CodeInvalidArg, Message: fmt.Sprintf("VM specifier %q: no %s matches %q%s (%ss: %s)",
		raw, what, v, didYouMean(v, names), what, list(names))}
}

// list renders up to 12 names.
func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	if len(names) > 12 {
		return strings.Join(names[:12], ", ") + fmt.Sprintf(", … (%d in all)", len(names))
	}
	return strings.Join(names, ", ")
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// tagIndex is vCenter's tags, read once per resolution through the
// vSphere Automation API (a session of its own, logged out at the end).
type tagIndex struct {
	rc   *rest.Client
	m    *tags.Manager
	tags []tagInfo
}

// close logs the vAPI session out.
func (ti *tagIndex) close(ctx context.Context) { _ = ti.rc.Logout(context.WithoutCancel(ctx)) }

type tagInfo struct{ id, category, name string }

// readTags logs in to the vAPI with the profile's credentials and reads
// every category and tag.
func (c *Conn) readTags(ctx context.Context) (*tagIndex, error) {
	rc := rest.NewClient(c.Client)
	if err := rc.Login(ctx, url.UserPassword(c.Endpoint.Username, c.Endpoint.Password)); err != nil {
		return nil, &runtime.Error{Code: runtime.CodeVSphere, Err: err, Message: fmt.Sprintf(
			"tag: selects VMs by vCenter's tags, read through the vSphere Automation API (/rest), which %s does not offer or refused (%v); ESXi has no tags", c.Endpoint.URL, err)}
	}
	m := tags.NewManager(rc)
	ti := &tagIndex{rc: rc, m: m}
	cats, err := m.GetCategories(ctx)
	if err != nil {
		ti.close(ctx)
		return nil, vsphereErr(err, "", "read the tag categories")
	}
	catName := map[string]string{}
	for _, cat := range cats {
		catName[cat.ID] = cat.Name
	}
	all, err := m.GetTags(ctx)
	if err != nil {
		ti.close(ctx)
		return nil, vsphereErr(err, "", "read the tags")
	}
	for _, t := range all {
		ti.tags = append(ti.tags, tagInfo{id: t.ID, category: catName[t.CategoryID], name: t.Name})
	}
	sort.Slice(ti.tags, func(i, j int) bool {
		a, b := ti.tags[i], ti.tags[j]
		return a.category+":"+a.name < b.category+":"+b.name
	})
	return ti, nil
}

// resolve returns the VMs carrying a tag each pattern of t matches.
func (ti *tagIndex) resolve(ctx context.Context, raw string, t Term) (map[string]bool, error) {
	var ids []string
	for i, p := range t.tags {
		n := 0
		for _, tg := range ti.tags {
			okName, _ := path.Match(p.name, tg.name)
			okCat, _ := path.Match(p.category, tg.category)
			if okName && (p.category == "" || okCat) {
				if !containsStr(ids, tg.id) {
					ids = append(ids, tg.id)
				}
				n++
			}
		}
		if n == 0 {
			var names []string
			for _, tg := range ti.tags {
				names = append(names, tg.category+":"+tg.name)
			}
			return nil, &runtime.Error{Code: runtime.CodeInvalidArg, Message: fmt.Sprintf("VM specifier %q: no tag matches %q%s (tags: %s)",
				raw, t.Values[i], didYouMean(t.Values[i], names), list(names))}
		}
	}
	objs, err := ti.m.GetAttachedObjectsOnTags(ctx, ids)
	if err != nil {
		return nil, vsphereErr(err, "", "read the VMs the tags are attached to")
	}
	set := map[string]bool{}
	for _, o := range objs {
		for _, r := range o.ObjectIDs {
			if ref := r.Reference(); ref.Type == "VirtualMachine" {
				set[ref.Value] = true
			}
		}
	}
	return set, nil
}
