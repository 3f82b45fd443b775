package vm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/vmlua/vmlua/internal/datastore"
	"github.com/vmlua/vmlua/internal/dsread"
	"github.com/vmlua/vmlua/internal/taskwait"
	"github.com/vmlua/vmlua/internal/vmdk"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// SnapshotPrefix starts the name of every snapshot vmlua creates; with the
// description it lets a later run recognise a REDO a killed run left.
const SnapshotPrefix = "vmlua-redo-"

// redo is one snapshot this run created: a REDO log for every disk that
// claims it.
type redo struct {
	ref     types.ManagedObjectReference
	name    string
	claims  map[string]bool // disk ids
	cleanup *runtime.CleanupItem
	dry     bool // a dry run's: no snapshot exists
	vm      *VM
	keep    bool      // add_redo{keep=true}: outlives the run, no lease
	created time.Time // as its description says
	// removing: this run is committing it; lost: it vanished while the
	// run held it (someone else removed it). Neither is renewed.
	removing, lost bool
}

// vmRedos is a run's REDO bookkeeping for one VM.
type vmRedos struct {
	snaps  []*redo            // oldest first
	stacks map[string][]*redo // disk id -> the REDOs it holds, oldest first
	// dryOrphans are the orphans a dry run's cleanup_orphans would have
	// committed: the dry run's exports see the disks without them.
	dryOrphans map[string]bool
}

// cycle is the run's REDO state, by VM moref.
type cycle struct {
	mu    sync.Mutex
	runID string
	host  string // this machine's name, as the REDO logs' descriptions say it
	seq   int
	vms   map[string]*vmRedos
	// the lease renewal (lease.go), started with the run's first REDO log
	stopLeases context.CancelFunc
	leasesDone chan struct{}
	closed     bool
}

func cycleOf(r *runtime.Run) *cycle {
	return cycleKey.Init(r, func() *cycle {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		cy := &cycle{runID: hex.EncodeToString(b), host: hostname, vms: map[string]*vmRedos{}}
		liveRuns.Store(cy.runID, true)
		return cy
	})
}

// cycleKey holds the run's *cycle.
var cycleKey = runtime.NewKey[*cycle]("vm.cycle")

func (cy *cycle) forVM(ref string) *vmRedos {
	x := cy.vms[ref]
	if x == nil {
		x = &vmRedos{stacks: map[string][]*redo{}}
		cy.vms[ref] = x
	}
	return x
}

// RedoOptions are add_redo's options.
type RedoOptions struct {
	Quiesce, Memory, Keep bool
}

