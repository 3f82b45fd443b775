package backup

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vmlua/vmlua/internal/pcomp"
	"github.com/vmlua/vmlua/internal/sparse"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/retention"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
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
	// FullEvery makes every FullEvery-th backup of the VM a full, in mode
	// incremental and auto (0: no such rule).
	FullEvery int
	// VerifyCBT makes the set a full that checks changed block tracking
	// against the newest earlier set (verifycbt.go).
	VerifyCBT bool
	// Retention is the policy the VM's sets are pruned with: on a target
	// with object lock a complete set is locked until the date it keeps
	// the set at the earliest (sets.LockSet).
	Retention retention.Policy
}

// Backup runs the whole cycle for the VM into a new set on t and returns
// its catalog.
//
// The steps: the options (checkOptions), the set's id and lock (newSetID),
// its catalog and chain plan (startCatalog), the disks (planDisks), the
// set's folder (openSet, removed again on failure: dropPartialSet), the
// guest off when asked (powerOffFor), the configuration files
// (copyConfigFiles), the disks (backupDisks) and catalog.json (finishSet).
func Backup(r *runtime.Run, v *vm.VM, t transports.Transport, o Options) (cat *catalog.Catalog, err error) {
	ctx := r.Context()
	name := v.Name()
	defer func() { sets.SetFailed(r, name, err != nil) }()
	if err := checkOptions(&o); err != nil {
		return nil, err
	}
	if err := sets.CheckLockable(t, o.Retention); err != nil {
		return nil, err
	}
	if err := v.Refresh(ctx); err != nil {
		return nil, err
	}
	vmDir := sets.DirName(name)
	id, started := newSetID(ctx, t, vmDir)
	release, err := sets.AcquireLock(r, t, vmDir, id, o.BreakLock)
	if err != nil {
		return nil, err
	}
	defer release()

	dss := v.Datastores()
	cat, plan := startCatalog(r, v, t, dss, id, started, o)
	sel, err := planDisks(r, v, cat, o)
	if err != nil {
		return nil, err
	}
	if r.DryRun {
		return dryRunSet(r, v, cat, sel, o)
	}

	sw, err := openSet(ctx, t, name, cat)
	if err != nil {
		return nil, err
	}
	complete := false
	defer func() {
		if !complete {
			dropPartialSet(r, t, sw, name)
		}
	}()
	powerOn, err := powerOffFor(r, v, o)
	if err != nil {
		return nil, err
	}
	defer powerOn(&err)

	cfg, err := copyConfigFiles(r, v, sw, dss)
	if err != nil {
		return nil, err
	}
	defer cfg.abort() // before the set's removal on failure (defers run last first)
	if err := backupDisks(r, v, sel, sw, cfg, o, plan); err != nil {
		return nil, err
	}
	if err := finishSet(r, t, sw, name, cat); err != nil {
		return nil, err
	}
	complete = true
	// a set that cannot be locked is kept (it is complete and good) and
	// the backup fails, so the run says the set is not immutable
	if _, err := sets.LockSet(r, t, cat, o.Retention); err != nil {
		return nil, err
	}
	return cat, nil
}

// checkOptions fills in the defaults of v:backup's options and checks them.
func checkOptions(o *Options) error {
	if o.Compress == "" {
		o.Compress = pcomp.Zstd
	}
	switch o.Mode {
	case "":
		o.Mode = ModeFull
	case ModeFull, ModeIncremental, ModeAuto:
	default:
		return runtime.Errorf(runtime.CodeInvalidArg, "mode=%q: use \"full\", \"incremental\" or \"auto\"", o.Mode)
	}
	if o.ChainMax == 0 {
		o.ChainMax = DefaultChainMax
	}
	if o.ChainMax < 1 {
		return runtime.Errorf(runtime.CodeInvalidArg, "chain_max=%d: give at least 1 (1 makes every set a full)", o.ChainMax)
	}
	if o.FullEvery < 0 {
		return runtime.Errorf(runtime.CodeInvalidArg, "full_every=%d: give 0 (no rule) or at least 1 (1 makes every set a full)", o.FullEvery)
	}
	if !pcomp.Valid(o.Compress) {
		return runtime.Errorf(runtime.CodeInvalidArg, "compress=%q: use \"none\", \"gzip\" or \"zstd\"", o.Compress)
	}
	return nil
}

