package backup

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/vmlua/vmlua/internal/dsread"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Backup modes.
const (
	ModeFull        = "full"
	ModeIncremental = "incremental"
	ModeAuto        = "auto"
	// DefaultChainMax is auto's longest chain: a full and 6 incrementals.
	DefaultChainMax = 7
)

// chainPlan is what a backup in mode incremental or auto decided before
// the freeze: the parent to build on, or why the set is a full.
type chainPlan struct {
	parent *catalog.Catalog
	// parentSum is the sha256 of the parent's catalog.json as read for
	// the plan (catalog.ParentCatalogSHA256)
	parentSum string
	reason    string
	// planned: the full is mode auto's plan (the chain reached
	// chain_max), logged at info level; every other reason is a warning.
	planned bool
	// against is the set a verify_cbt full checks tracking against
	against *catalog.Catalog
}

// verifyingFull turns the plan into a verifying full (verify_cbt=true):
// a full, which checks changed block tracking against the newest
// complete set of the VM (none: nothing to check, said in a warning).
func verifyingFull(r *runtime.Run, v *vm.VM, t transports.Transport, vmDir string, plan chainPlan) chainPlan {
	newest, err := sets.NewestComplete(r.Context(), t, vmDir)
	if err != nil || newest == nil {
		why := "no complete earlier set of the VM on the target"
		if err != nil {
			why = "the earlier sets cannot be listed: " + err.Error()
		}
		r.Log.Warn("backup: verify_cbt: nothing to check changed block tracking against", "vm", v.Name(), "why", why)
	}
	if plan.parent != nil || plan.reason == "" {
		plan = chainPlan{reason: "verify_cbt=true: a verifying full, which checks changed block tracking against the newest set", planned: true}
	}
	plan.against = newest
	return plan
}

// planChain finds a parent the next set can be an incremental of, after
// making sure the VM tracks changed blocks. Anything doubtful makes a full.
func planChain(r *runtime.Run, v *vm.VM, t transports.Transport, vmDir string, o Options) chainPlan {
	ctx := r.Context()
	name := v.Name()
	if o.Mode != ModeIncremental && o.Mode != ModeAuto {
		return chainPlan{}
	}
	if o.NoCBT {
		return chainPlan{reason: "cbt=false: changed block tracking is not to be used"}
	}
	if !v.CBTEnabled() {
		// never on a VM with snapshots (KB 1020128): the full is read
		// without tracking, and the log and full_reason say why
		if why := v.CBTBlockedBySnapshots(); why != "" {
			r.Log.Warn("backup: changed block tracking is off and is not switched on; this set is a full", "vm", name, "why", why)
			return chainPlan{reason: "changed block tracking is off and was not switched on: " + why}
		}
		if r.DryRun {
			r.DryRunAction("enable changed block tracking", "vm", name)
			return chainPlan{reason: "changed block tracking was off"}
		}
		if err := v.EnableCBT(r); err != nil {
			r.Log.Warn("backup: changed block tracking is off and could not be enabled; this set is a full", "vm", name, "error", err)
			return chainPlan{reason: "changed block tracking is off and could not be enabled: " + err.Error()}
		}
		r.Log.Warn("backup: enabled changed block tracking on the VM; it takes effect after a snapshot cycle, which this backup's own snapshot provides; this set is a full, the next can be incremental", "vm", name)
		return chainPlan{reason: "changed block tracking was just enabled (it takes effect after a snapshot cycle)"}
	}
	newest, err := sets.NewestComplete(ctx, t, vmDir)
	if err != nil {
		return chainPlan{reason: "the earlier sets cannot be listed: " + err.Error()}
	}
	if newest == nil {
		return chainPlan{reason: "no complete earlier set of this VM on the target"}
	}
	// the parent's catalog is read again, whole, and what the plan uses
	// is what its sha256 names
	newest, sum, err := sets.ReadCatalogSum(ctx, t, newest.ID+"/"+catalog.FileName)
	if err != nil {
		return chainPlan{reason: "the newest set's catalog cannot be read again: " + err.Error()}
	}
	if _, err := sets.ChainOf(ctx, t, newest); err != nil {
		return chainPlan{reason: fmt.Sprintf("the chain of the newest set %s cannot be trusted: %v", newest.ID, err)}
	}
	if n := o.FullEvery; n > 0 && newest.Depth+2 > n {
		return chainPlan{reason: fmt.Sprintf("full_every=%d: every %s backup of the VM is a full (the chain of %s has %d sets)", n, ordinal(n), newest.ID, newest.Depth+1), planned: true}
	}
	if max := o.ChainMax; o.Mode == ModeAuto && newest.Depth+2 > max {
		return chainPlan{reason: fmt.Sprintf("the chain of %s reached chain_max=%d sets", newest.ID, max), planned: true}
	}
	if len(newest.Disks) == 0 {
		return chainPlan{reason: "the newest set " + newest.ID + " has no disks"}
	}
	for _, d := range newest.Disks {
		if d.ChangeID == "" {
			return chainPlan{reason: fmt.Sprintf("disk %s of the newest set %s has no change id (it was made without changed block tracking)", d.ID, newest.ID)}
		}
	}
	return chainPlan{parent: newest, parentSum: sum}
}