// AddRedo freezes a disk: a VM-level snapshot, reused when another disk of
// the same VM already took one this run that this disk has not claimed yet.
func (v *VM) AddRedo(r *runtime.Run, diskID string, o RedoOptions) (string, error) {
	ctx := r.Context()
	if err := v.Refresh(ctx); err != nil {
		return "", err
	}
	d, err := v.Disk(diskID)
	if err != nil {
		return "", err
	}
	if d.Independent {
		return "", &runtime.Error{Code: runtime.CodeInvalidState, Message: fmt.Sprintf("disk %s is %s: snapshots do not affect independent disks, so it cannot be frozen; back it up with the VM powered off, or change its mode to persistent", d.ID, d.Mode), VM: v.Name(), Disk: d.ID}
	}
	if d.RDM == "physical" {
		return "", &runtime.Error{Code: runtime.CodeInvalidState, Message: fmt.Sprintf("disk %s is a physical-mode RDM: vSphere cannot snapshot it, so it cannot be frozen; back up the LUN with the storage array's tools", d.ID), VM: v.Name(), Disk: d.ID}
	}
	cy := cycleOf(r)
	cy.mu.Lock()
	x := cy.forVM(v.Ref.Value)
	depth := len(x.stacks[d.ID])
	if depth < len(x.snaps) {
		s := x.snaps[depth]
		s.claims[d.ID] = true
		x.stacks[d.ID] = append(x.stacks[d.ID], s)
		cy.mu.Unlock()
		r.Log.Info("add_redo: reusing the VM-level snapshot this run already took", "vm", v.Name(), "disk", d.ID, "snapshot", s.name)
		return s.name, nil
	}
	cy.seq++
	name := fmt.Sprintf("%s%s-%d", SnapshotPrefix, cy.runID, cy.seq)
	cy.mu.Unlock()

	if r.DryRunAction("add a REDO log (snapshot)", "vm", v.Name(), "disk", d.ID, "snapshot", name) {
		// remembered as if it existed, so that the dry run's export and
		// commit of this disk behave as the real run's would
		s := &redo{name: name, claims: map[string]bool{d.ID: true}, dry: true}
		cy.mu.Lock()
		x.snaps = append(x.snaps, s)
		x.stacks[d.ID] = append(x.stacks[d.ID], s)
		cy.mu.Unlock()
		return name, nil
	}
	created := time.Now().UTC().Truncate(time.Second)
	now, _ := v.c.serverNow(ctx)
	task, err := v.Obj.CreateSnapshot(ctx, name, cy.description(o.Keep, created, now.Add(LeaseLength)), o.Memory, o.Quiesce)
	if err != nil {
		return "", vsphereErr(err, v.Name(), "add a REDO log (create snapshot "+name+")")
	}
	// Until the task is known to have finished, a cancelled run must still
	// remove whatever snapshot the task ends up creating.
	pending := r.Cleanup.Push(fmt.Sprintf("remove snapshot %s on VM %s (its creation was interrupted)", name, v.Name()), func(ctx context.Context) error {
		info, err := taskwait.Wait(ctx, task)
		if err != nil {
			return nil // the snapshot was not created
		}
		if ref, ok := info.Result.(types.ManagedObjectReference); ok {
			return removeSnapshot(ctx, v, ref, name)
		}
		return nil
	})
	info, err := v.waitTask(r, task, "add a REDO log on "+d.ID)
	if err != nil {
		if r.Context().Err() == nil {
			// the task itself failed; a snapshot it made anyway goes now,
			// on a context of its own (a stop meanwhile must not leave it)
			pending.Release()
			cctx, cancel := r.CleanupContext()
			v.removeLeftover(cctx, r, name)
			cancel()
		}
		return "", err
	}
	pending.Release()
	ref, ok := info.Result.(types.ManagedObjectReference)
	if !ok {
		return "", &runtime.Error{Code: runtime.CodeVSphere, Message: "CreateSnapshot returned no snapshot", VM: v.Name(), Disk: d.ID}
	}
	s := &redo{ref: ref, name: name, claims: map[string]bool{d.ID: true}, vm: v, keep: o.Keep, created: created}
	if !o.Keep {
		vmName := v.Name()
		s.cleanup = r.Cleanup.Push(fmt.Sprintf("commit REDO %s on VM %s", name, vmName), func(ctx context.Context) error {
			cy.mu.Lock()
			var disks []string
			for id := range s.claims {
				disks = append(disks, id)
			}
			s.removing = true
			cy.mu.Unlock()
			r.Log.Warn("the script ended with a REDO log still open; committing it", "vm", vmName, "disks", strings.Join(disks, ","), "snapshot", name)
			return removeSnapshot(ctx, v, ref, name)
		})
	}
	cy.mu.Lock()
	x.snaps = append(x.snaps, s)
	x.stacks[d.ID] = append(x.stacks[d.ID], s)
	cy.mu.Unlock()
	if !o.Keep {
		cy.startLeases(r)
	}
	r.Log.Info("add_redo: disk frozen", "vm", v.Name(), "disk", d.ID, "snapshot", name)
	_ = v.Refresh(ctx)
	return name, nil
}