// newSetID names a new set of the VM folder vmDir: now, or the first free
// second after its newest set.
func newSetID(ctx context.Context, t transports.Transport, vmDir string) (string, time.Time) {
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
	return catalog.SetID(vmDir, started), started
}

// startCatalog is the new set's catalog before any file is stored, and
// the chain it would continue (planChain).
func startCatalog(r *runtime.Run, v *vm.VM, t transports.Transport, dss *datastores, id string, started time.Time, o Options) (*catalog.Catalog, chainPlan) {
	name := v.Name()
	cat := catalog.New()
	cat.ID, cat.VMLua, cat.Started = id, runtime.Version, started
	cat.Options = catalog.Options{Compress: o.Compress, Layered: o.Layered, Quiesce: o.Quiesce, PowerOff: o.PowerOff, Mode: o.Mode}
	if o.Mode == ModeAuto {
		cat.Options.ChainMax = o.ChainMax
	}
	cat.Options.FullEvery, cat.Options.VerifyCBT = o.FullEvery, o.VerifyCBT
	cat.VM = describeVM(r.Context(), v, dss)
	cat.Mode = catalog.ModeFull
	plan := planChain(r, v, t, sets.DirName(name), o)
	if o.VerifyCBT {
		plan = verifyingFull(r, v, t, sets.DirName(name), plan)
	}
	if plan.parent != nil {
		r.Log.Info("backup: incremental on the newest set", "vm", name, "parent", plan.parent.ID, "depth", plan.parent.Depth+1)
	} else if plan.reason != "" {
		level := slog.LevelWarn
		if plan.planned {
			level = slog.LevelInfo // the chain is as long as asked: a full is the plan, not a problem
		}
		r.Log.Log(r.Context(), level, "backup: this set is a full", "vm", name, "mode", o.Mode, "why", plan.reason)
		cat.FullReason = plan.reason
	}
	return cat, plan
}

// planDisks selects the disks to back up and records the skipped ones
// (and so the set's status) in the catalog.
func planDisks(r *runtime.Run, v *vm.VM, cat *catalog.Catalog, o Options) ([]vm.Disk, error) {
	name := v.Name()
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
		r.Log.Warn("backup: the set will be partial: a restore of it yields the VM without the skipped disks", "vm", name, "set", cat.ID, "missing", strings.Join(missingIDs(skipped), ","))
	}
	return sel, nil
}

// openSet creates the set's folder and starts its progress.json.
func openSet(ctx context.Context, t transports.Transport, name string, cat *catalog.Catalog) (*setWriter, error) {
	if err := t.MkdirAll(ctx, cat.ID); err != nil {
		return nil, &runtime.Error{Code: runtime.CodeTransport, VM: name, Path: cat.ID, Message: fmt.Sprintf("cannot create the set's folder: %v", err), Err: err}
	}
	sw := newSetWriter(ctx, t, cat.ID, cat)
	sw.Progress()
	return sw, nil
}

// dropPartialSet removes the set of a failed backup.
func dropPartialSet(r *runtime.Run, t transports.Transport, sw *setWriter, name string) {
	_ = sw.Discard() // no progress.json write lands after the removal
	if rerr := sets.RemoveAll(r.Context(), t, sw.dir); rerr != nil {
		r.Log.Error("backup failed and its partial set could not be removed; it is listed as incomplete", "vm", name, "set", sw.dir, "error", rerr)
	} else {
		r.Log.Warn("backup failed; its partial set was removed", "vm", name, "set", sw.dir)
	}
}

