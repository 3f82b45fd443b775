package vsim

// The VMs Options.Fleet adds to the default inventory: what a real fleet
// has beyond flat disks on VMFS (issue 25). One VM with changed block
// tracking on each datastore that is not VMFS ("NFS01" on NFS, "VSAN01" on
// vSAN, "VVOL01" on vVols; datastore_types.go), and "SNAP01" on VMFS,
// powered off with CBT on, whose own snapshot tree is three levels deep
// (snapshot_tree.go).

// fleetInventory returns the fleet VMs for the datastores of o.
func fleetInventory(o Options) []VMSpec {
	names, kinds, err := o.datastorePlan()
	if err != nil {
		return nil
	}
	var inv []VMSpec
	seen := map[string]bool{}
	for i, k := range kinds {
		var vm string
		switch k.summaryType {
		case "NFS":
			vm = "NFS01"
		case "vsan":
			vm = "VSAN01"
		case "VVOL":
			vm = "VVOL01"
		default:
			continue
		}
		if seen[vm] {
			continue
		}
		seen[vm] = true
		inv = append(inv, VMSpec{Name: vm, ChangeTracking: true, Disks: []DiskSpec{{Size: o.DiskSize, Datastore: names[i]}}})
	}
	second := "LocalDS_0"
	for i, k := range kinds {
		if k.summaryType == "VMFS" && names[i] != "LocalDS_0" {
			second = names[i] // DB01's second datastore: both delta formats
			break
		}
	}
	inv = append(inv, VMSpec{Name: "SNAP01", PoweredOff: true, ChangeTracking: true,
		Snapshots: []string{"installed", "patched", "configured"},
		Disks:     []DiskSpec{{Size: o.DiskSize}, {Size: o.DiskSize, Datastore: second}}})
	return inv
}
