package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vmlua/vmlua/internal/dsread"
	"github.com/vmlua/vmlua/internal/vmdk"

	"github.com/vmlua/vmlua/internal/pcomp"
	"github.com/vmlua/vmlua/internal/sparse"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Options are v:backup's options.
type Options struct {
	Compress  string   // none, gzip, zstd
	Layered   bool     // a second REDO takes the writes while the first merges
	Quiesce   bool     // quiesce the guest file systems (VMware Tools)
	PowerOff  bool     // shut the guest down for the backup, power it on after
	Disks     []string // only these disk ids (nil: all)
	Exclude   []string // not these disk ids
	NoCBT     bool     // read every byte even when changed block tracking could say which are allocated
	BreakLock bool     // take the VM's lock on the target even if another run holds it
	Mode      string   // full (default), incremental, auto
	ChainMax  int      // auto: the longest chain (a full and incrementals); 0: DefaultChainMax
}

// DirName is the folder of a VM's sets on a target: its name with path
// separators replaced.
func DirName(vmName string) string {
	return strings.NewReplacer("/", "_", "\\", "_", "%2f", "_", "%2F", "_").Replace(vmName)
}

// failures records, per run, whether each VM's latest backup failed.
type failures struct {
	mu sync.Mutex
	m  map[string]bool
}

func failuresOf(r *runtime.Run) *failures {
	return failuresKey.Init(r, func() *failures { return &failures{m: map[string]bool{}} })
}

var failuresKey = runtime.NewKey[*failures]("backup.failures")

func (f *failures) set(vmName string, failed bool) {
	f.mu.Lock()
	f.m[DirName(vmName)] = failed
	f.mu.Unlock()
}

// SetFailed records whether the latest backup of a VM (or "host/NAME")
// in this run failed; Prune leaves the sets of a failed one alone.
func SetFailed(r *runtime.Run, name string, failed bool) { failuresOf(r).set(name, failed) }