// powerOffFor shuts the guest down for the backup with power_off=true and
// returns what powers it on again, whatever happens (a failure to power
// on becomes *err when the backup itself did not fail).
//
// Powering the VM on again is part of the run's guaranteed cleanup, like
// committing a REDO log: it is registered before the guest is asked to shut
// down, and runs — from powerOn, or at the run's end if the process never
// gets there — on a context of its own with its own deadline
// (runtime.RunCleanup), so that an error, the run's --timeout, SIGINT or
// SIGTERM in the middle of the backup (or of the shutdown) still leaves the
// VM running.
func powerOffFor(r *runtime.Run, v *vm.VM, o Options) (powerOn func(err *error), err error) {
	name := v.Name()
	if !o.PowerOff || v.Power() != "on" {
		return func(*error) {}, nil
	}
	// the guest accepted the shutdown but was not seen off: it may still be
	// on its way down
	var onItsWay atomic.Bool
	item := r.Cleanup.Push("power on VM "+name+" after its backup", func(ctx context.Context) error {
		settle := time.Duration(0)
		if onItsWay.Load() {
			settle = shutdownSettle
		}
		return v.PowerOnAgain(ctx, r, settle)
	})
	r.Log.Info("backup: shutting the guest down (power_off=true)", "vm", name)
	onItsWay.Store(true) // until Shutdown says otherwise (a run ended meanwhile powers on after the wait)
	asked, err := v.Shutdown(r, shutdownTimeout)
	onItsWay.Store(asked && err != nil)
	if err != nil {
		if perr := r.RunCleanup(item); perr != nil {
			r.Log.Error("backup: could not power the VM on again", "vm", name, "error", perr)
		}
		return nil, err
	}
	return func(err *error) {
		if perr := r.RunCleanup(item); perr != nil {
			r.Log.Error("backup: could not power the VM on again", "vm", name, "error", perr)
			if *err == nil {
				*err = perr
			}
		}
	}, nil
}

// shutdownTimeout bounds the guest's shutdown for power_off=true.
const shutdownTimeout = 5 * time.Minute

// shutdownSettle is how long powering the VM on again waits for a guest
// that accepted the shutdown but is still on its way down (the run was
// stopped, or the shutdown timed out, in the middle of it): a guest
// powering off after the run gave up must not stay off. Well within the
// per-action cleanup bound (10 min) and the stop timeouts
// docs/operations.md recommends (15 min).
const shutdownSettle = 2 * time.Minute

// finishSet marks the set complete and writes its catalog.json (the last
// file); progress.json goes.
func finishSet(r *runtime.Run, t transports.Transport, sw *setWriter, name string, cat *catalog.Catalog) error {
	sw.Update(func(c *catalog.Catalog) { c.Complete, c.Finished = true, time.Now().UTC().Truncate(time.Second) })
	if err := sw.WriteFinal(); err != nil {
		return err
	}
	id := cat.ID
	if err := t.Remove(r.Context(), id+"/"+catalog.ProgressName); transports.Classify(err) == transports.ClassPermission {
		r.Log.Info("backup: progress.json stays: the credentials may not delete on this target (append-only); a prune with credentials that may removes it with the set", "set", id)
	} else if err != nil {
		r.Log.Warn("backup: could not remove progress.json (harmless: catalog.json is authoritative)", "set", id, "error", err)
	}
	r.Log.Info("backup: set complete", "vm", name, "set", id, "status", cat.Status, "mode", cat.Mode, "parent", cat.Parent, "files", len(cat.Files), "bytes", cat.Size(), "took", cat.Finished.Sub(cat.Started).String())
	return nil
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
	off := offForBackup(v, o)
	if off && v.Power() == "on" {
		r.DryRunAction("shut the guest down for the backup (power_off=true), and power it on again after", "vm", name)
	}
	needSnap := !off || onOwnSnapshots(v, sel)
	own := map[string]int{} // before the dry run's own REDO logs are counted
	for _, d := range sel {
		own[d.ID] = ownLevels(v, d)
	}
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
		frozenPath := v.FrozenPath
		if off {
			frozenPath = v.FrozenPathOff
		}
		var src string
		if levels := own[d.ID]; levels > 0 {
			src = fmt.Sprintf("the NFC export lease of the backup's snapshot (the disk sits on %d snapshot level(s) of the VM's own)", levels)
		} else {
			var err error
			if src, err = frozenPath(v.DryRunDisk(r, d)); err != nil {
				return nil, err
			}
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
			Format: catalog.FormatOf(sparse.Version, false), File: stored, Descriptor: descName})
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

// offForBackup says the VM is off while its disks are read: it is off
// already, or power_off=true shuts it down for the backup. Its independent
// disks are then as still as the others, and read like them.
func offForBackup(v *vm.VM, o Options) bool {
	return v.Power() == "off" || (o.PowerOff && v.Power() == "on")
}

