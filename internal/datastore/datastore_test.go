package datastore

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
)

func TestSplit(t *testing.T) {
	for _, tc := range []struct{ name, in, ds, rel string }{
		{"a datastore path splits into datastore and path", "[LocalDS_0] DB01/DB01.vmdk", "LocalDS_0", "DB01/DB01.vmdk"},
		{"a datastore name may hold spaces", "[My DS] a b/c.vmx", "My DS", "a b/c.vmx"},
		{"spaces around the path go", "  [ds]   dir/f  ", "ds", "dir/f"},
		{"the datastore's root has an empty path", "[ds]", "ds", ""},
		{"a path without brackets names no datastore", "dir/f.vmdk", "", "dir/f.vmdk"},
		{"an unclosed bracket names no datastore", "[ds dir/f", "", "[ds dir/f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, rel := Split(tc.in)
			if ds != tc.ds || rel != tc.rel {
				t.Errorf("Split(%q) = %q, %q; want %q, %q", tc.in, ds, rel, tc.ds, tc.rel)
			}
		})
	}
}

func TestFinder(t *testing.T) {
	simulator.Test(func(ctx context.Context, c *vim25.Client) {
		f := NewFinder(c)
		all, err := All(ctx, c)
		if err != nil || len(all) == 0 {
			t.Fatalf("All = %v, %v", all, err)
		}
		names, err := f.Names(ctx, all)
		if err != nil || len(names) != len(all) {
			t.Fatalf("Names = %v, %v", names, err)
		}
		for _, tc := range []struct {
			name string
			refs bool // among all's refs, else the inventory (nil)
			ds   string
			want error
		}{
			{"a datastore among refs is found", true, names[0], nil},
			{"a datastore of the inventory is found without refs", false, names[0], nil},
			{"an unknown name is ErrNotFound", true, "nope", ErrNotFound},
			{"an unknown name in the inventory is ErrNotFound", false, "nope", ErrNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				refs := all
				if !tc.refs {
					refs = nil
				}
				ds, err := NewFinder(c).Get(ctx, refs, tc.ds)
				if tc.want != nil {
					if !errors.Is(err, tc.want) {
						t.Fatalf("Get(%q) = %v, want %v", tc.ds, err, tc.want)
					}
					return
				}
				if err != nil || ds.Name() != tc.ds || ds.InventoryPath == "" {
					t.Fatalf("Get(%q) = %v (inventory path %q), %v", tc.ds, ds, ds.InventoryPath, err)
				}
			})
		}
		a, _ := f.Get(ctx, all, names[0])
		b, _ := f.Get(ctx, all, names[0])
		if a == nil || a != b {
			t.Errorf("a Finder looked the same datastore up twice (%p, %p)", a, b)
		}
	})
}

func TestInDatacenters(t *testing.T) {
	simulator.Test(func(ctx context.Context, c *vim25.Client) {
		for _, tc := range []struct {
			name, ds, dc string
			wantErr      string
		}{
			{"a datastore is found in the first datacenter that has it", "LocalDS_0", "", ""},
			{"a datastore is found in the named datacenter", "LocalDS_0", "DC0", ""},
			{"an unknown datastore lists the known ones", "nope", "", "(it has: LocalDS_0)"},
			{"an unknown datacenter is an error", "LocalDS_0", "DCX", `datacenter "DCX"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ds, dc, err := InDatacenters(ctx, c, tc.ds, tc.dc)
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("InDatacenters = %v, want an error saying %q", err, tc.wantErr)
					}
					if strings.Contains(tc.wantErr, "it has") && !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("%v is not fs.ErrNotExist", err)
					}
					return
				}
				if err != nil || ds.Name() != tc.ds || dc == nil || ds.InventoryPath == "" {
					t.Fatalf("InDatacenters = %v, %v, %v", ds, dc, err)
				}
			})
		}
	})
}