// Commit merges one of the disk's REDO logs, as vmware-cmd commit did:
// level 1 the older of the last two (the VM keeps running on the newer),
// level 0 the last. A snapshot still holding another disk's REDO stays
// until that disk commits it too. wait=false returns the running task.
func (v *VM) Commit(r *runtime.Run, diskID string, level int, wait bool) (*CommitTask, error) {
	d, err := v.Disk(diskID)
	if err != nil {
		return nil, err
	}
	cy := cycleOf(r)
	cy.mu.Lock()
	x := cy.forVM(v.Ref.Value)
	st := x.stacks[d.ID]
	var target *redo
	switch level {
	case 0:
		if len(st) == 0 {
			cy.mu.Unlock()
			return nil, &runtime.Error{Code: runtime.CodeInvalidState, Message: fmt.Sprintf("disk %s has no REDO log added by this run: nothing to commit (vmlua never removes a snapshot it did not create)", d.ID), VM: v.Name(), Disk: d.ID}
		}
		target = st[len(st)-1]
		x.stacks[d.ID] = st[:len(st)-1]
	case 1:
		if len(st) < 2 {
			cy.mu.Unlock()
			return nil, &runtime.Error{Code: runtime.CodeInvalidState, Message: fmt.Sprintf("commit level 1 merges the older of two REDO logs, and disk %s has %d from this run: call add_redo again first, or commit level 0", d.ID, len(st)), VM: v.Name(), Disk: d.ID}
		}
		target = st[len(st)-2]
		x.stacks[d.ID] = append(append([]*redo{}, st[:len(st)-2]...), st[len(st)-1])
	}
	delete(target.claims, d.ID)
	if len(target.claims) > 0 {
		var others []string
		for id := range target.claims {
			others = append(others, id)
		}
		cy.mu.Unlock()
		r.Log.Info("commit: the snapshot stays while other disks hold REDO logs in it", "vm", v.Name(), "disk", d.ID, "snapshot", target.name, "held_by", strings.Join(others, ","))
		return nil, nil
	}
	for i, s := range x.snaps {
		if s == target {
			x.snaps = append(x.snaps[:i:i], x.snaps[i+1:]...)
			break
		}
	}
	target.removing = true
	cy.mu.Unlock()
	if r.DryRunAction("commit a REDO log (remove snapshot)", "vm", v.Name(), "disk", d.ID, "snapshot", target.name) {
		target.cleanup.Release()
		return nil, nil
	}
	consolidate := true
	res, err := methods.RemoveSnapshot_Task(r.Context(), v.c.Client, &types.RemoveSnapshot_Task{This: target.ref, RemoveChildren: false, Consolidate: &consolidate})
	if err != nil {
		err = vsphereErr(err, v.Name(), "commit the REDO log "+target.name)
		if !wait {
			return nil, err
		}
		if err := v.recoverCommit(r, target, err); err != nil {
			return nil, err
		}
		target.cleanup.Release()
		r.Log.Info("commit: REDO log merged", "vm", v.Name(), "disk", d.ID, "redo_level", level, "snapshot", target.name)
		_ = v.Refresh(r.Context())
		return nil, nil
	}
	task := object.NewTask(v.c.Client, res.Returnval)
	if !wait {
		// The script may end before the merge does: the cleanup then waits.
		target.cleanup.Release()
		c := r.Cleanup.Push(fmt.Sprintf("wait for the commit of %s on VM %s", target.name, v.Name()), func(ctx context.Context) error {
			if _, err := taskwait.Wait(ctx, task); err != nil {
				// the merge failed: the REDO is still there, and goes now
				return removeSnapshot(ctx, v, target.ref, target.name)
			}
			return nil
		})
		return &CommitTask{Task: task, cleanup: c}, nil
	}
	if _, err := v.waitTask(r, task, "commit the REDO log of "+d.ID); err != nil {
		if err := v.recoverCommit(r, target, err); err != nil {
			return nil, err
		}
	}
	target.cleanup.Release()
	r.Log.Info("commit: REDO log merged", "vm", v.Name(), "disk", d.ID, "redo_level", level, "snapshot", target.name)
	_ = v.Refresh(r.Context())
	return nil, nil
}

// CommitTask is a commit started without waiting, and the cleanup that
// waits for it when the script does not.
type CommitTask struct {
	Task    *object.Task
	cleanup *runtime.CleanupItem
}

// Waited says the script waited for the task itself and saw it end with
// err: after a success the cleanup has nothing left to do (nor to warn
// about); after a failure the REDO is still on the VM, and the cleanup
// stays registered to commit it when the run ends.
func (c *CommitTask) Waited(err error) {
	if err == nil {
		c.cleanup.Release()
	}
}

// removeSnapshot (retrying, consolidating) is in remove.go.

// waitTask waits for a task while watching the VM for a pending question
// (answerBlocking): one the run's policy answers is answered; otherwise
// the wait fails with a question error instead of hanging.
func (v *VM) waitTask(r *runtime.Run, task *object.Task, doing string) (*types.TaskInfo, error) {
	return v.waitTaskOn(r.Context(), r, task, doing)
}