// selectDisks picks the disks to back up and says why others are skipped.
func selectDisks(v *vm.VM, o Options) ([]vm.Disk, []catalog.Skipped, error) {
	off := offForBackup(v, o)
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
		case SkipReason(d, off) != "":
			skipped = append(skipped, catalog.Skipped{ID: d.ID, Path: d.Path, Reason: SkipReason(d, off)})
		default:
			sel = append(sel, d)
		}
	}
	return sel, skipped, nil
}

// SkipReason says why v:backup leaves the disk out ("" when it backs it
// up): an RDM, an encrypted disk, an independent disk of a VM that runs
// while its disks are read (off: it does not). The reason says what
// vSphere can do with such a disk and what to do instead; vmlua doctor
// and the set's catalog give the same words.
func SkipReason(d vm.Disk, off bool) string {
	switch {
	case d.RDM == "physical":
		return "physical-mode RDM: vSphere cannot snapshot it (vSphere Storage guide, \"RDM Considerations and Limitations\") and its data is the LUN itself, not a file vmlua can read; back the LUN up with the storage array's tools"
	case d.RDM != "":
		return "virtual-mode RDM: vSphere snapshots it (vSphere Storage guide, \"RDM Considerations and Limitations\"), but its frozen data stays on the mapped LUN, not in a flat file on a datastore, which is what vmlua reads; back the LUN up with the storage array's tools, or make it a virtual disk (a storage migration that changes the disk format copies the LUN into a .vmdk)"
	case d.KeyID != "":
		return fmt.Sprintf("encrypted disk (VM encryption, key %q): its files on the datastore hold ciphertext, which vmlua would read as it is; only a reader that goes through the host decrypts it (VDDK's NBDSSL or HotAdd, VDDK Programming Guide, \"Virtual Machine Encryption and Backup\"); back it up with such a tool, or decrypt the disk", d.KeyID)
	case d.Independent && !off:
		return fmt.Sprintf("the disk is %s: snapshots do not freeze independent disks, so it cannot be backed up while the VM runs (back it up powered off: power_off=true, or make it persistent)", d.Mode)
	}
	return ""
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
		out.Datastores, _ = dss.Names(ctx, m.Datastore)
	}
	sort.Strings(out.Datastores)
	out.Host = v.HostName()
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
//
// The steps: freeze (the REDO logs; rollback commits them on failure),
// what changed block tracking knows (trackedChanges), the incrementals a
// parent allows (planIncrementals), the disks (exportDisks) and the merge
// (merge).
func backupDisks(r *runtime.Run, v *vm.VM, sel []vm.Disk, sw *setWriter, cfg *configCopy, o Options, plan chainPlan) (err error) {
	// a VM on snapshots of its own gets the backup's snapshot even when
	// it is off: its disks are read through that snapshot's export lease
	fz := &frozenDisks{r: r, v: v, sel: sel, needSnap: v.Power() != "off" || onOwnSnapshots(v, sel), depth: map[string]int{}}
	defer func() {
		if err != nil {
			fz.rollback()
		}
	}()
	snap, err := fz.freeze(o.Quiesce)
	if err != nil {
		return err
	}
	cbt, changeIDs := trackedChanges(r.Context(), v, snap, o)
	incs, err := planIncrementals(r, v, sel, sw, snap, changeIDs, plan)
	if err != nil {
		return err
	}
	// the configuration files were read before the freeze and stored while it was made
	if err := cfg.wait(); err != nil {
		return err
	}
	// a verifying full reads every byte: it does not take tracking's word for which areas hold data
	if err := exportDisks(r, v, sel, sw, snap, cbt && !o.VerifyCBT, changeIDs, incs, o.Compress, plan.against); err != nil {
		return err
	}
	return fz.merge(o.Layered)
}

// frozenDisks is the disks of one backup and how many REDO logs each has
// on it (what a failure commits again).
type frozenDisks struct {
	r        *runtime.Run
	v        *vm.VM
	sel      []vm.Disk
	needSnap bool // the VM is not off as its disks are frozen: they get REDO logs
	depth    map[string]int
}