// Failed reports whether the VM's latest backup in this run failed.
func Failed(r *runtime.Run, vmName string) bool {
	f := failuresOf(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[DirName(vmName)]
}

// Backup runs the whole cycle for the VM into a new set on t and returns
// its catalog.
func Backup(r *runtime.Run, v *vm.VM, t transports.Transport, o Options) (cat *catalog.Catalog, err error) {
	ctx := r.Context()
	name := v.Name()
	defer func() { failuresOf(r).set(name, err != nil) }()
	if o.Compress == "" {
		o.Compress = pcomp.Zstd
	}
	switch o.Mode {
	case "":
		o.Mode = ModeFull
	case ModeFull, ModeIncremental, ModeAuto:
	default:
		return nil, runtime.Errorf(runtime.CodeInvalidArg, "mode=%q: use \"full\", \"incremental\" or \"auto\"", o.Mode)
	}
	if o.ChainMax == 0 {
		o.ChainMax = DefaultChainMax
	}
	if o.ChainMax < 1 {
		return nil, runtime.Errorf(runtime.CodeInvalidArg, "chain_max=%d: give at least 1 (1 makes every set a full)", o.ChainMax)
	}
	if !pcomp.Valid(o.Compress) {
		return nil, runtime.Errorf(runtime.CodeInvalidArg, "compress=%q: use \"none\", \"gzip\" or \"zstd\"", o.Compress)
	}
	if err := v.Refresh(ctx); err != nil {
		return nil, err
	}
	vmDir := DirName(name)
	started := time.Now().UTC().Truncate(time.Second)
	// a set is never named before an existing one (chains take the newest
	// by name; a clock behind, or many runs within a second, must not
	// put a new set before its parent)
	if fis, err := t.List(ctx, vmDir); err == nil {
		for _, fi := range fis {
			if ts, err := time.Parse(catalog.TimeFormat, fi.Name); err == nil && fi.IsDir && !ts.Before(started) {
				started = ts.Add(time.Second)
			}
		}
	}
	// two backups of one VM within a second get distinct sets
	for {
		if _, err := t.Stat(ctx, vmDir+"/"+started.Format(catalog.TimeFormat)); err != nil {
			break
		}
		started = started.Add(time.Second)
	}
	id := catalog.SetID(vmDir, started)
	lock, err := acquireLock(r, t, vmDir, id, o.BreakLock)
	if err != nil {
		return nil, err
	}
	defer lock.release()

	cat = catalog.New()
	cat.ID, cat.VMLua, cat.Started = id, runtime.Version, started
	cat.Options = catalog.Options{Compress: o.Compress, Layered: o.Layered, Quiesce: o.Quiesce, PowerOff: o.PowerOff, Mode: o.Mode}
	if o.Mode == ModeAuto {
		cat.Options.ChainMax = o.ChainMax
	}
	dss := newDatastores(v.Obj.Client())
	cat.VM = describeVM(ctx, v, dss)
	cat.Mode = catalog.ModeFull
	plan := planChain(r, v, t, vmDir, o)
	if plan.parent != nil {
		r.Log.Info("backup: incremental on the newest set", "vm", name, "parent", plan.parent.ID, "depth", plan.parent.Depth+1)
	} else if plan.reason != "" {
		r.Log.Warn("backup: this set is a full", "vm", name, "mode", o.Mode, "why", plan.reason)
		cat.FullReason = plan.reason
	}

	sel, skipped, err := selectDisks(v, o)
	if err != nil {
		return nil, err
	}
	cat.Skipped = skipped
	cat.Status = cat.StatusOf()
	for _, s := range skipped {
		r.Log.Warn("backup: disk skipped", "vm", name, "disk", s.ID, "reason", s.Reason)
	}
	if cat.Status == catalog.StatusPartial {
		r.Log.Warn("backup: the set will be partial: a restore of it yields the VM without the skipped disks", "vm", name, "set", id, "missing", strings.Join(missingIDs(skipped), ","))
	}
	if r.DryRun {
		return dryRunSet(r, v, cat, sel, o)
	}

	if err := t.MkdirAll(ctx, id); err != nil {
		return nil, &runtime.Error{Code: runtime.CodeTransport, VM: name, Path: id, Message: fmt.Sprintf("cannot create the set's folder: %v", err), Err: err}
	}
	sw := newSetWriter(ctx, t, id, cat)
	complete := false
	defer func() {
		if complete {
			return
		}
		_ = sw.wait() // no progress.json write lands after the removal
		if rerr := removeAll(ctx, t, id); rerr != nil {
			r.Log.Error("backup failed and its partial set could not be removed; it is listed as incomplete", "vm", name, "set", id, "error", rerr)
		} else {
			r.Log.Warn("backup failed; its partial set was removed", "vm", name, "set", id)
		}
	}()
	sw.progress()

	// power off for the backup, on again after, whatever happens
	if o.PowerOff && v.Power() == "on" {
		r.Log.Info("backup: shutting the guest down (power_off=true)", "vm", name)
		if err := v.PowerOp(r, "shutdown", 5*time.Minute); err != nil {
			return nil, err
		}
		item := r.Cleanup.Push("power on VM "+name+" after its backup", func(ctx context.Context) error {
			task, err := v.Obj.PowerOn(ctx)
			if err != nil {
				return err
			}
			return task.Wait(ctx)
		})
		defer func() {
			item.Release()
			if perr := v.PowerOp(r, "on", 5*time.Minute); perr != nil {
				r.Log.Error("backup: could not power the VM on again", "vm", name, "error", perr)
				if err == nil {
					err = perr
				}
			}
		}()
	}

	cfg, err := copyConfigFiles(r, v, sw, dss)
	if err != nil {
		return nil, err
	}
	defer cfg.abort() // before the set's removal on failure (defers run last first)
	if err := backupDisks(r, v, sel, sw, dss, cfg, o, plan); err != nil {
		return nil, err
	}
	sw.update(func(c *catalog.Catalog) { c.Complete, c.Finished = true, time.Now().UTC().Truncate(time.Second) })
	if err := sw.writeFinal(); err != nil {
		return nil, err
	}
	complete = true
	if err := t.Remove(ctx, id+"/"+catalog.ProgressName); err != nil {
		r.Log.Warn("backup: could not remove progress.json (harmless: catalog.json is authoritative)", "set", id, "error", err)
	}
	r.Log.Info("backup: set complete", "vm", name, "set", id, "status", cat.Status, "mode", cat.Mode, "parent", cat.Parent, "files", len(cat.Files), "bytes", cat.Size(), "took", cat.Finished.Sub(cat.Started).String())
	return cat, nil
}

// missingIDs lists the skipped disks that make a set partial.
func missingIDs(ss []catalog.Skipped) []string {
	var out []string
	for _, s := range ss {
		if !s.Excluded {
			out = append(out, s.ID)
		}
	}
	return out
}

// dryRunSet walks a backup without changing anything: the disks are
// frozen, checked to be exportable and merged again as dry-run REDO logs
// (so a disk a real run could not export fails here too), and the plan is
// returned as a catalog with dry_run=true, the disks and their file names,
// and complete=false: no set exists.
func dryRunSet(r *runtime.Run, v *vm.VM, cat *catalog.Catalog, sel []vm.Disk, o Options) (*catalog.Catalog, error) {
	name := v.Name()
	cat.DryRun = true
	var ids []string
	for _, d := range sel {
		ids = append(ids, d.ID)
	}
	r.DryRunAction("back up the VM", "vm", name, "set", cat.ID, "disks", strings.Join(ids, ","), "compress", o.Compress, "status", cat.Status)
	needSnap := v.Power() != "off"
	committed := map[string]bool{}
	defer func() {
		for _, d := range sel {
			if !committed[d.ID] && needSnap {
				_, _ = v.Commit(r, d.ID, 0, true)
			}
		}
	}()
	if needSnap {
		for _, d := range sel {
			if _, err := v.AddRedo(r, d.ID, vm.RedoOptions{Quiesce: o.Quiesce}); err != nil {
				return nil, err
			}
		}
	}
	names := map[string]bool{}
	for _, d := range sel {
		src, err := v.FrozenPath(v.DryRunDisk(r, d))
		if err != nil {
			return nil, err
		}
		_, baseRel := dsPath(d.BasePath)
		base := strings.TrimSuffix(path.Base(baseRel), ".vmdk")
		for i := 1; names[base+".vmdk"]; i++ {
			base = fmt.Sprintf("%s~%d", strings.TrimSuffix(path.Base(baseRel), ".vmdk"), i)
		}
		stored, descName := base+"-flat.vmdk.vls"+pcomp.Ext(o.Compress), base+".vmdk"
		names[descName] = true
		r.DryRunAction("store the frozen disk", "vm", name, "disk", d.ID, "from", src, "to", cat.ID+"/"+stored, "capacity", d.Capacity)
		cat.Disks = append(cat.Disks, catalog.Disk{ID: d.ID, Path: d.BasePath, Datastore: dsOfBase(d), Mode: d.Mode, Capacity: d.Capacity, Thin: d.Thin,
			Format: catalog.FormatSparse1, File: stored, Descriptor: descName})
	}
	if needSnap {
		for _, d := range sel {
			committed[d.ID] = true
			if _, err := v.Commit(r, d.ID, 0, true); err != nil {
				return nil, err
			}
		}
	}
	r.DryRunAction("write the catalog", "vm", name, "set", cat.ID, "disks", len(cat.Disks), "status", cat.Status)
	return cat, nil
}

// selectDisks picks the disks to back up and says why others are skipped.
func selectDisks(v *vm.VM, o Options) ([]vm.Disk, []catalog.Skipped, error) {
	want := map[string]bool{}
	for _, id := range o.Disks {
		if _, err := v.Disk(id); err != nil {
			return nil, nil, err
		}
		want[strings.ToLower(id)] = true
	}
	excl := map[string]bool{}
	for _, id := range o.Exclude {
		excl[strings.ToLower(id)] = true
	}
	var sel []vm.Disk
	var skipped []catalog.Skipped
	for _, d := range v.Disks() {
		id := strings.ToLower(d.ID)
		switch {
		case len(want) > 0 && !want[id]:
			continue
		case excl[id]:
			skipped = append(skipped, catalog.Skipped{ID: d.ID, Path: d.Path, Reason: "excluded by the script (exclude=)", Excluded: true})
		case d.Independent:
			skipped = append(skipped, catalog.Skipped{ID: d.ID, Path: d.Path, Reason: fmt.Sprintf("the disk is %s: snapshots do not freeze independent disks, so it cannot be backed up while the VM runs (back it up powered off, or make it persistent)", d.Mode)})
		case d.RDM == "physical":
			skipped = append(skipped, catalog.Skipped{ID: d.ID, Path: d.Path, Reason: "physical-mode RDM: vSphere cannot snapshot it; back up the LUN with the storage array's tools"})
		case d.RDM != "":
			skipped = append(skipped, catalog.Skipped{ID: d.ID, Path: d.Path, Reason: "virtual-mode RDM: its data lives on a LUN that vmlua does not read; back up the LUN with the storage array's tools"})
		default:
			sel = append(sel, d)
		}
	}
	return sel, skipped, nil
}

// describeVM fills the catalog's VM section.
func describeVM(ctx context.Context, v *vm.VM, dss *datastores) catalog.VM {
	m := v.MO()
	c := v.Obj.Client()
	out := catalog.VM{Name: m.Name, Moref: v.Ref.Value, Power: v.Power()}
	if cfg := m.Config; cfg != nil {
		out.UUID, out.InstanceUUID, out.GuestID = cfg.Uuid, cfg.InstanceUuid, cfg.GuestId
		out.CPUs, out.MemoryMB, out.VMX, out.HWVersion = int(cfg.Hardware.NumCPU), int64(cfg.Hardware.MemoryMB), cfg.Files.VmPathName, cfg.Version
		devs := object.VirtualDeviceList(cfg.Hardware.Device)
		for i, dev := range devs.SelectByType((*types.VirtualEthernetCard)(nil)) {
			e := dev.(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
			n := catalog.NIC{ID: fmt.Sprintf("ethernet%d", i), Type: devs.Type(dev), MAC: e.MacAddress}
			switch b := e.Backing.(type) {
			case *types.VirtualEthernetCardNetworkBackingInfo:
				n.Network = b.DeviceName
			case *types.VirtualEthernetCardDistributedVirtualPortBackingInfo:
				n.Network = "dvportgroup:" + b.Port.PortgroupKey
			}
			out.NICs = append(out.NICs, n)
		}
	}
	if len(m.Datastore) > 0 {
		out.Datastores, _ = dss.nameOf(ctx, m.Datastore)
	}
	sort.Strings(out.Datastores)
	if h := m.Summary.Runtime.Host; h != nil {
		var hm mo.HostSystem
		if err := v.Obj.Properties(ctx, *h, []string{"name"}, &hm); err == nil {
			out.Host = hm.Name
		}
	}
	if m.Parent != nil {
		out.Folder, _ = find.InventoryPath(ctx, c, *m.Parent)
	}
	if m.ResourcePool != nil {
		out.ResourcePool, _ = find.InventoryPath(ctx, c, *m.ResourcePool)
	}
	return out
}

// backupDisks freezes every selected disk at one instant (one snapshot),
// streams each frozen image into the set, and merges the REDO logs again:
// layered, as the book recommends, with a second REDO that takes the
// writes while the first one merges.
func backupDisks(r *runtime.Run, v *vm.VM, sel []vm.Disk, sw *setWriter, dss *datastores, cfg *configCopy, o Options, plan chainPlan) (err error) {
	ctx := r.Context()
	name := v.Name()
	needSnap := v.Power() != "off"
	depth := map[string]int{}
	defer func() {
		if err == nil {
			return
		}
		// leave no REDO behind on failure, newest first. A stopped run
		// (SIGINT, timeout) cannot call vSphere any more: each REDO's own
		// cleanup, which runs with a context of its own, commits it.
		if ctx.Err() != nil {
			return
		}
		for i := len(sel) - 1; i >= 0; i-- {
			for depth[sel[i].ID] > 0 {
				depth[sel[i].ID]--
				if _, cerr := v.Commit(r, sel[i].ID, 0, true); cerr != nil {
					if ctx.Err() != nil {
						r.Log.Warn("backup stopped while committing its REDO log; the run's cleanup commits it", "vm", name, "disk", sel[i].ID)
						break
					}
					r.Log.Error("backup failed and committing its REDO log failed too; the run's cleanup retries", "vm", name, "disk", sel[i].ID, "error", cerr)
					break
				}
			}
		}
	}()
	var snap *types.ManagedObjectReference
	var sname string
	if needSnap {
		for _, d := range sel {
			sname, err = v.AddRedo(r, d.ID, vm.RedoOptions{Quiesce: o.Quiesce})
			if err != nil {
				return err
			}
			depth[d.ID]++
			snap = snapshotRef(v, sname)
			r.Log.Info("backup: disk frozen", "vm", name, "disk", d.ID, "snapshot", sname)
		}
	}
	// AddRedo re-reads the VM once its snapshot exists; read it again only
	// when there is no snapshot, or that read did not show it
	if snap == nil {
		if err := v.Refresh(ctx); err != nil {
			return err
		}
		if needSnap {
			snap = snapshotRef(v, sname)
		}
	}
	cbt := !o.NoCBT && v.MO().Config.ChangeTrackingEnabled != nil && *v.MO().Config.ChangeTrackingEnabled
	changeIDs := map[int32]string{}
	if cbt {
		changeIDs = snapshotChangeIDs(ctx, v, snap)
	}
	// an incremental only on a base every disk can trust; else a full
	incs := map[string]*incDisk{}
	if plan.parent != nil {
		for _, d0 := range sel {
			d, err := v.Disk(d0.ID)
			if err != nil {
				return err
			}
			pd, why := trustBase(plan.parent, d, changeIDs[d.Key])
			if why == "" {
				areas, qerr := queryAreas(ctx, v.Obj.Client(), v.Ref, snap, d.Key, d.Capacity, pd.ChangeID, 0)
				if qerr != nil {
					why = fmt.Sprintf("vSphere rejected the change id %q of disk %s: %v", pd.ChangeID, d.ID, qerr)
				} else {
					incs[d.ID] = &incDisk{areas: areas, parent: pd}
				}
			}
			if why != "" {
				r.Log.Warn("backup: no incremental on a base that cannot be trusted; this set is a full", "vm", name, "parent", plan.parent.ID, "why", why)
				sw.update(func(c *catalog.Catalog) { c.FullReason = why })
				incs = nil
				break
			}
		}
		if incs != nil {
			sw.update(func(c *catalog.Catalog) {
				c.Mode, c.Parent, c.Depth, c.Version = catalog.ModeIncremental, plan.parent.ID, plan.parent.Depth+1, catalog.VersionChain
			})
		}
	}
	// the configuration files were read before the freeze and stored while it was made
	if err := cfg.wait(); err != nil {
		return err
	}
	names := map[string]bool{}
	sw.update(func(c *catalog.Catalog) {
		for _, f := range c.Files {
			names[f.Name] = true
		}
	})
	for _, d0 := range sel {
		d, err := v.Disk(d0.ID)
		if err != nil {
			return err
		}
		src, err := v.FrozenPath(d)
		if err != nil {
			return err
		}
		// CBT answers only for a disk whose tracking is active (it has a change id)
		cd, err := exportDisk(r, v, d, src, snap, cbt && d.ChangeID != "", incs[d.ID], sw, dss, o.Compress, names)
		if err != nil {
			return err
		}
		cd.ChangeID, cd.DiskUUID = changeIDs[d.Key], d.UUID
		if cd.DataBytes >= 0 && cbt {
			sw.update(func(c *catalog.Catalog) { c.Options.CBT = true })
		}
		if err := sw.addDisk(cd); err != nil {
			return err
		}
	}
	if !needSnap {
		return nil
	}
	if o.Layered {
		for _, d := range sel {
			if _, err := v.AddRedo(r, d.ID, vm.RedoOptions{}); err != nil {
				return err
			}
			depth[d.ID]++
		}
		for _, d := range sel {
			if _, err := v.Commit(r, d.ID, 1, true); err != nil {
				return err
			}
			depth[d.ID]--
		}
	}
	for _, d := range sel {
		if _, err := v.Commit(r, d.ID, 0, true); err != nil {
			return err
		}
		depth[d.ID]--
	}
	return nil
}

func snapshotRef(v *vm.VM, name string) *types.ManagedObjectReference {
	m := v.MO()
	if m.Snapshot == nil {
		return nil
	}
	var found *types.ManagedObjectReference
	var walk func([]types.VirtualMachineSnapshotTree)
	walk = func(ts []types.VirtualMachineSnapshotTree) {
		for _, s := range ts {
			if s.Name == name {
				ref := s.Snapshot
				found = &ref
			}
			walk(s.ChildSnapshotList)
		}
	}
	walk(m.Snapshot.RootSnapshotList)
	return found
}

// area is a byte range of a disk image.
type area struct{ off, end int64 }

// mergeGap joins allocated areas closer than this: one longer read beats
// many small ones (the zero bytes read in between are detected anyway).
const mergeGap = 1 << 20

// allocatedAreas asks changed block tracking which areas of the disk hold
// data (changeId "*"), as of the snapshot.
func allocatedAreas(ctx context.Context, c *vim25.Client, vmRef types.ManagedObjectReference, snap *types.ManagedObjectReference, key int32, size int64) ([]area, error) {
	var out []area
	for off := int64(0); off < size; {
		res, err := methods.QueryChangedDiskAreas(ctx, c, &types.QueryChangedDiskAreas{This: vmRef, Snapshot: snap, DeviceKey: key, StartOffset: off, ChangeId: "*"})
		if err != nil {
			return nil, err
		}
		info := res.Returnval
		for _, a := range info.ChangedArea {
			s, e := max(a.Start, 0), min(a.Start+a.Length, size)
			if e <= s {
				continue
			}
			if n := len(out); n > 0 && s <= out[n-1].end+mergeGap {
				out[n-1].end = max(out[n-1].end, e)
				continue
			}
			out = append(out, area{s, e})
		}
		next := info.StartOffset + info.Length
		if next <= off {
			return nil, fmt.Errorf("QueryChangedDiskAreas made no progress at offset %d", off)
		}
		off = next
	}
	sort.Slice(out, func(i, j int) bool { return out[i].off < out[j].off })
	return out, nil
}

// counter counts bytes for progress.
type counter struct {
	w  io.Writer
	tr runtime.Tracker
}

func (c counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.tr.Add(int64(n))
	return n, err
}

// exportDisk streams one frozen disk into the set: sparse, compressed,
// atomic; then its descriptor.
func exportDisk(r *runtime.Run, v *vm.VM, d vm.Disk, src string, snap *types.ManagedObjectReference, cbt bool, inc *incDisk, sw *setWriter, dss *datastores, compress string, names map[string]bool) (catalog.Disk, error) {
	ctx := r.Context()
	name := v.Name()
	fail := func(code string, err error, format string, args ...any) (catalog.Disk, error) {
		return catalog.Disk{}, &runtime.Error{Code: code, VM: name, Disk: d.ID, Path: src, Message: fmt.Sprintf(format, args...), Err: err}
	}
	dsName, rel := dsPath(src)
	ds, err := dss.get(ctx, v.MO().Datastore, dsName)
	if err != nil {
		return fail(runtime.CodeVSphere, err, "%v", err)
	}
	desc, err := dsread.ReadSmall(ctx, ds, rel)
	if err != nil {
		return fail(runtime.CodeVSphere, err, "cannot read the disk descriptor: %v", err)
	}
	extents, err := vmdk.FlatExtents(string(desc))
	if err != nil {
		return fail(runtime.CodeInvalidState, err, "%v", err)
	}
	var size int64
	for _, e := range extents {
		size += e.Bytes
	}
	_, baseRel := dsPath(d.BasePath)
	base := strings.TrimSuffix(path.Base(baseRel), ".vmdk")
	for i := 1; names[base+".vmdk"]; i++ { // two disks of one name on two datastores
		base = fmt.Sprintf("%s~%d", strings.TrimSuffix(path.Base(baseRel), ".vmdk"), i)
	}
	flat, descName := base+"-flat.vmdk", base+".vmdk"
	stored := flat + ".vls" + pcomp.Ext(compress)
	names[descName], names[stored] = true, true

	if inc != nil && inc.parent.Capacity != size {
		return fail(runtime.CodeInvalidState, nil, "the disk's descriptor says %d bytes, its parent layer %d: the set is not written (run a full)", size, inc.parent.Capacity)
	}
	var areas []area
	if inc != nil {
		areas = inc.areas
		if areas == nil {
			areas = []area{}
		}
	} else if cbt {
		areas, err = allocatedAreas(ctx, v.Obj.Client(), v.Ref, snap, d.Key, size)
		if err != nil {
			r.Log.Warn("backup: changed block tracking cannot say which areas hold data; reading every byte", "vm", name, "disk", d.ID, "error", err)
			areas = nil
		}
	}
	if areas == nil {
		areas = []area{{0, size}}
	}

	// the descriptor is stored while the image streams; it is waited for
	// on every return, so nothing lands in the set after a failure
	newDesc := vmdk.FlatDescriptor(string(desc), size/512, flat)
	type stored1 struct {
		res transports.UploadResult
		err error
	}
	dctx, dcancel := context.WithCancel(ctx)
	dch := make(chan stored1, 1)
	go func() {
		res, err := transports.Upload(dctx, sw.t, sw.dir+"/"+descName, strings.NewReader(newDesc), transports.UploadOptions{ExpectedSize: int64(len(newDesc))})
		dch <- stored1{res, err}
	}()
	descDone := false
	defer func() {
		if !descDone {
			dcancel()
			<-dch
		}
	}()

	tr := r.Progress.Start(name+" "+d.ID, size)
	// the stored image is digested by span, on every core
	aw, err := transports.CreateAtomic(ctx, sw.t, sw.dir+"/"+stored, transports.UploadOptions{Spans: true})
	if err != nil {
		tr.Done(err)
		return fail(runtime.CodeTransport, err, "cannot create %s on the target: %v", stored, err)
	}
	defer aw.Abort()
	cw, err := pcomp.NewWriter(aw, compress, 0)
	if err != nil {
		return fail(runtime.CodeInvalidArg, err, "%v", err)
	}
	defer cw.Close()
	var spw *sparse.Writer
	var gap func(int64) error
	if inc != nil {
		spw = sparse.NewDeltaWriter(cw, size)
		gap = spw.Keep
	} else {
		spw = sparse.NewWriter(cw, size)
		gap = spw.Zero
	}
	out := counter{spw, tr}
	rdr, err := dsread.NewClient(ctx, ds, path.Dir(rel), extents)
	if err != nil {
		return fail(runtime.CodeVSphere, err, "%v", err)
	}
	defer rdr.Close()
	dareas := make([]dsread.Area, len(areas))
	for i, a := range areas {
		dareas[i] = dsread.Area{Off: a.off, End: a.end}
	}
	pos := int64(0)
	err = func() error {
		err := rdr.ReadSpans(ctx, dsread.Spans(extents, dareas, dsread.MaxSpan), func(s dsread.Span, p []byte) error {
			if s.Img > pos {
				if err := gap(s.Img - pos); err != nil {
					return err
				}
				tr.Add(s.Img - pos)
			}
			pos = s.Img + s.N
			_, err := out.Write(p)
			return err
		})
		if errors.Is(err, dsread.ErrRangeIgnored) {
			return fmt.Errorf("%w (vmlua reads a disk in byte ranges)", err)
		}
		if err != nil {
			return err
		}
		if pos < size {
			if err := gap(size - pos); err != nil {
				return err
			}
			tr.Add(size - pos)
		}
		if err := spw.Close(); err != nil {
			return err
		}
		return cw.Close()
	}()
	if err != nil {
		tr.Done(err)
		return fail(runtime.CodeTransport, err, "backup of the disk failed; nothing was left under its final name: %v", err)
	}
	res, err := aw.Commit()
	tr.Done(err)
	if err != nil {
		return fail(runtime.CodeTransport, err, "backup of the disk failed; nothing was left under its final name: %v", err)
	}
	st := spw.Stats()
	dr := <-dch
	descDone = true
	dcancel()
	if dr.err != nil {
		return fail(runtime.CodeTransport, dr.err, "cannot store the disk descriptor: %v", dr.err)
	}
	if err := sw.add(catalog.File{Name: stored, Size: res.Bytes, Spans: spansOf(res.Spans), Compression: compress, Kind: catalog.KindDisk, Source: src, Disk: d.ID},
		catalog.File{Name: descName, Size: dr.res.Bytes, SHA256: dr.res.SHA256, Compression: pcomp.None, Kind: catalog.KindDescriptor, Source: d.BasePath, Disk: d.ID}); err != nil {
		return catalog.Disk{}, err
	}
	cd := catalog.Disk{ID: d.ID, Path: d.BasePath, Datastore: dsOfBase(d), Mode: d.Mode, Capacity: size, Thin: d.Thin,
		Format: catalog.FormatSparse1, File: stored, Descriptor: descName, ContentSHA256: spw.Sum(), DataBytes: st.DataBytes}
	if inc != nil {
		cd.Format, cd.BaseChangeID, cd.ParentContentSHA256 = catalog.FormatDelta1, inc.parent.ChangeID, inc.parent.ContentSHA256
		for _, a := range inc.areas {
			cd.ChangedBytes += a.end - a.off
		}
	}
	r.Log.Info("backup: disk stored", "vm", name, "disk", d.ID, "file", stored, "format", cd.Format, "capacity", size, "changed", cd.ChangedBytes, "data", st.DataBytes, "stored", res.Bytes)
	return cd, nil
}

func dsOfBase(d vm.Disk) string { ds, _ := dsPath(d.BasePath); return ds }
