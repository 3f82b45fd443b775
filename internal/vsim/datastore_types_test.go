package vsim

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/nfc"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func TestDatastoresHaveTheTypesVSphereReports(t *testing.T) {
	_, c := startSim(t, Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		name, summaryType string
		info              string // the type of info
		vmfsMajor         int32
	}{
		{"LocalDS_0", "VMFS", "*types.VmfsDatastoreInfo", 5},
		{"LocalDS_1", "VMFS", "*types.VmfsDatastoreInfo", 6},
		{"NFS_0", "NFS", "*types.NasDatastoreInfo", 0},
		{"vsanDatastore", "vsan", "*types.VsanDatastoreInfo", 0},
		{"VVOL_0", "VVOL", "*types.VvolDatastoreInfo", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := find.NewFinder(c.Client).Datastore(ctx, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			var m mo.Datastore
			if err := ds.Properties(ctx, ds.Reference(), []string{"summary", "info"}, &m); err != nil {
				t.Fatal(err)
			}
			if m.Summary.Type != tc.summaryType {
				t.Fatalf("summary.type %q, want %q", m.Summary.Type, tc.summaryType)
			}
			got := strings.TrimPrefix(strings.TrimPrefix(typeName(m.Info), "*"), "types.")
			if got != strings.TrimPrefix(tc.info, "*types.") {
				t.Fatalf("info is %s, want %s", got, tc.info)
			}
			if v, ok := m.Info.(*types.VmfsDatastoreInfo); ok && v.Vmfs.MajorVersion != tc.vmfsMajor {
				t.Fatalf("vmfs.majorVersion %d, want %d", v.Vmfs.MajorVersion, tc.vmfsMajor)
			}
		})
	}
}

func TestDatastoreTypesChooseTheDatastores(t *testing.T) {
	for _, tc := range []struct {
		list  string
		names string
		bad   bool
	}{
		{"VMFS5,VMFS6,NFS,vsan,VVOL", "LocalDS_0,LocalDS_1,NFS_0,vsanDatastore,VVOL_0", false},
		{"vmfs,nfs,nfs", "LocalDS_0,NFS_0,NFS_1", false},
		{"VMFS,ZFS", "", true},
	} {
		typesList, err := ParseDatastoreTypes(tc.list)
		if tc.bad {
			if err == nil {
				t.Errorf("%q accepted", tc.list)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		names, _, err := Options{DatastoreTypes: typesList}.datastorePlan()
		if err != nil || strings.Join(names, ",") != tc.names {
			t.Errorf("%q: %v %v, want %s", tc.list, names, err, tc.names)
		}
	}
	// Datastores alone: that many VMFS datastores, as before
	names, kinds, _ := Options{Datastores: 2}.datastorePlan()
	if strings.Join(names, ",") != "LocalDS_0,LocalDS_1" || kinds[0].vmfsMajor != 5 || kinds[1].vmfsMajor != 6 {
		t.Fatalf("Datastores: 2 gave %v %v", names, kinds)
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *types.VmfsDatastoreInfo:
		return "VmfsDatastoreInfo"
	case *types.NasDatastoreInfo:
		return "NasDatastoreInfo"
	case *types.VsanDatastoreInfo:
		return "VsanDatastoreInfo"
	case *types.VvolDatastoreInfo:
		return "VvolDatastoreInfo"
	case *types.LocalDatastoreInfo:
		return "LocalDatastoreInfo"
	}
	return "?"
}

// On NFS, "*" is the whole disk; on VMFS the allocated areas only.
func TestChangedAreasStarOnNFSIsTheWholeDisk(t *testing.T) {
	s, c := startSim(t, Options{Fleet: true})
	ctx := context.Background()
	for _, tc := range []struct {
		vm    string
		whole bool
	}{{"NFS01", true}, {"DB01", false}} {
		vm := findVM(t, c, tc.vm)
		if tc.vm == "NFS01" { // its home is on its datastore, beside its disk
			if p := vmProps(t, vm, "config").Config.Files.VmPathName; p != "[NFS_0] NFS01/NFS01.vmx" {
				t.Fatalf("NFS01's .vmx is %s", p)
			}
		}
		snap := snapshot(t, vm, "full")
		disks, _ := s.Disks(tc.vm)
		res, err := methods.QueryChangedDiskAreas(ctx, c.Client, &types.QueryChangedDiskAreas{This: vm.Reference(), Snapshot: &snap, DeviceKey: disks[0].Key, ChangeId: "*"})
		if err != nil {
			t.Fatal(err)
		}
		areas := res.Returnval.ChangedArea
		whole := len(areas) == 1 && areas[0].Start == 0 && areas[0].Length == disks[0].Capacity
		if whole != tc.whole {
			t.Errorf("%s: \"*\" gave %d areas (whole disk: %v), want whole disk %v", tc.vm, len(areas), whole, tc.whole)
		}
	}
}

// vSAN and vVols: no /folder access to disk data, the descriptor names an
// object, layoutEx has no extent file; the export lease reads the disk.
func TestObjectStoreDisksOnlyThroughNFC(t *testing.T) {
	s, c := startSim(t, Options{Fleet: true})
	ctx := context.Background()
	for _, tc := range []struct{ vm, scheme string }{{"VSAN01", "vsan://"}, {"VVOL01", "vvol://"}} {
		t.Run(tc.vm, func(t *testing.T) {
			vm := findVM(t, c, tc.vm)
			disks, _ := s.Disks(tc.vm)
			desc := disks[0].Chain[0]
			if code, _ := rawGet(t, s.URL.Host, dsPathName(desc), dsPathPath(flatOf(desc)), withCookie(c)); code != http.StatusNotFound {
				t.Fatalf("GET of the disk data on %s: %d, want 404", dsPathName(desc), code)
			}
			rc := folderGet(t, c, desc)
			b, _ := io.ReadAll(rc)
			rc.Close()
			if !strings.Contains(string(b), tc.scheme) {
				t.Fatalf("descriptor names no %s object:\n%s", tc.scheme, b)
			}
			m := vmProps(t, vm, "layoutEx")
			for _, f := range m.LayoutEx.File {
				if f.Type == string(types.VirtualMachineFileLayoutExFileTypeDiskExtent) {
					t.Fatalf("layoutEx lists an extent file %s", f.Name)
				}
			}
			snap := snapshot(t, vm, "export")
			seq, _ := s.SnapshotSeq(snap)
			res2, err := methods.ExportSnapshot(ctx, c.Client, &types.ExportSnapshot{This: snap})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			leaseDownload(t, c, res2.Returnval, func(item nfc.FileItem, r io.Reader) {
				want, size, _ := s.ExpectedContent(tc.vm, "scsi0:0", seq)
				sameContent(t, "export", exportReader(t, r), want, size)
				n++
			})
			if n != 1 {
				t.Fatalf("%d disks exported", n)
			}
		})
	}
}