// freeze puts a REDO log on every disk (one snapshot) and returns the
// snapshot (nil for a powered-off VM), with the VM read again.
func (f *frozenDisks) freeze(quiesce bool) (*types.ManagedObjectReference, error) {
	r, v := f.r, f.v
	needSnap := f.needSnap
	var snap *types.ManagedObjectReference
	var sname string
	if needSnap {
		for _, d := range f.sel {
			var err error
			sname, err = v.AddRedo(r, d.ID, vm.RedoOptions{Quiesce: quiesce})
			if err != nil {
				return nil, err
			}
			f.depth[d.ID]++
			snap = snapshotRef(v, sname)
			r.Log.Info("backup: disk frozen", "vm", v.Name(), "disk", d.ID, "snapshot", sname)
		}
	}
	// AddRedo re-reads the VM once its snapshot exists; read it again only
	// when there is no snapshot, or that read did not show it
	if snap == nil {
		if err := v.Refresh(r.Context()); err != nil {
			return nil, err
		}
		if needSnap {
			snap = snapshotRef(v, sname)
		}
	}
	return snap, nil
}

// merge merges the REDO logs again: with layered, a second REDO takes the
// writes while the first merges, then the last one merges.
func (f *frozenDisks) merge(layered bool) error {
	r, v := f.r, f.v
	if !f.needSnap {
		return nil
	}
	if layered {
		if held, small := f.redoLogsSmall(); small {
			r.Log.Info("backup: the REDO logs hold little; merged directly, without a second REDO", "vm", v.Name(), "bytes", held, "layered_above", directMergeMax)
			layered = false
		}
	}
	if layered {
		for _, d := range f.sel {
			if _, err := v.AddRedo(r, d.ID, vm.RedoOptions{}); err != nil {
				return err
			}
			f.depth[d.ID]++
		}
		for _, d := range f.sel {
			f.depth[d.ID]-- // see below
			if _, err := v.Commit(r, d.ID, 1, true); err != nil {
				return err
			}
		}
	}
	for _, d := range f.sel {
		// A commit takes the REDO off the disk's stack even when it fails
		// (a question stops it, vSphere refuses it): that REDO's own
		// cleanup commits it when the run ends, so rollback must not try
		// to commit it, nor another, again.
		f.depth[d.ID]--
		if _, err := v.Commit(r, d.ID, 0, true); err != nil {
			return err
		}
	}
	return nil
}

// directMergeMax is the most a REDO log may hold to be merged directly
// when layered was asked for: the second REDO of a layered merge exists
// so that the merge that ends the cycle is small, and a REDO that holds
// this little is as small as that second one would be, without the two
// more snapshot operations (each of which stuns the VM briefly).
const directMergeMax = 16 << 20

// redoLogsSmall reports whether every disk's REDO log holds at most
// directMergeMax bytes, and their total; it asks vSphere to bring the VM's
// file layout up to date first (vCenter refreshes it only now and then),
// and says no when it cannot tell.
func (f *frozenDisks) redoLogsSmall() (int64, bool) {
	r, v := f.r, f.v
	ctx := r.Context()
	if err := v.Obj.RefreshStorageInfo(ctx); err != nil {
		return 0, false
	}
	if err := v.Refresh(ctx); err != nil {
		return 0, false
	}
	var total int64
	for _, sd := range f.sel {
		d, err := v.Disk(sd.ID)
		if err != nil {
			return 0, false
		}
		n, ok := v.RedoBytes(d)
		if !ok || n > directMergeMax {
			return 0, false
		}
		total += n
	}
	return total, true
}

// rollback leaves no REDO behind after a failure, newest first. A stopped
// run (SIGINT, timeout) cannot call vSphere any more: each REDO's own
// cleanup, which runs with a context of its own, commits it.
func (f *frozenDisks) rollback() {
	r, v, sel := f.r, f.v, f.sel
	ctx := r.Context()
	if ctx.Err() != nil {
		return
	}
	for i := len(sel) - 1; i >= 0; i-- {
		for f.depth[sel[i].ID] > 0 {
			f.depth[sel[i].ID]--
			if _, cerr := v.Commit(r, sel[i].ID, 0, true); cerr != nil {
				if ctx.Err() != nil {
					r.Log.Warn("backup stopped while committing its REDO log; the run's cleanup commits it", "vm", v.Name(), "disk", sel[i].ID)
					break
				}
				r.Log.Error("backup failed and committing its REDO log failed too; the run's cleanup retries", "vm", v.Name(), "disk", sel[i].ID, "error", cerr)
				break
			}
		}
	}
}