// waitTaskOn is waitTask on ctx: a cleanup's own context, not the run's.
func (v *VM) waitTaskOn(ctx context.Context, r *runtime.Run, task *object.Task, doing string) (*types.TaskInfo, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		info *types.TaskInfo
		err  error
	}
	done := make(chan result, 1)
	go func() {
		info, err := taskwait.Wait(ctx, task)
		done <- result{info, err}
	}()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var seen blocked
	for {
		select {
		case res := <-done:
			if res.err != nil {
				return res.info, vsphereErr(res.err, v.Name(), doing)
			}
			return res.info, nil
		case <-tick.C:
			if err := v.answerBlocking(ctx, r, &seen, doing); err != nil {
				return nil, err
			}
		}
	}
}

// ExportResult is what v:export returns.
type ExportResult struct {
	Path, Descriptor string
	Bytes            int64
	SHA256           string // with ExportOptions.SHA256 (and from a vmfs:// copy)
	SpansRoot        string // the span digest's root (internal/spansum)
	// DryRun is set when nothing was written: Bytes is what the export
	// would write, SHA256 and SpansRoot are empty.
	DryRun bool
}

// descriptorTimeout bounds the descriptor write after the image is in
// place, which runs even when the run's context has ended.
const descriptorTimeout = 30 * time.Second

// ExportOptions are v:export's options.
type ExportOptions struct {
	Name     string // base name; default the frozen disk's own
	Progress bool
	// SHA256 also computes the whole image's sha256 (one core hashes every
	// byte, which caps the export at that core's speed); the span digest
	// is always computed, on every core.
	SHA256 bool
}

// DryRunDisk returns the disk as a real run would see it at this point of
// a dry run: without the orphaned REDO logs the dry run's cleanup_orphans
// would have committed, and with a delta for every REDO log the dry run
// added.
func (v *VM) DryRunDisk(r *runtime.Run, d Disk) Disk {
	cy := cycleOf(r)
	cy.mu.Lock()
	x := cy.forVM(v.Ref.Value)
	orphans, added := len(x.dryOrphans), 0
	for _, s := range x.stacks[d.ID] {
		if s.dry {
			added++
		}
	}
	cy.mu.Unlock()
	chain := append([]string{}, d.Chain...)
	if n := min(orphans, len(chain)-1); n > 0 {
		chain = append(chain[:1], chain[1+n:]...)
	}
	for i := 1; i <= added; i++ {
		chain = append(chain, fmt.Sprintf("%s (dry run: the delta of REDO log %d)", strings.TrimSuffix(d.Path, ".vmdk"), i))
	}
	d.Chain = chain
	return d
}

// FrozenPath returns the datastore path of the disk's frozen, exportable
// part, or an error saying why there is none.
func (v *VM) FrozenPath(d Disk) (string, error) { return v.frozenPath(d, v.Power() == "on") }

// FrozenPathOff is FrozenPath as it will be once the VM is powered off (a
// dry run of v:backup{power_off=true}, which does not shut the guest down).
func (v *VM) FrozenPathOff(d Disk) (string, error) { return v.frozenPath(d, false) }

func (v *VM) frozenPath(d Disk, running bool) (string, error) {
	switch {
	case d.RDM != "":
		return "", &runtime.Error{Code: runtime.CodeInvalidState, VM: v.Name(), Disk: d.ID, Message: fmt.Sprintf(
			"disk %s is a %s-mode RDM: its data is on the mapped LUN, not in a flat file vmlua can export; back the LUN up with the storage array's tools", d.ID, d.RDM)}
	case d.KeyID != "":
		return "", &runtime.Error{Code: runtime.CodeInvalidState, VM: v.Name(), Disk: d.ID, Message: fmt.Sprintf(
			"disk %s is encrypted (key %q): its files hold ciphertext, which an export would copy as it is; only a reader going through the host (VDDK's NBDSSL or HotAdd) decrypts it", d.ID, d.KeyID)}
	case len(d.Chain) >= 2 && !running && !v.holdsRedo(d):
		// no REDO of this run froze the base: the disk's current state is
		// the whole chain (the base and the VM's own deltas above it), and
		// the base alone is the oldest snapshot's state, not the VM's
		return "", &runtime.Error{Code: runtime.CodeInvalidState, VM: v.Name(), Disk: d.ID, Message: fmt.Sprintf(
			"disk %s of the powered-off VM sits on %d snapshot level(s) of the VM's own: its current state is the whole chain, which vmlua cannot read as one image yet, and the base alone holds the oldest snapshot's state, not the VM's. Delete (consolidate) the VM's snapshots first (ghettoVCB refuses such VMs too)", d.ID, len(d.Chain)-1)}
	case len(d.Chain) >= 2:
		if len(d.Chain) > 2 {
			return "", &runtime.Error{Code: runtime.CodeInvalidState, VM: v.Name(), Disk: d.ID, Message: fmt.Sprintf(
				"disk %s sits on %d snapshot levels: its frozen part is itself a snapshot delta, which vmlua cannot export as a flat image. Commit the VM's older snapshots first (ghettoVCB refuses such VMs too)", d.ID, len(d.Chain)-1)}
		}
		return d.Chain[0], nil
	case running:
		return "", &runtime.Error{Code: runtime.CodeInvalidState, VM: v.Name(), Disk: d.ID, Message: fmt.Sprintf(
			"disk %s is not frozen and the VM is running: its content changes while it is read. Call add_redo(%q) first", d.ID, d.ID)}
	}
	return d.Chain[0], nil
}

