package vsim

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/vmware/govmomi/vapi/rest"
	"github.com/vmware/govmomi/vapi/tags"

	// vcsim's vSphere Automation API (/rest, /api) on the vpx model: the
	// tagging service vmlua's tag: specifiers query, as on vCenter. ESXi
	// has none, and neither has the esx model.
	_ "github.com/vmware/govmomi/vapi/simulator"
)

// tagInventory creates the categories and tags VMSpec.Tags name
// ("Category:Tag"; a category without a colon is "Default") and attaches
// them to the VMs, through the vAPI as an administrator would.
func (s *Sim) tagInventory(ctx context.Context, inv []VMSpec) error {
	tagged := false
	for _, v := range inv {
		tagged = tagged || len(v.Tags) > 0
	}
	if !tagged {
		return nil
	}
	if s.reg.IsESX() {
		return fmt.Errorf("vsim: tags need the vpx model (ESXi has no tagging service)")
	}
	rc := rest.NewClient(s.ctl.Client)
	if err := rc.Login(ctx, url.UserPassword(s.opts.Username, s.opts.Password)); err != nil {
		return fmt.Errorf("vsim: vAPI login: %w", err)
	}
	defer func() { _ = rc.Logout(context.WithoutCancel(ctx)) }()
	m := tags.NewManager(rc)
	cats := map[string]string{}     // category name -> id
	ids := map[string]string{}      // "cat:tag" -> id
	attach := map[string][]string{} // tag id -> VM names
	for _, v := range inv {
		for _, t := range v.Tags {
			cat, name, ok := strings.Cut(t, ":")
			if !ok {
				cat, name = "Default", t
			}
			if _, ok := cats[cat]; !ok {
				id, err := m.CreateCategory(ctx, &tags.Category{Name: cat, Cardinality: "MULTIPLE", AssociableTypes: []string{"VirtualMachine"}})
				if err != nil {
					return fmt.Errorf("vsim: create tag category %q: %w", cat, err)
				}
				cats[cat] = id
			}
			key := cat + ":" + name
			if _, ok := ids[key]; !ok {
				id, err := m.CreateTag(ctx, &tags.Tag{Name: name, CategoryID: cats[cat]})
				if err != nil {
					return fmt.Errorf("vsim: create tag %q: %w", key, err)
				}
				ids[key] = id
			}
			attach[ids[key]] = append(attach[ids[key]], v.Name)
		}
	}
	var tagIDs []string
	for id := range attach {
		tagIDs = append(tagIDs, id)
	}
	sort.Strings(tagIDs)
	for _, id := range tagIDs {
		for _, name := range attach[id] {
			vs, err := s.vmByName(name)
			if err != nil {
				return err
			}
			if err := m.AttachTag(ctx, id, vs.ref); err != nil {
				return fmt.Errorf("vsim: tag VM %s: %w", name, err)
			}
		}
	}
	return nil
}