// changeEpoch is a change id without its sequence part: a different epoch
// means tracking was reset (a storage migration, CBT turned off and on).
func changeEpoch(id string) string {
	if i := strings.LastIndex(id, "/"); i >= 0 {
		return id[:i]
	}
	return id
}

// trustBase says why the parent's layer of a disk is no base for an
// incremental, or "" when it is.
func trustBase(parent *catalog.Catalog, d vm.Disk, changeID string) (catalog.Disk, string) {
	var pd *catalog.Disk
	for i := range parent.Disks {
		if parent.Disks[i].ID == d.ID {
			pd = &parent.Disks[i]
		}
	}
	switch {
	case pd == nil:
		return catalog.Disk{}, fmt.Sprintf("disk %s is not in the parent set %s", d.ID, parent.ID)
	case pd.Capacity != d.Capacity:
		return *pd, fmt.Sprintf("disk %s was resized (%d bytes in %s, %d now)", d.ID, pd.Capacity, parent.ID, d.Capacity)
	case pd.DiskUUID != "" && d.UUID != "" && pd.DiskUUID != d.UUID:
		return *pd, fmt.Sprintf("disk %s has another UUID than in %s (re-created or replaced)", d.ID, parent.ID)
	case pd.ChangeID == "":
		return *pd, fmt.Sprintf("disk %s of %s has no change id", d.ID, parent.ID)
	case changeID == "":
		return *pd, fmt.Sprintf("disk %s has no change id now (changed block tracking is not active on it)", d.ID)
	case changeEpoch(pd.ChangeID) != changeEpoch(changeID):
		return *pd, fmt.Sprintf("changed block tracking of disk %s was reset since %s (change id %q, was %q: storage migration or tracking turned off and on)", d.ID, parent.ID, changeID, pd.ChangeID)
	}
	return *pd, ""
}

// snapshotChangeIDs returns the change id of every disk in a snapshot's
// configuration (by device key).
func snapshotChangeIDs(ctx context.Context, v *vm.VM, snap *types.ManagedObjectReference) map[int32]string {
	out := map[int32]string{}
	if snap == nil {
		for _, d := range v.Disks() {
			out[d.Key] = d.ChangeID
		}
		return out
	}
	var ms mo.VirtualMachineSnapshot
	if err := v.Obj.Properties(ctx, *snap, []string{"config"}, &ms); err != nil {
		return out
	}
	for _, dev := range ms.Config.Hardware.Device {
		if vd, ok := dev.(*types.VirtualDisk); ok {
			if b, ok := vd.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
				out[vd.Key] = b.ChangeId
			}
		}
	}
	return out
}

// queryAreas asks changed block tracking for the areas of a disk changed
// since changeID ("*": every allocated area) as of the snapshot, sorted;
// areas closer than gap are joined. whole says vSphere answered one
// extent over the whole disk (before any joining): what it answers on NFS
// datastores, where it cannot tell (VDDK Programming Guide, "About
// Changed Block Tracking"); for "*" a thick disk's answer too.
func queryAreas(ctx context.Context, c *vim25.Client, vmRef types.ManagedObjectReference, snap *types.ManagedObjectReference, key int32, size int64, changeID string, gap int64) (areas []dsread.Area, whole bool, err error) {
	var raw []dsread.Area
	for off := int64(0); off < size; {
		res, err := methods.QueryChangedDiskAreas(ctx, c, &types.QueryChangedDiskAreas{This: vmRef, Snapshot: snap, DeviceKey: key, StartOffset: off, ChangeId: changeID})
		if err != nil {
			return nil, false, err
		}
		info := res.Returnval
		for _, a := range info.ChangedArea {
			s, e := max(a.Start, 0), min(a.Start+a.Length, size)
			if e > s {
				raw = append(raw, dsread.Area{Off: s, End: e})
			}
		}
		next := info.StartOffset + info.Length
		if next <= off {
			return nil, false, fmt.Errorf("QueryChangedDiskAreas made no progress at offset %d", off)
		}
		off = next
	}
	sort.Slice(raw, func(i, j int) bool { return raw[i].Off < raw[j].Off })
	join := func(gap int64) []dsread.Area {
		var out []dsread.Area
		for _, a := range raw {
			if n := len(out); n > 0 && a.Off <= out[n-1].End+gap {
				out[n-1].End = max(out[n-1].End, a.End)
				continue
			}
			out = append(out, a)
		}
		return out
	}
	return join(gap), wholeDisk(join(0), size), nil
}

// incDisk is how one disk is stored in an incremental: the changed areas
// on top of the parent's layer.
type incDisk struct {
	areas  []dsread.Area
	parent catalog.Disk
	// whole: vSphere answered one extent over the whole disk (as on NFS):
	// every byte is read and only the spans that differ from the
	// parent's are stored
	whole bool
}

// ordinal spells n as "2nd", "3rd", "7th".
func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}
