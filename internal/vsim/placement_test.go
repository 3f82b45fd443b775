package vsim

import (
	"context"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vapi/rest"
	"github.com/vmware/govmomi/vapi/tags"
	"github.com/vmware/govmomi/vim25/mo"
)

// vmTags returns the "Category:Tag" names attached to each VM, through the
// vAPI as a client sees them.
func vmTags(t *testing.T, s *Sim) map[string][]string {
	t.Helper()
	ctx := context.Background()
	c, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rc := rest.NewClient(c.Client)
	if err := rc.Login(ctx, url.UserPassword(s.opts.Username, s.opts.Password)); err != nil {
		t.Fatal(err)
	}
	m := tags.NewManager(rc)
	all, err := m.GetTags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, tg := range all {
		cat, err := m.GetCategory(ctx, tg.CategoryID)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := m.ListAttachedObjects(ctx, tg.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			var vm mo.VirtualMachine
			if err := object.NewVirtualMachine(c.Client, o.Reference()).Properties(ctx, o.Reference(), []string{"name"}, &vm); err != nil {
				t.Fatal(err)
			}
			out[vm.Name] = append(out[vm.Name], cat.Name+":"+tg.Name)
		}
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

// TestVMsArePlacedAndTaggedAsTheirSpecSays: Folder, Host, Pool and Tags put
// a VM where an admin would have (a folder and a pool made as needed, the
// standalone host), and the default inventory carries tags.
func TestVMsArePlacedAndTaggedAsTheirSpecSays(t *testing.T) {
	s, c := startSim(t, Options{DiskSize: 1 << 20, Inventory: []VMSpec{
		{Name: "WEB1", Folder: "prod/web", Pool: "prod", Tags: []string{"Backup:gold", "Env:prod"}},
		{Name: "LAB1", Host: "DC0_H0", Pool: "lab", PoweredOff: true, Tags: []string{"Backup:none"}},
		{Name: "PLAIN"},
	}})
	ctx := context.Background()
	f := find.NewFinder(c.Client)
	cases := []struct{ vm, path, host, pool string }{
		{"WEB1", "/DC0/vm/prod/web/WEB1", "DC0_C0_H", "/DC0/host/DC0_C0/Resources/prod"},
		{"LAB1", "/DC0/vm/LAB1", "DC0_H0", "/DC0/host/DC0_H0/Resources/lab"},
		{"PLAIN", "/DC0/vm/PLAIN", "DC0_C0_H", "/DC0/host/DC0_C0/Resources"},
	}
	for _, tc := range cases {
		vm, err := f.VirtualMachine(ctx, tc.path)
		if err != nil {
			t.Errorf("%s is not at %s: %v", tc.vm, tc.path, err)
			continue
		}
		m := vmProps(t, vm, "runtime.host", "resourcePool")
		var h mo.HostSystem
		if err := vm.Properties(ctx, *m.Runtime.Host, []string{"name"}, &h); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(h.Name, tc.host) {
			t.Errorf("%s runs on %s, want %s*", tc.vm, h.Name, tc.host)
		}
		pools, err := f.ResourcePoolList(ctx, tc.pool)
		if err != nil || len(pools) != 1 || pools[0].Reference() != *m.ResourcePool {
			t.Errorf("%s is in pool %v, want %s (%v)", tc.vm, m.ResourcePool, tc.pool, err)
		}
	}
	got := vmTags(t, s)
	if strings.Join(got["WEB1"], ",") != "Backup:gold,Env:prod" || strings.Join(got["LAB1"], ",") != "Backup:none" || len(got["PLAIN"]) != 0 {
		t.Errorf("tags %v", got)
	}

	def, _ := startSim(t, Options{DiskSize: 1 << 20})
	got = vmTags(t, def)
	if strings.Join(got["DB01"], ",") != "Backup:gold,Env:prod" || strings.Join(got["VM1"], ",") != "Backup:silver" || strings.Join(got["VM2"], ",") != "Backup:silver,Env:test" {
		t.Errorf("the default inventory's tags: %v", got)
	}
}