// RunRedoDepth is the number of this run's REDO logs on the disk (real
// or a dry run's): the levels of its chain that are vmlua's own.
func (v *VM) RunRedoDepth(d Disk) int {
	if v.c == nil || v.c.run == nil {
		return 0
	}
	cy := cycleOf(v.c.run)
	cy.mu.Lock()
	defer cy.mu.Unlock()
	return len(cy.forVM(v.Ref.Value).stacks[d.ID])
}

// holdsRedo reports whether this run holds a REDO log (a real or a dry
// run's) on the disk: its base is then frozen by the run itself.
func (v *VM) holdsRedo(d Disk) bool {
	if v.c == nil || v.c.run == nil {
		return false
	}
	cy := cycleOf(v.c.run)
	cy.mu.Lock()
	defer cy.mu.Unlock()
	return len(cy.forVM(v.Ref.Value).stacks[d.ID]) > 0
}

// Export streams the frozen disk into dest as a flat image plus a
// descriptor naming it, atomically, and returns what was written.
func (v *VM) Export(r *runtime.Run, diskID string, dest transports.Transport, o ExportOptions) (ExportResult, error) {
	ctx := r.Context()
	if err := v.Refresh(ctx); err != nil {
		return ExportResult{}, err
	}
	d, err := v.Disk(diskID)
	if err != nil {
		return ExportResult{}, err
	}
	if r.DryRun {
		d = v.DryRunDisk(r, d)
	}
	f, err := v.Frozen(ctx, d)
	if err != nil {
		return ExportResult{}, err
	}
	src, total := f.Path, f.Size
	flatName, descName := exportNames(f, o.Name)
	// a vmfs:// folder of this vSphere: copy on the server (vmfscopy.go)
	if res, handled, err := v.exportOnServer(r, d, f, dest, o); handled {
		return res, err
	}
	if r.DryRun || transports.IsDryRun(dest) {
		r.DryRunAction("export the frozen disk", "vm", v.Name(), "disk", d.ID, "from", src, "to", dest.URL()+"/"+flatName, "bytes", total)
		return ExportResult{Path: flatName, Descriptor: descName, Bytes: total, DryRun: true}, nil
	}
	tr := r.Progress.Start(v.Name()+" "+d.ID, total)
	var notFrozen error // the disk did not stay frozen while it was read
	res, err := exportFlat(ctx, f, total, dest, flatName, tr, o.SHA256, func(ctx context.Context) error {
		notFrozen = f.Check(ctx)
		return notFrozen
	})
	tr.Done(err)
	if notFrozen != nil {
		return ExportResult{}, notFrozen
	}
	if err != nil {
		return ExportResult{}, &runtime.Error{Code: runtime.CodeTransport, VM: v.Name(), Disk: d.ID, Path: flatName, Message: fmt.Sprintf("export of %s failed; nothing was left under its final name: %v", src, err), Err: err}
	}
	// The image is in place; an export is the image and its descriptor, so
	// the descriptor is written even when the run is cancelled or times
	// out meanwhile (bounded), and when it cannot be, the image goes too:
	// never a flat file without the descriptor that makes it a disk.
	newDesc := vmdk.FlatDescriptor(f.Descriptor, total/512, flatName)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), descriptorTimeout)
	defer cancel()
	if _, err := transports.Upload(dctx, dest, descName, strings.NewReader(newDesc), transports.UploadOptions{}); err != nil {
		msg := fmt.Sprintf("write the descriptor: %v; the image %s was removed", err, flatName)
		if rerr := dest.Remove(dctx, flatName); rerr != nil {
			msg = fmt.Sprintf("write the descriptor: %v; removing the image %s failed too, remove it by hand: %v", err, flatName, rerr)
		}
		return ExportResult{}, &runtime.Error{Code: runtime.CodeTransport, VM: v.Name(), Disk: d.ID, Path: descName, Message: msg, Err: err}
	}
	r.Log.Info("export: disk image written", "vm", v.Name(), "disk", d.ID, "from", src, "to", flatName, "bytes", res.Bytes, "spans_root", res.Spans.Root)
	return ExportResult{Path: flatName, Descriptor: descName, Bytes: res.Bytes, SHA256: res.SHA256, SpansRoot: res.Spans.Root}, nil
}

