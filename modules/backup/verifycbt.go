package backup

import (
	"fmt"
	"strings"

	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/vim25/types"
)

// A verifying full (verify_cbt=true) checks changed block tracking, as
// Veeam's periodic "health check" full does against CBT bugs such as
// VMware KB 2090639 and KB 2136854 (tracking that silently misses writes;
// since vSphere 6.5 QueryChangedDiskAreas no longer reports its own
// corrupt data): every span tracking says did not change since the
// newest earlier set must read as that set's image span digest says.
// A span that differs is a change tracking missed: the incrementals built
// on that tracking may lack it, and it is reported loudly.

// cbtCheck compares disk d as this set read it (spans, its image span
// digests) with the same disk in against, over the spans changed block
// tracking says unchanged since against's change id (as of snap). ok is
// false, with why, when no comparison can be made.
func cbtCheck(r *runtime.Run, v *vm.VM, snap *types.ManagedObjectReference, d vm.Disk, changeID string, spans []string, against *catalog.Catalog) (check *catalog.CBTCheck, why string) {
	var ad *catalog.Disk
	for i := range against.Disks {
		if against.Disks[i].ID == d.ID {
			ad = &against.Disks[i]
		}
	}
	switch {
	case ad == nil:
		return nil, fmt.Sprintf("disk %s is not in %s", d.ID, against.ID)
	case ad.Capacity != d.Capacity:
		return nil, fmt.Sprintf("disk %s was resized since %s", d.ID, against.ID)
	case len(ad.ImageSpans) == 0 || len(ad.ImageSpans) != len(spans):
		return nil, fmt.Sprintf("%s has no span digests of disk %s (an older vmlua made it)", against.ID, d.ID)
	case ad.ChangeID == "" || changeID == "":
		return nil, fmt.Sprintf("disk %s has no change id in %s or now: tracking was not active", d.ID, against.ID)
	case changeEpoch(ad.ChangeID) != changeEpoch(changeID):
		return nil, fmt.Sprintf("changed block tracking of disk %s was reset since %s", d.ID, against.ID)
	}
	areas, _, err := queryAreas(r.Context(), v.Obj.Client(), v.Ref, snap, d.Key, d.Capacity, ad.ChangeID, 0)
	if err != nil {
		return nil, fmt.Sprintf("vSphere rejected the change id %q of disk %s: %v", ad.ChangeID, d.ID, err)
	}
	changed := carriedSpans(make([]string, len(spans)), d.Capacity, areas)
	check = &catalog.CBTCheck{Against: against.ID, ChangeID: ad.ChangeID}
	for i, want := range ad.ImageSpans {
		if changed[i] == catalog.ImageSpanUnknown || want == catalog.ImageSpanUnknown || want == "" {
			check.Skipped++
			continue
		}
		check.Compared++
		if spans[i] != want {
			off := int64(i) * imageSpanSize
			check.Missed = append(check.Missed, catalog.SpanRange{Index: i, Off: off, End: min(off+imageSpanSize, d.Capacity)})
		}
	}
	return check, ""
}

// reportCBTCheck logs a disk's check: an error naming the spans when
// tracking missed changes, else what was compared.
func reportCBTCheck(r *runtime.Run, v *vm.VM, d vm.Disk, c *catalog.CBTCheck) {
	if len(c.Missed) == 0 {
		r.Log.Info("backup: verify_cbt: changed block tracking agrees with every span read", "vm", v.Name(), "disk", d.ID, "against", c.Against, "compared", c.Compared, "skipped", c.Skipped)
		return
	}
	var rs []string
	for i, m := range c.Missed {
		if i == 8 {
			rs = append(rs, fmt.Sprintf("and %d more", len(c.Missed)-8))
			break
		}
		rs = append(rs, fmt.Sprintf("%d-%d", m.Off, m.End-1))
	}
	r.Log.Error("backup: CHANGED BLOCK TRACKING MISSED CHANGES: spans it reported unchanged differ from the earlier set; this set is a full and holds them, but the incrementals made on this tracking may lack them: restore from this set, and reset tracking (v:cbt_reset(), vmlua cbt-reset)",
		"vm", v.Name(), "disk", d.ID, "against", c.Against, "missed_spans", len(c.Missed), "bytes", strings.Join(rs, ","), "compared", c.Compared)
}
