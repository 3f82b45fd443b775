package vsim

import (
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// Datastores of the four kinds a real fleet has (docs/simulator.md,
// "Datastore types"). Each datastore has a type, which the API shows as
// vSphere does (summary.type "VMFS", "NFS", "vsan" or "VVOL", and the
// matching info: VmfsDatastoreInfo with vmfs.majorVersion, NasDatastoreInfo,
// VsanDatastoreInfo, VvolDatastoreInfo), and which decides:
//
//   - the format of snapshot deltas (delta_format.go): SESPARSE on VMFS 6 and
//     for disks of 2 TB or more, VMFSSPARSE otherwise (VMware's "SEsparse"
//     documentation; ../shared/notes/real-vsphere.md, "Snapshots");
//   - on NFS, QueryChangedDiskAreas with changeId "*" returns one extent
//     covering the whole disk (VDDK Programming Guide, "About Changed Block
//     Tracking": on storage other than VMFS it "may return a single extent
//     covering the entire disk");
//   - on vSAN and vVols a disk is an object, not a file: the descriptor
//     names it (vsan://, vvol://), layoutEx lists no extent file, and a
//     /folder GET or PUT of disk data gets 404, the file not being there
//     (virt-v2v issue #29: on an all-vSAN vCenter 7.0.3 its /folder GET of
//     DISK-flat.vmdk failed with 404, "there is no vmdk file including the
//     text -flat in its name"; notes/real-vsphere.md: "vSAN and vVols have
//     no flat files: /folder cannot serve their disks; tools use VDDK or
//     NFC"; Xen Orchestra's VMware importer checks layoutEx and refuses
//     such disks).
//     The disks are read through the NFC export lease (export.go).

// Datastore types, as Options.DatastoreTypes and vmlua sim --datastore-types
// name them. VMFS is VMFS 6.
const (
	DatastoreVMFS5 = "VMFS5"
	DatastoreVMFS6 = "VMFS6"
	DatastoreNFS   = "NFS"
	DatastoreVSAN  = "vsan"
	DatastoreVVOL  = "VVOL"
)

// DefaultDatastoreTypes are the datastores of a simulator whose Options set
// neither Datastores nor DatastoreTypes: LocalDS_0 (VMFS 5), LocalDS_1
// (VMFS 6), NFS_0, vsanDatastore and VVOL_0.
var DefaultDatastoreTypes = []string{DatastoreVMFS5, DatastoreVMFS6, DatastoreNFS, DatastoreVSAN, DatastoreVVOL}

// dsKind is what a datastore's type decides.
type dsKind struct {
	summaryType string // summary.type
	vmfsMajor   int    // 5 or 6 on VMFS
}

func (k dsKind) isObjectStore() bool {
	return k.summaryType == string(types.HostFileSystemVolumeFileSystemTypeVsan) || k.summaryType == string(types.HostFileSystemVolumeFileSystemTypeVVOL)
}

// parseDatastoreType maps a type name (case-insensitive; "VMFS" is VMFS 6)
// to its kind.
func parseDatastoreType(t string) (dsKind, error) {
	switch strings.ToUpper(strings.TrimSpace(t)) {
	case "VMFS5":
		return dsKind{summaryType: "VMFS", vmfsMajor: 5}, nil
	case "VMFS", "VMFS6":
		return dsKind{summaryType: "VMFS", vmfsMajor: 6}, nil
	case "NFS", "NFS41":
		return dsKind{summaryType: "NFS"}, nil
	case "VSAN":
		return dsKind{summaryType: "vsan"}, nil
	case "VVOL":
		return dsKind{summaryType: "VVOL"}, nil
	}
	return dsKind{}, fmt.Errorf("vsim: unknown datastore type %q (want VMFS5, VMFS6, NFS, vsan or VVOL)", t)
}

// ParseDatastoreTypes checks a comma-separated list of datastore types
// ("VMFS5,VMFS6,NFS,vsan,VVOL") and returns it as Options.DatastoreTypes.
func ParseDatastoreTypes(list string) ([]string, error) {
	var out []string
	for _, t := range strings.Split(list, ",") {
		if strings.TrimSpace(t) == "" {
			continue
		}
		if _, err := parseDatastoreType(t); err != nil {
			return nil, err
		}
		out = append(out, strings.TrimSpace(t))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("vsim: no datastore type in %q", list)
	}
	return out, nil
}

// datastorePlan returns the datastores to create, in order: name and kind.
// VMFS datastores are LocalDS_0, LocalDS_1, ... (the names the tests know);
// the others NFS_n, vsanDatastore (vsanDatastore_n after the first) and
// VVOL_n. Options.Datastores alone gives that many VMFS datastores, the
// first VMFS 5 and the others VMFS 6.
func (o Options) datastorePlan() ([]string, []dsKind, error) {
	typesList := o.DatastoreTypes
	if len(typesList) == 0 {
		if o.Datastores > 0 {
			typesList = []string{DatastoreVMFS5}
			for i := 1; i < o.Datastores; i++ {
				typesList = append(typesList, DatastoreVMFS6)
			}
		} else {
			typesList = DefaultDatastoreTypes
		}
	}
	var names []string
	var kinds []dsKind
	count := map[string]int{}
	for _, t := range typesList {
		k, err := parseDatastoreType(t)
		if err != nil {
			return nil, nil, err
		}
		n := count[k.summaryType]
		count[k.summaryType]++
		var name string
		switch k.summaryType {
		case "VMFS":
			name = fmt.Sprintf("LocalDS_%d", n)
		case "vsan":
			name = "vsanDatastore"
			if n > 0 {
				name = fmt.Sprintf("vsanDatastore_%d", n)
			}
		default:
			name = fmt.Sprintf("%s_%d", k.summaryType, n)
		}
		names = append(names, name)
		kinds = append(kinds, k)
	}
	if count["VMFS"] == 0 {
		return nil, nil, fmt.Errorf("vsim: datastore types %v have no VMFS datastore: the default VMs and every VM's home default to LocalDS_0", typesList)
	}
	return names, kinds, nil
}

// setDatastoreType publishes the type of a datastore vcsim created as a
// local one.
func (s *Sim) setDatastoreType(name string, k dsKind) {
	ctx := s.bgContext()
	for _, obj := range s.reg.All("Datastore") {
		ds, ok := obj.(*simulator.Datastore)
		if !ok || ds.Name != name {
			continue
		}
		ctx.WithLock(ds, func() {
			base := *ds.Info.GetDatastoreInfo()
			vol := types.HostFileSystemVolume{Type: k.summaryType, Name: name, Capacity: ds.Summary.Capacity}
			switch k.summaryType {
			case "VMFS":
				version := "6.82"
				if k.vmfsMajor == 5 {
					version = "5.81"
				}
				ds.Info = &types.VmfsDatastoreInfo{DatastoreInfo: base, Vmfs: &types.HostVmfsVolume{
					HostFileSystemVolume: vol, BlockSizeMb: 1, BlockSize: 1024, MaxBlocks: 63963136,
					MajorVersion: int32(k.vmfsMajor), Version: version, Uuid: fmt.Sprintf("%016x", seedOf(name)),
				}}
			case "NFS":
				ds.Info = &types.NasDatastoreInfo{DatastoreInfo: base, Nas: &types.HostNasVolume{
					HostFileSystemVolume: vol, RemoteHost: "127.0.0.1", RemotePath: "/exports/" + name,
				}}
			case "vsan":
				ds.Info = &types.VsanDatastoreInfo{DatastoreInfo: base, MembershipUuid: fmt.Sprintf("%016x", seedOf("vsan", name))}
			case "VVOL":
				ds.Info = &types.VvolDatastoreInfo{DatastoreInfo: base, VvolDS: &types.HostVvolVolume{
					HostFileSystemVolume: vol, ScId: fmt.Sprintf("vvol:%016x", seedOf("vvol", name)),
				}}
			}
			ds.Summary.Type = k.summaryType
		})
	}
	s.mu.Lock()
	if s.dsKinds == nil {
		s.dsKinds = map[string]dsKind{}
	}
	s.dsKinds[name] = k
	s.mu.Unlock()
}

// dsKindOf returns the kind of a datastore (a datastore the simulator did
// not create, e.g. a NAS mount of a test, is VMFS-like: files).
func (s *Sim) dsKindOf(name string) dsKind {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.dsKinds[name]; ok {
		return k
	}
	if _, nas := s.dsDirs[name]; nas {
		return dsKind{summaryType: "NFS"}
	}
	return dsKind{summaryType: "VMFS", vmfsMajor: 6}
}

// DatastoreType returns a datastore's summary.type ("VMFS", "NFS", "vsan",
// "VVOL") and, on VMFS, its major version.
func (s *Sim) DatastoreType(name string) (summaryType string, vmfsMajor int) {
	k := s.dsKindOf(name)
	return k.summaryType, k.vmfsMajor
}

// objectURI is how a descriptor on vSAN or vVols names a disk's data: an
// object, not a file.
func objectURI(k dsKind, dsName, dataFile string) string {
	id := fmt.Sprintf("%016x%016x", seedOf(dsName, dataFile), seedOf(dataFile))
	if k.summaryType == "vsan" {
		return fmt.Sprintf("vsan://%s-%s-%s-%s-%s", id[:8], id[8:12], id[12:16], id[16:20], id[20:32])
	}
	return fmt.Sprintf("vvol://%s/rfc4122.%s-%s-%s-%s-%s", dsName, id[:8], id[8:12], id[12:16], id[16:20], id[20:32])
}

// objectStoreData reports whether a /folder request is for disk data on a
// vSAN or vVols datastore (a flat, delta or sesparse file of a disk), which
// has no file there.
func (s *Sim) objectStoreData(r *http.Request) bool {
	ds := r.URL.Query().Get("dsName")
	if !s.dsKindOf(ds).isObjectStore() {
		return false
	}
	base := path.Base(r.URL.Path)
	for _, suf := range []string{"-flat.vmdk", "-delta.vmdk", "-sesparse.vmdk"} {
		if strings.HasSuffix(base, suf) {
			return true
		}
	}
	return false
}

// publishObjectStoreLayout publishes the layoutEx of a new VM with a disk
// on vSAN or vVols (no extent file), which vcsim's own layout lists.
func (s *Sim) publishObjectStoreLayout(vs *vmState) {
	vs.mu.Lock()
	any := false
	for _, d := range vs.disks {
		any = any || d.kind.isObjectStore()
	}
	vs.mu.Unlock()
	vm, ok := s.reg.Get(vs.ref).(*simulator.VirtualMachine)
	if !any || !ok {
		return
	}
	ctx := s.bgContext()
	ctx.WithLock(vm, func() {
		vs.mu.Lock()
		defer vs.mu.Unlock()
		ctx.Update(vm, []types.PropertyChange{{Name: "layoutEx", Val: s.layoutEx(vm, vs)}})
	})
}