// trackedChanges says whether changed block tracking is used and returns
// the disks' change ids as of the snapshot (by device key).
func trackedChanges(ctx context.Context, v *vm.VM, snap *types.ManagedObjectReference, o Options) (bool, map[int32]string) {
	cbt := !o.NoCBT && v.MO().Config.ChangeTrackingEnabled != nil && *v.MO().Config.ChangeTrackingEnabled
	changeIDs := map[int32]string{}
	if cbt {
		changeIDs = snapshotChangeIDs(ctx, v, snap)
	}
	return cbt, changeIDs
}

// planIncrementals returns, per disk, the changed areas to store on the
// plan's parent, and records the set as an incremental; only on a base
// every disk can trust, else (nil) the set is a full and says why.
func planIncrementals(r *runtime.Run, v *vm.VM, sel []vm.Disk, sw *setWriter, snap *types.ManagedObjectReference, changeIDs map[int32]string, plan chainPlan) (map[string]*incDisk, error) {
	if plan.parent == nil {
		return map[string]*incDisk{}, nil
	}
	incs := map[string]*incDisk{}
	for _, d0 := range sel {
		d, err := v.Disk(d0.ID)
		if err != nil {
			return nil, err
		}
		pd, why := trustBase(plan.parent, d, changeIDs[d.Key])
		if why == "" {
			areas, whole, qerr := queryAreas(r.Context(), v.Obj.Client(), v.Ref, snap, d.Key, d.Capacity, pd.ChangeID, 0)
			if qerr != nil {
				why = fmt.Sprintf("vSphere rejected the change id %q of disk %s: %v", pd.ChangeID, d.ID, qerr)
			} else {
				incs[d.ID] = &incDisk{areas: areas, parent: pd, whole: whole}
			}
		}
		if why != "" {
			r.Log.Warn("backup: no incremental on a base that cannot be trusted; this set is a full", "vm", v.Name(), "parent", plan.parent.ID, "why", why)
			sw.Update(func(c *catalog.Catalog) { c.FullReason = why })
			return nil, nil
		}
	}
	sw.Update(func(c *catalog.Catalog) {
		c.Mode, c.Parent, c.Depth, c.Version = catalog.ModeIncremental, plan.parent.ID, plan.parent.Depth+1, catalog.VersionChain
	})
	return incs, nil
}

// exportDisks stores every frozen disk in the set (exportDisk) and lists
// it in the catalog with its change id.
func exportDisks(r *runtime.Run, v *vm.VM, sel []vm.Disk, sw *setWriter, snap *types.ManagedObjectReference, cbt bool, changeIDs map[int32]string, incs map[string]*incDisk, compress string, against *catalog.Catalog) error {
	names := map[string]bool{}
	sw.Update(func(c *catalog.Catalog) {
		for _, f := range c.Files {
			names[f.Name] = true
		}
	})
	for _, d0 := range sel {
		d, err := v.Disk(d0.ID)
		if err != nil {
			return err
		}
		// CBT answers only for a disk whose tracking is active (it has a change id)
		cd, err := exportDisk(r, v, d, snap, cbt && d.ChangeID != "", incs[d.ID], sw, compress, names)
		if err != nil {
			return err
		}
		cd.ChangeID, cd.DiskUUID = changeIDs[d.Key], d.UUID
		if against != nil && incs[d.ID] == nil {
			check, why := cbtCheck(r, v, snap, d, cd.ChangeID, cd.ImageSpans, against)
			if check != nil {
				cd.CBTCheck = check
				reportCBTCheck(r, v, d, check)
			} else {
				r.Log.Warn("backup: verify_cbt: changed block tracking of the disk cannot be checked", "vm", v.Name(), "disk", d.ID, "against", against.ID, "why", why)
			}
		}
		if cd.DataBytes >= 0 && cbt {
			sw.Update(func(c *catalog.Catalog) { c.Options.CBT = true })
		}
		if err := sw.AddDisk(cd); err != nil {
			return err
		}
	}
	return nil
}

// onOwnSnapshots reports whether a disk of sel sits on snapshot levels of
// the VM's own.
func onOwnSnapshots(v *vm.VM, sel []vm.Disk) bool {
	for _, d := range sel {
		if ownLevels(v, d) > 0 {
			return true
		}
	}
	return false
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

func dsOfBase(d vm.Disk) string { ds, _ := dsPath(d.BasePath); return ds }
