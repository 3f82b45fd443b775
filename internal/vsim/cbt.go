package vsim

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Changed block tracking: with changeTrackingEnabled, each snapshot stamps
// "52 <vm>/<n>" on its disk backings, n being the guest's write count at the
// snapshot instant; QueryChangedDiskAreas answers from the write log.

func (w *vmWrapper) QueryChangedDiskAreas(ctx *simulator.Context, req *types.QueryChangedDiskAreas) soap.HasFault {
	body := &methods.QueryChangedDiskAreasBody{}
	fail := func(f types.BaseMethodFault, msg string) soap.HasFault {
		body.Fault_ = simulator.Fault(msg, f)
		return body
	}
	if w.Config.ChangeTrackingEnabled == nil || !*w.Config.ChangeTrackingEnabled {
		return fail(&types.FileFault{File: w.Config.Files.VmPathName}, "changed block tracking is not enabled")
	}
	vs, err := w.s.adopt(w.Self, false)
	if err != nil {
		return fail(&types.NotFound{}, "")
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	d := vs.diskByKey(req.DeviceKey)
	if d == nil {
		return fail(&types.InvalidArgument{InvalidProperty: "deviceKey"}, "")
	}
	upTo := vs.seq
	trackedSnapshot := true
	if req.Snapshot != nil {
		k := vs.snapIndex(*req.Snapshot)
		if k < 0 {
			return fail(&types.ManagedObjectNotFound{Obj: *req.Snapshot}, "")
		}
		upTo = vs.snaps[k].seq
		trackedSnapshot = vs.snaps[k].changeId != ""
	}
	var areas [][2]int64
	if req.ChangeId == "*" && (d.kind.summaryType == "NFS" || !trackedSnapshot) {
		// NFS: see below. A snapshot taken before CBT was switched on:
		// VDDK Programming Guide, "About Changed Block Tracking": "If you
		// call QueryChangedDiskAreas after a snapshot but before you enable
		// changed block tracking, it also returns unallocated areas of
		// virtual disk"
		areas = [][2]int64{{0, d.capacity}}
	} else if req.ChangeId == "*" && d.kind.summaryType == "NFS" {
		// VDDK Programming Guide, "About Changed Block Tracking": on NFS
		// "*" may return one extent covering the whole disk
		areas = [][2]int64{{0, d.capacity}}
	} else if req.ChangeId == "*" {
		areas = append(areas, d.baseAllocated()...)
		// and the grains of the deltas up to the level asked (a VM
		// registered with its chain has them without a write log)
		level := len(d.layers) - 1
		if req.Snapshot != nil {
			level = d.level(vs.snaps[vs.snapIndex(*req.Snapshot)])
		}
		for i := 1; i <= level; i++ {
			if sp := d.layers[i].sp; sp != nil {
				for g := range sp.goff {
					areas = append(areas, [2]int64{g * GrainSize, (g + 1) * GrainSize})
				}
			}
		}
		areas = append(areas, vs.writesTo(d.id, 0, upTo)...)
	} else {
		i := strings.LastIndex(req.ChangeId, "/")
		from, err := strconv.ParseUint(req.ChangeId[i+1:], 10, 64)
		if i < 0 || err != nil || from > upTo || !strings.HasPrefix(req.ChangeId, changeIDPrefix(vs)) {
			return fail(&types.InvalidArgument{InvalidProperty: "changeId"}, "")
		}
		areas = vs.writesTo(d.id, from, upTo)
	}
	if vs.cbtWhole {
		areas = [][2]int64{{0, d.capacity}}
	}
	info := types.DiskChangeInfo{StartOffset: req.StartOffset, Length: d.capacity - req.StartOffset}
	for _, a := range mergeAreas(areas) {
		if a[1] <= req.StartOffset {
			continue
		}
		a[0] = max(a[0], req.StartOffset)
		info.ChangedArea = append(info.ChangedArea, types.DiskChangeExtent{Start: a[0], Length: a[1] - a[0]})
	}
	body.Res = &types.QueryChangedDiskAreasResponse{Returnval: info}
	return body
}

// baseAllocated returns the areas of the base of d's chain that hold data,
// from its flat file (by SEEK_DATA/SEEK_HOLE): a generated disk's file has
// holes where its initial image has none, and a disk registered from
// existing files (a restored VM) has whatever was written to it. Where the
// file system cannot say, the whole disk counts as allocated.
func (d *disk) baseAllocated() [][2]int64 {
	var out [][2]int64
	f := d.layers[0].f
	const seekData, seekHole = 3, 4 // SEEK_DATA, SEEK_HOLE (Linux, the BSDs, Solaris)
	for off := int64(0); off < d.capacity; {
		s, err := f.Seek(off, seekData)
		if err != nil {
			if errors.Is(err, syscall.ENXIO) { // no data past off
				return out
			}
			return [][2]int64{{0, d.capacity}} // the file system cannot say
		}
		if s >= d.capacity {
			return out
		}
		e, err := f.Seek(s, seekHole)
		if err != nil || e <= s {
			return [][2]int64{{0, d.capacity}}
		}
		out = append(out, [2]int64{s, min(e, d.capacity)})
		off = e
	}
	return out
}

// changeIDPrefix is the epoch part of the VM's change ids (vs.mu held): a
// new one each time tracking is switched off, so that a change id of the
// old tracking is refused and a backup tool sees the reset, as ESXi gives
// the disks a new change id UUID when tracking restarts (VMware KB 2139574,
// "Resetting Changed Block Tracking": the reset makes the next backup a
// full).
func changeIDPrefix(vs *vmState) string {
	return fmt.Sprintf("52 %016x/", vs.seed+vs.cbtEpoch*0x9e3779b97f4a7c15)
}

// writesTo returns the areas written to disk id by writes from < seq <= to.
func (vs *vmState) writesTo(id string, from, to uint64) [][2]int64 {
	var out [][2]int64
	for _, w := range vs.log {
		if w.Seq > from && w.Seq <= to && w.Disk == id {
			out = append(out, [2]int64{w.Offset, w.Offset + w.Length})
		}
	}
	return out
}

func mergeAreas(a [][2]int64) [][2]int64 {
	sort.Slice(a, func(i, j int) bool { return a[i][0] < a[j][0] })
	var out [][2]int64
	for _, x := range a {
		if n := len(out); n > 0 && x[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], x[1])
			continue
		}
		out = append(out, x)
	}
	return out
}

// SetCBTWholeDisk makes QueryChangedDiskAreas of the VM answer one extent
// over the whole disk, whatever the change id: what vSphere answers where
// it cannot tell which areas changed or hold data (NFS datastores: VDDK
// Programming Guide, "About Changed Block Tracking"), for tests of the
// clients that must cope with it.
func (s *Sim) SetCBTWholeDisk(vmName string, on bool) error {
	vs, err := s.vmByName(vmName)
	if err != nil {
		return err
	}
	vs.mu.Lock()
	vs.cbtWhole = on
	vs.mu.Unlock()
	return nil
}