// datastore returns the named datastore of the VM, with its inventory
// path (needed for /folder URLs).
func (v *VM) datastore(ctx context.Context, name string) (*object.Datastore, error) {
	ds, err := v.dss.Get(ctx, v.MO().Datastore, name)
	if errors.Is(err, datastore.ErrNotFound) {
		return nil, &runtime.Error{Code: runtime.CodeNotFound, VM: v.Name(), Message: fmt.Sprintf("datastore %q is not one of the VM's datastores", name)}
	}
	if err != nil {
		return nil, vsphereErr(err, v.Name(), "find datastore "+name)
	}
	return ds, nil
}

// exportFlat uploads the frozen disk's extents (read from the VM's host) one
// after the other as flatName on dest, atomically (as transports.Upload
// does), read with several range GETs in flight (internal/dsread). Each
// span goes straight from its GET's buffer to the AtomicWriter, which
// hashes every write on another goroutine while the target takes it; the
// next spans are fetched meanwhile. Every GET has ended when it returns.
// check runs once every byte is read, before the upload lands under its
// final name: its error (the disk did not stay frozen) leaves nothing.
func exportFlat(ctx context.Context, f *FrozenDisk, total int64, dest transports.Transport, flatName string, tr transports.Progress, whole bool, check func(context.Context) error) (transports.UploadResult, error) {
	extents := f.Extents
	c, err := f.Reader(ctx)
	if err != nil {
		return transports.UploadResult{}, err
	}
	defer c.Close()
	aw, err := transports.CreateAtomic(ctx, dest, flatName, transports.UploadOptions{ExpectedSize: total, Progress: tr, Spans: true, WholeSHA256: whole})
	if err != nil {
		return transports.UploadResult{}, err
	}
	defer aw.Abort()
	// each span's buffer goes to the target and to the span hasher, which
	// gives it back once hashed: consecutive spans are hashed on every core
	var werr error // the target's, which already names the upload
	err = c.CopyOwned(ctx, ownedFunc(func(p []byte, release func()) error {
		err := aw.WriteOwned(p, release)
		if err != nil {
			werr = err
		}
		return err
	}), dsread.Spans(extents, []dsread.Area{{Off: 0, End: total}}, exportSpan))
	if err != nil {
		// a read that failed because the disk is no longer frozen (its
		// base, now the running VM's disk, is locked) says so
		if werr == nil && ctx.Err() == nil {
			if cerr := check(ctx); cerr != nil {
				return transports.UploadResult{}, cerr
			}
		}
		if werr == nil {
			err = fmt.Errorf("upload %s: reading the source after %d bytes: %w", flatName, aw.Written(), err)
		}
		return transports.UploadResult{}, err
	}
	if err := check(ctx); err != nil {
		return transports.UploadResult{}, err
	}
	return aw.Commit()
}

type ownedFunc func(p []byte, release func()) error

func (f ownedFunc) WriteOwned(p []byte, release func()) error { return f(p, release) }

// exportSpan is the size of the range GETs of an export: six buffers of
// it (dsread.ReadSpansOwned: GETs in flight, spans being written or hashed)
// are most of the export's memory. Figure 9 of docs/performance.md wants a peak RSS under 64 MiB:
// `vmlua run` exporting 256 MiB peaked at 45 MiB with 2 MiB spans, 74 MiB
// with backup's 8 MiB (35 MiB with the serial download before).
const exportSpan = 2 << 20
