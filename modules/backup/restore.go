package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/vmlua/vmlua/internal/dsread"
	"github.com/vmlua/vmlua/internal/taskwait"
	"github.com/vmlua/vmlua/internal/vfault"
	"github.com/vmlua/vmlua/internal/vmdk"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	lua "github.com/yuin/gopher-lua"
)

// Conflict policies (vcbRestore's -l, without the prompt).
const (
	ConflictAbort     = "abort"
	ConflictKeep      = "keep"
	ConflictOverwrite = "overwrite"
)

// RestoreOptions are backup.restore's options. Empty fields mean "as in
// the catalog" (the original location).
type RestoreOptions struct {
	Set        string           // set id
	Catalog    *catalog.Catalog // alternate catalog (vcbRestore -a); nil: the set's own
	Datastore  string           // every file goes to this datastore
	Folder     string           // inventory path of the VM folder
	Pool       string           // inventory path of the resource pool
	Host       string           // inventory path or name of the host
	Name       string           // the restored VM's name
	OnConflict string           // abort (default), keep, overwrite
	PowerOn    bool
	Force      bool // restore an incomplete set from its progress catalog
	// KeepFailed keeps the files of a restore that failed after they were
	// in place (registering or powering on failed): the VM is unregistered
	// all the same, the folder stays for a person to look at. Without it
	// a failed restore leaves nothing (see undo).
	KeepFailed bool
	// Spell renders an option as the caller gives it, for the hints of
	// errors: nil spells it as Lua does (on_conflict="overwrite"); the
	// vmlua restore command spells its flags (--on-conflict overwrite).
	// value "" asks for the option alone (name=, --name).
	Spell func(option, value string) string
}

// spell renders an option for a hint (RestoreOptions.Spell).
func (o *RestoreOptions) spell(option, value string) string {
	if o.Spell != nil {
		return o.Spell(option, value)
	}
	if value == "" {
		return option + "="
	}
	return fmt.Sprintf("%s=%q", option, value)
}

// Restore uploads a set's files to a datastore, decompressing on the fly,
// rewrites the paths in the .vmx, registers the VM and returns it with the
// catalog it followed (nil when none could be read): a partial set's
// Skipped are the disks the restored VM lacks.
//
// The steps: the catalog and the options (restoreCatalog, checkRestore:
// sets.Restorable, the checks verify makes too), where the VM goes
// (place), what is there already (findExisting, which may keep it),
// whether the datastore can hold it (checkSpace), the files in a staging
// folder (stage, uploadSet), the staging folder in place of what was
// there (replace), and the VM registered (register) on a host that can
// run it (chooseHost, before checkSpace). Nothing is written on the datastore
// before checkSpace passed, and a restore that fails once its files are in
// place undoes itself (undo): the VM it registered is unregistered and its
// folder removed (kept with KeepFailed), so that a re-run starts clean.
func Restore(r *runtime.Run, t transports.Transport, o RestoreOptions) (*vm.VM, *catalog.Catalog, error) {
	cat, err := restoreCatalog(r, t, o)
	if err != nil {
		return nil, nil, err
	}
	j := &restoreJob{r: r, t: t, o: o, cat: cat}
	if err := j.checkRestore(); err != nil {
		return nil, cat, err
	}
	if err := j.place(); err != nil {
		return nil, cat, err
	}
	keep, err := j.findExisting()
	if err != nil {
		return nil, cat, err
	}
	if keep {
		return j.old, cat, nil
	}
	if err := j.chooseHost(); err != nil {
		return nil, cat, err
	}
	if err := j.checkSpace(); err != nil {
		return nil, cat, err
	}
	if r.DryRunAction("restore a VM", "set", cat.ID, "name", j.name, "datastore", j.dsName, "overwrite", j.old != nil || j.dirExists) {
		return nil, cat, nil
	}
	if err := j.stage(); err != nil {
		return nil, cat, err
	}
	defer j.dropStaging()
	vmxName, err := uploadSet(r, t, j.ds, j.staging, cat, j.name)
	if err != nil {
		return nil, cat, err
	}
	// the new files are complete: only now touch what was there
	if err := j.replace(); err != nil {
		return nil, cat, err
	}
	nv, err := j.register(vmxName)
	if err != nil {
		return nil, cat, j.undo(err)
	}
	return nv, cat, nil
}

// restoreJob is one restore as its steps share it.
type restoreJob struct {
	r   *runtime.Run
	t   transports.Transport
	o   RestoreOptions
	cat *catalog.Catalog

	name   string // the restored VM's name
	conn   *vm.Conn
	dsName string
	ds     *object.Datastore
	fm     *object.FileManager
	dc     *object.Datacenter
	folder *object.Folder
	pool   *object.ResourcePool
	finder *find.Finder       // in the datacenter
	host   *object.HostSystem // where the VM is registered (chooseHost)

	old       *vm.VM // the registered VM of this name, if any
	finalDir  string // the VM's folder on the datastore
	finalDS   string // the same as a datastore path
	dirExists bool   // finalDir exists

	staging   string // the staging folder, relative to the datastore
	stagingDS string // the same as a datastore path
	moved     bool   // the staging folder is in place
	// registered is the VM register made, once it exists (undo
	// unregisters it).
	registered *types.ManagedObjectReference
}

func (j *restoreJob) fail(code string, err error, format string, args ...any) error {
	return &runtime.Error{Code: code, VM: j.name, Path: j.o.Set, Message: fmt.Sprintf(format, args...), Err: err}
}

// checkRestore checks the options against the catalog and warns about the
// disks a partial set lacks.
func (j *restoreJob) checkRestore() error {
	o, cat := &j.o, j.cat
	if o.OnConflict == "" {
		o.OnConflict = ConflictAbort
	}
	switch o.OnConflict {
	case ConflictAbort, ConflictKeep, ConflictOverwrite:
	default:
		return runtime.Errorf(runtime.CodeInvalidArg, "on_conflict=%q: use \"abort\", \"keep\" or \"overwrite\"", o.OnConflict)
	}
	j.name = o.Name
	if j.name == "" {
		j.name = cat.VM.Name
	}
	if err := sets.Restorable(cat, o.Name); err != nil {
		return err
	}
	// an encrypted set (or chain) opens with the run's identity, and its
	// catalog authenticates, before anything is written
	if err := sets.CheckKeys(j.r.Context(), j.t, cat); err != nil {
		return err
	}
	if len(cat.Skipped) > 0 {
		var ids []string
		for _, sk := range cat.Skipped {
			ids = append(ids, fmt.Sprintf("%s (%s)", sk.ID, sk.Path))
		}
		j.r.Log.Warn("restore: the set does not hold every disk of the VM; the restored VM has these removed (present=FALSE in its .vmx): restore or re-attach them separately",
			"vm", j.name, "set", cat.ID, "status", cat.StatusOf(), "missing_disks", strings.Join(ids, ", "))
	}
	return nil
}

// place connects and finds where the VM goes: the datastore, datacenter,
// folder, resource pool and host, as given or as in the catalog.
func (j *restoreJob) place() error {
	r, o, cat := j.r, j.o, j.cat
	ctx := r.Context()
	conn, err := vm.RunConn(r)
	if err != nil {
		return err
	}
	j.conn = conn
	c := conn.Client
	j.dsName = o.Datastore
	if j.dsName == "" {
		j.dsName, _ = dsPath(cat.VM.VMX)
	}
	if j.ds, err = datastoreOf(ctx, c, nil, j.dsName); err != nil {
		return j.fail(runtime.CodeNotFound, err, "the target datastore: %s", vfault.Text(err))
	}
	// a restore writes its files over /folder, which cannot write the
	// disks of an object store: refused before anything is uploaded
	var dsm mo.Datastore
	if err := j.ds.Properties(ctx, j.ds.Reference(), []string{"summary.type"}, &dsm); err == nil {
		if kind := objectStoreKind(dsm.Summary.Type); kind != "" {
			why := ""
			if o.Datastore == "" {
				why = " (the VM's own datastore, where a restore goes unless datastore= says otherwise)"
			}
			return j.fail(runtime.CodeInvalidArg, nil, "cannot restore onto datastore %s%s: it is a %s datastore, whose disks are objects that the datastore file service (/folder) vmlua restores through cannot write; restore onto a VMFS or NFS datastore (datastore=\"...\") and move the VM onto %s with Storage vMotion", j.dsName, why, kind, j.dsName)
		}
	}
	j.fm = object.NewFileManager(c)
	finder := find.NewFinder(c)
	if j.dc, err = datacenterFor(ctx, finder, o.Folder, cat.VM.Folder); err != nil {
		return j.fail(runtime.CodeNotFound, err, "cannot find the datacenter to restore into: %v", err)
	}
	finder.SetDatacenter(j.dc)
	j.folder, err = pick(ctx, r, "folder", o.Folder, cat.VM.Folder, finder.Folder, func(ctx context.Context) (*object.Folder, error) {
		fs, err := j.dc.Folders(ctx)
		if err != nil {
			return nil, err
		}
		return fs.VmFolder, nil
	})
	if err != nil {
		return j.fail(runtime.CodeNotFound, err, "%v", err)
	}
	if j.pool, err = pick(ctx, r, "resource pool", o.Pool, cat.VM.ResourcePool, finder.ResourcePool, finder.DefaultResourcePool); err != nil {
		return j.fail(runtime.CodeNotFound, err, "%v", err)
	}
	j.finder = finder
	return nil
}

// objectStoreKind names a datastore type (summary.type) whose disks are
// objects without flat files ("" for any other).
func objectStoreKind(summaryType string) string {
	switch strings.ToLower(summaryType) {
	case "vsan":
		return "vSAN"
	case "vvol":
		return "vVols"
	}
	return ""
}

// hostState is what decides whether a host can run the restored VM.
type hostState struct {
	ref  types.ManagedObjectReference
	name string
	why  string // why it cannot; "" when it can
}

// chooseHost picks the host the VM is registered on, before anything is
// written: the one given (host=), refused by name and reason when it
// cannot run a VM; else, among the hosts of the resource pool's cluster
// or host that see the datastore, the original one when it can, or the
// first (by name) that can. A host can when it is connected, not in
// maintenance mode and not in standby: registered on another, the VM
// would not power on (InvalidState), and stay registered.
func (j *restoreJob) chooseHost() error {
	ctx := j.r.Context()
	if j.o.Host != "" {
		h, err := j.finder.HostSystem(ctx, j.o.Host)
		if err != nil {
			return j.fail(runtime.CodeNotFound, err, "host %q: %s", j.o.Host, vfault.Text(err))
		}
		st, err := j.hostStates(ctx, []types.ManagedObjectReference{h.Reference()})
		if err != nil {
			return err
		}
		if st[0].why != "" {
			return j.fail(runtime.CodeConflict, nil, "host %s %s: it cannot run the restored VM; give %s another host (or none, to let vmlua choose one)%s (nothing was written)",
				st[0].name, st[0].why, j.o.spell("host", ""), hostRemedy(st[0]))
		}
		j.host = h
		return nil
	}
	owner, err := j.pool.Owner(ctx)
	if err != nil {
		return j.fail(runtime.CodeVSphere, err, "cannot read the owner of the resource pool: %s", vfault.Text(err))
	}
	var cr mo.ComputeResource
	if err := j.pool.Properties(ctx, owner.Reference(), []string{"host"}, &cr); err != nil {
		return j.fail(runtime.CodeVSphere, err, "cannot read the hosts of the resource pool: %s", vfault.Text(err))
	}
	st, err := j.hostStates(ctx, cr.Host)
	if err != nil {
		return err
	}
	var fit *hostState
	var unfit []string
	for i := range st {
		switch h := &st[i]; {
		case h.why != "":
			unfit = append(unfit, h.name+" "+h.why)
		case fit == nil || h.name == j.cat.VM.Host:
			fit = h
		}
	}
	if fit == nil {
		if len(unfit) == 0 {
			unfit = []string{"it has none"}
		}
		return j.fail(runtime.CodeConflict, nil, "no host of the resource pool can run the restored VM: %s; take one out of maintenance mode (vmlua host maintenance exit HOST) or reconnect it, or give %s and %s elsewhere (nothing was written)",
			strings.Join(unfit, "; "), j.o.spell("pool", ""), j.o.spell("host", ""))
	}
	if len(unfit) > 0 {
		j.r.Log.Info("restore: hosts that cannot run the VM are left out", "vm", j.name, "left_out", strings.Join(unfit, "; "), "host", fit.name)
	}
	j.host = object.NewHostSystem(j.conn.Client, fit.ref)
	j.r.Log.Debug("restore: the VM goes to host "+fit.name, "vm", j.name, "original", j.cat.VM.Host)
	return nil
}

// hostStates reads the hosts' states, in name order; a host that does not
// see the target datastore cannot run the VM either.
func (j *restoreJob) hostStates(ctx context.Context, refs []types.ManagedObjectReference) ([]hostState, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	var hs []mo.HostSystem
	pc := property.DefaultCollector(j.conn.Client)
	if err := pc.Retrieve(ctx, refs, []string{"name", "runtime", "datastore"}, &hs); err != nil {
		return nil, j.fail(runtime.CodeVSphere, err, "cannot read the state of the hosts: %s", vfault.Text(err))
	}
	out := make([]hostState, 0, len(hs))
	for _, h := range hs {
		st := hostState{ref: h.Self, name: h.Name}
		switch {
		case h.Runtime.ConnectionState != "" && h.Runtime.ConnectionState != types.HostSystemConnectionStateConnected:
			st.why = "is " + string(h.Runtime.ConnectionState)
		case h.Runtime.InMaintenanceMode:
			st.why = "is in maintenance mode"
		case h.Runtime.PowerState == types.HostSystemPowerStateStandBy || h.Runtime.PowerState == types.HostSystemPowerStatePoweredOff:
			st.why = "is " + string(h.Runtime.PowerState)
		case !slices.ContainsFunc(h.Datastore, func(r types.ManagedObjectReference) bool { return r == j.ds.Reference() }):
			st.why = "does not see datastore " + j.dsName
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b hostState) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// hostRemedy is what to do about a host that cannot run the VM, for
// the refusal that names it.
func hostRemedy(h hostState) string {
	if h.why == "is in maintenance mode" {
		return ", or take it out of maintenance mode first (vmlua host maintenance exit " + h.name + ")"
	}
	return ""
}

// findExisting finds the VM of this name and its folder, if any, and
// applies on_conflict: keep is true when the existing VM is the result.
func (j *restoreJob) findExisting() (keep bool, err error) {
	ctx := j.r.Context()
	existing, err := j.conn.Find(ctx, vm.Spec{Kind: "name", Value: j.name})
	if err != nil {
		return false, err
	}
	// the VM of exactly this name (sets.Restorable refuses the pattern
	// characters of a name:GLOB look-up; this holds whatever it matches)
	existing = slices.DeleteFunc(existing, func(m mo.VirtualMachine) bool { return m.Name != j.name })
	if len(existing) > 1 {
		return false, j.fail(runtime.CodeAmbiguous, nil, "%d VMs are named %q: give %s another name", len(existing), j.name, j.o.spell("name", ""))
	}
	if len(existing) == 1 {
		ms, _ := vm.ParseSpec("moref:" + existing[0].Self.Value)
		if j.old, err = j.conn.Open(ctx, ms, j.name); err != nil {
			return false, err
		}
	}
	old, name := j.old, j.name
	j.finalDir = sets.DirName(name)
	j.finalDS = fmt.Sprintf("[%s] %s", j.dsName, j.finalDir)
	_, statErr := j.ds.Stat(ctx, j.finalDir)
	j.dirExists = statErr == nil
	switch {
	case old != nil && j.o.OnConflict == ConflictKeep:
		j.r.Log.Info("restore: a VM of this name exists; kept it (on_conflict=keep)", "vm", name, "set", j.cat.ID)
		return true, nil
	case old != nil && j.o.OnConflict == ConflictAbort:
		return false, j.fail(runtime.CodeConflict, nil, "a VM named %q is registered (%s): restore with %s another name, or %s (it must be powered off) or %s", name, old.Ref.Value,
			j.o.spell("name", ""), j.o.spell("on_conflict", ConflictOverwrite), j.o.spell("on_conflict", ConflictKeep))
	case old != nil && old.Power() != "off":
		return false, j.fail(runtime.CodeConflict, nil, "the VM %q that would be overwritten is powered %s: vmlua never overwrites a running VM; power it off first", name, old.Power())
	case old == nil && j.dirExists && j.o.OnConflict != ConflictOverwrite:
		return false, j.fail(runtime.CodeConflict, nil, "the folder %s exists on the datastore but no VM of this name is registered: remove it, give %s another name, or %s", j.finalDS,
			j.o.spell("name", ""), j.o.spell("on_conflict", ConflictOverwrite))
	}
	if old != nil && j.dirExists {
		oldDS, oldRel := dsPath(old.MO().Config.Files.VmPathName)
		if oldDS != j.dsName || path.Dir(oldRel) != j.finalDir {
			return false, j.fail(runtime.CodeConflict, nil, "the folder %s exists and does not belong to the VM being overwritten (%s): remove it or give %s another name", j.finalDS, old.MO().Config.Files.VmPathName, j.o.spell("name", ""))
		}
	}
	return false, nil
}

// checkSpace refuses, before anything is written, a restore the target
// datastore cannot hold: a disk larger than the datastore takes, or more
// bytes than its free space (refreshed first). Restore writes each flat
// image whole (a thick disk: zero areas included, see uploadDisk), so
// what it needs is restoreBytes.
func (j *restoreJob) checkSpace() error {
	ctx := j.r.Context()
	if _, err := methods.RefreshDatastore(ctx, j.ds.Client(), &types.RefreshDatastore{This: j.ds.Reference()}); err != nil {
		j.r.Log.Warn("restore: could not refresh the datastore's free space; checking against the last figure vSphere has", "datastore", j.dsName, "error", err)
	}
	var m mo.Datastore
	if err := j.ds.Properties(ctx, j.ds.Reference(), []string{"summary", "info"}, &m); err != nil {
		return j.fail(runtime.CodeVSphere, err, "cannot read the free space of datastore %s: %s", j.dsName, vfault.Text(err))
	}
	maxFile, what := int64(0), ""
	if m.Info != nil {
		info := m.Info.GetDatastoreInfo()
		maxFile, what = info.MaxFileSize, "largest file"
		if v, ok := m.Info.(*types.VmfsDatastoreInfo); ok && v.MaxVirtualDiskCapacity > 0 && (maxFile <= 0 || v.MaxVirtualDiskCapacity < maxFile) {
			maxFile, what = v.MaxVirtualDiskCapacity, "largest virtual disk"
		}
	}
	for _, d := range j.cat.Disks {
		if maxFile > 0 && d.Capacity > maxFile {
			return j.fail(runtime.CodeConflict, nil, "disk %s is %s (%d bytes), more than the %s datastore %s takes (%s): restore to another datastore= (nothing was written)", d.ID, sets.HumanBytes(d.Capacity), d.Capacity, what, j.dsName, sets.HumanBytes(maxFile))
		}
	}
	need, free := restoreBytes(j.cat), m.Summary.FreeSpace
	if need > free {
		return j.fail(runtime.CodeConflict, nil, "the restore needs %s (%d bytes) on datastore %s, which has %s free: its %d disk(s) are written whole; free space there or restore to another datastore= (nothing was written)", sets.HumanBytes(need), need, j.dsName, sets.HumanBytes(free), len(j.cat.Disks))
	}
	j.r.Log.Debug("restore: the datastore has room", "datastore", j.dsName, "need", need, "free", free)
	return nil
}

// restoreBytes is what a restore of the set writes on the datastore: every
// disk's flat image whole (thick; a thin restore would count less) and the
// small files; math.MaxInt64 when that overflows.
func restoreBytes(cat *catalog.Catalog) int64 {
	var n int64
	add := func(k int64) {
		if k < 0 || n > math.MaxInt64-k {
			n = math.MaxInt64
			return
		}
		n += k
	}
	for _, d := range cat.Disks {
		add(d.Capacity)
	}
	for _, f := range cat.Files {
		switch f.Kind {
		case catalog.KindConfig, catalog.KindNvram, catalog.KindExtConfig, catalog.KindDescriptor:
			add(f.Size)
		}
	}
	return n
}

// stage creates the staging folder the files are uploaded to first.
func (j *restoreJob) stage() error {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	j.staging = fmt.Sprintf("%s%s-%s", sets.StagingPrefix, j.finalDir, hex.EncodeToString(b))
	j.stagingDS = fmt.Sprintf("[%s] %s", j.dsName, j.staging)
	if err := j.fm.MakeDirectory(j.r.Context(), j.stagingDS, j.dc, true); err != nil {
		return j.fail(runtime.CodeVSphere, err, "cannot create the folder %s: %s", j.stagingDS, vfault.Text(err))
	}
	return nil
}

// dropStaging removes the staging folder unless it was moved in place,
// even after cancellation.
func (j *restoreJob) dropStaging() {
	if j.moved {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(j.r.Context()), 2*time.Minute)
	defer cancel()
	if task, err := j.fm.DeleteDatastoreFile(cctx, j.stagingDS, j.dc); err == nil {
		if err := taskwait.Done(cctx, task); err != nil {
			j.r.Log.Error("restore failed and its staging folder could not be removed", "folder", j.stagingDS, "error", vfault.Text(err))
		}
	}
}

// replace unregisters the VM being overwritten, removes its folder and
// moves the staging folder in place.
func (j *restoreJob) replace() error {
	ctx := j.r.Context()
	if j.old != nil {
		j.r.Log.Warn("restore: unregistering the VM being overwritten", "vm", j.name, "moref", j.old.Ref.Value)
		if err := j.old.Obj.Unregister(ctx); err != nil {
			return j.fail(runtime.CodeVSphere, err, "cannot unregister the VM being overwritten: %s", vfault.Text(err))
		}
	}
	if j.dirExists {
		j.r.Log.Warn("restore: removing the overwritten folder", "folder", j.finalDS)
		task, err := j.fm.DeleteDatastoreFile(ctx, j.finalDS, j.dc)
		if err == nil {
			err = taskwait.Done(ctx, task)
		}
		if err != nil {
			return j.fail(runtime.CodeVSphere, err, "cannot remove the overwritten folder %s (the new files are complete in %s): %s", j.finalDS, j.stagingDS, vfault.Text(err))
		}
	}
	task, err := j.fm.MoveDatastoreFile(ctx, j.stagingDS, j.dc, j.finalDS, j.dc, false)
	if err == nil {
		err = taskwait.Done(ctx, task)
	}
	if err != nil {
		return j.fail(runtime.CodeVSphere, err, "cannot move the restored files from %s to %s: %s", j.stagingDS, j.finalDS, vfault.Text(err))
	}
	j.moved = true
	return nil
}

// register registers the restored .vmx, opens the VM and powers it on
// with power_on=true.
func (j *restoreJob) register(vmxName string) (*vm.VM, error) {
	ctx := j.r.Context()
	vmxPath := j.finalDS + "/" + vmxName
	rt, err := j.folder.RegisterVM(ctx, vmxPath, j.name, false, j.pool, j.host)
	if err != nil {
		return nil, j.fail(runtime.CodeVSphere, err, "cannot register %s: %s", vmxPath, vfault.Text(err))
	}
	info, err := taskwait.Wait(ctx, rt)
	if err != nil {
		return nil, j.fail(runtime.CodeVSphere, err, "cannot register %s: %s", vmxPath, vfault.Text(err))
	}
	ref := info.Result.(types.ManagedObjectReference)
	j.registered = &ref
	ms, _ := vm.ParseSpec("moref:" + ref.Value)
	nv, err := j.conn.Open(ctx, ms, j.name)
	if err != nil {
		return nil, err
	}
	j.r.Log.Info("restore: VM registered", "vm", j.name, "vmx", vmxPath, "set", j.cat.ID, "moref", ref.Value)
	copied, why := j.besideOriginal(ref)
	nv.SetOwnAnswers(uuidAlteredAnswer(copied, why))
	if j.o.PowerOn {
		if err := nv.PowerOp(j.r, "on", 5*time.Minute); err != nil {
			return nil, err
		}
	} else {
		answer := "I Moved It (button.uuid.movedTheVM)"
		if copied {
			answer = "I Copied It (button.uuid.copiedTheVM)"
		}
		j.r.Log.Info("restore: the restored VM's first power-on may ask whether it was moved or copied (msg.uuid.altered); the VM restore returns answers it in this run ("+answer+"); elsewhere answer "+answer, "vm", j.name, "why", why)
	}
	return nv, nil
}

// The restored VM's files are not where its .vmx says they were made
// (uuid.location), so ESXi asks at its first power-on whether it was moved
// or copied (msg.uuid.altered). vmlua answers that question when it powers
// the VM on (power_on=true, or v:power_on() on the VM restore returned:
// SetOwnAnswers), as an admin would, rather than writing
// uuid.action into the .vmx so that it is never asked: uuid.action is
// permanent ("Always Keep" / "Always Create", KB 1541), it would decide
// every later move or copy of the VM too, long after the restore; the
// answer decides this restore only. Restored beside the original (the VM
// the set was made of is still registered): I Copied It, so the two do not
// share a BIOS uuid (vSphere and every tool that finds VMs by uuid,
// vmlua's uuid: included, would confuse them). Restored in its place (the
// original is gone or was overwritten): I Moved It, so the VM keeps its
// identity (uuid-based selection, licences bound to it, the guest's
// view). Powered on elsewhere, the log says which answer fits.

// besideOriginal reports whether the VM the set was made of is still
// registered (another VM than the restored one, ref, has its BIOS uuid),
// and why, for the log.
func (j *restoreJob) besideOriginal(ref types.ManagedObjectReference) (bool, string) {
	return besideOriginal(j.r.Context(), j.conn, j.cat.VM.UUID, ref)
}

// besideOriginal reports whether another VM than ref has the BIOS uuid u
// (the VM a set was made of, still registered), and why, for the log.
func besideOriginal(ctx context.Context, conn *vm.Conn, u string, ref types.ManagedObjectReference) (bool, string) {
	if u == "" {
		return false, "the set does not record the original's uuid: taken as restored in its place"
	}
	found, err := conn.Find(ctx, vm.Spec{Kind: "uuid", Value: u})
	if err != nil {
		return false, "the original could not be looked up (" + vfault.Text(err) + "): taken as restored in its place"
	}
	for _, m := range found {
		if m.Self != ref {
			return true, fmt.Sprintf("the original %s (%s) is still registered: the restored VM is a copy and gets a new uuid", m.Name, m.Self.Value)
		}
	}
	return false, "the original is no longer registered: the restored VM takes its place and keeps its uuid " + u
}

// uuidAlteredAnswer answers msg.uuid.altered for a restore (see above).
func uuidAlteredAnswer(copied bool, why string) vm.QuestionPolicy {
	return func(_ context.Context, _ string, q *types.VirtualMachineQuestionInfo) (string, string, bool) {
		if len(q.Message) == 0 || q.Message[0].Id != "msg.uuid.altered" {
			return "", "", false
		}
		want := "button.uuid.movedTheVM"
		if copied {
			want = "button.uuid.copiedTheVM"
		}
		key, _, err := vm.ChoiceKey(q, lua.LString(want))
		if err != nil {
			return "", "", false
		}
		return key, "restore: " + why, true
	}
}

// undo takes back a restore that failed once its files were in place (err
// is why it failed): the VM it registered is unregistered (powered off
// first if it runs), and its folder removed unless KeepFailed, so that
// neither the inventory nor the datastore holds a half-restored VM and a
// re-run does not meet a conflict. It runs even after cancellation.
// The error returned is err, saying what was undone or what is left.
func (j *restoreJob) undo(err error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(j.r.Context()), 2*time.Minute)
	defer cancel()
	var done, left []string
	if j.registered != nil {
		if uerr := j.unregister(cctx, *j.registered); uerr != nil {
			j.r.Log.Error("restore failed and the VM it registered could not be unregistered", "vm", j.name, "moref", j.registered.Value, "error", vfault.Text(uerr))
			left = append(left, fmt.Sprintf("VM %s (%s) is registered: unregister it (%s)", j.name, j.registered.Value, vfault.Text(uerr)))
		} else {
			j.r.Log.Warn("restore failed: unregistered the VM it had registered", "vm", j.name, "moref", j.registered.Value)
			done = append(done, "VM "+j.name+" unregistered")
		}
	}
	switch {
	case j.o.KeepFailed:
		left = append(left, fmt.Sprintf("its files are kept in %s, as %s asked: look at them, register them by hand, or remove the folder before restoring again", j.finalDS, j.o.spell("keep_failed", "")))
	default:
		task, derr := j.fm.DeleteDatastoreFile(cctx, j.finalDS, j.dc)
		if derr == nil {
			derr = taskwait.Done(cctx, task)
		}
		if derr != nil {
			j.r.Log.Error("restore failed and the folder it wrote could not be removed", "folder", j.finalDS, "error", vfault.Text(derr))
			left = append(left, fmt.Sprintf("the folder %s is left: remove it (%s)", j.finalDS, vfault.Text(derr)))
		} else {
			j.r.Log.Warn("restore failed: removed the folder it had written", "folder", j.finalDS)
			done = append(done, "folder "+j.finalDS+" removed")
		}
	}
	if j.old != nil {
		left = append(left, "the VM it was overwriting had been removed before (its files were replaced only once the new ones were complete)")
	}
	e := vm.FaultError(err, j.name, "restore "+j.cat.ID)
	msg := e.Message
	if len(done) > 0 {
		msg += "; undone: " + strings.Join(done, ", ")
	}
	if len(left) > 0 {
		msg += "; " + strings.Join(left, "; ")
	} else {
		msg += " (nothing of this restore is left: restore again once the cause is fixed)"
	}
	return &runtime.Error{Code: e.Code, VM: j.name, Path: e.Path, Disk: e.Disk, Message: msg, Err: err}
}

// unregister unregisters a VM the restore registered, powering it off
// first when it runs (a power-on that failed late may have started it).
func (j *restoreJob) unregister(ctx context.Context, ref types.ManagedObjectReference) error {
	o := object.NewVirtualMachine(j.conn.Client, ref)
	if st, err := o.PowerState(ctx); err == nil && st != types.VirtualMachinePowerStatePoweredOff {
		task, err := o.PowerOff(ctx)
		if err == nil {
			err = taskwait.Done(ctx, task)
		}
		if err != nil {
			return err
		}
	}
	return o.Unregister(ctx)
}

// restoreCatalog loads the catalog a restore follows.
func restoreCatalog(r *runtime.Run, t transports.Transport, o RestoreOptions) (*catalog.Catalog, error) {
	ctx := r.Context()
	own, err := sets.ReadCatalog(ctx, t, o.Set+"/"+catalog.FileName)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		if _, serr := t.Stat(ctx, o.Set); serr != nil {
			return nil, &runtime.Error{Code: runtime.CodeNotFound, Path: o.Set, Message: "there is no set " + o.Set + " on this target (backup.list shows the sets)"}
		}
		if !o.Force {
			return nil, &runtime.Error{Code: runtime.CodeConflict, Path: o.Set, Message: "the set is incomplete (its backup did not finish, it has no catalog.json): it is not restored unless you pass force=true, which restores the files it has"}
		}
		own, err = sets.ReadCatalog(ctx, t, o.Set+"/"+catalog.ProgressName)
		if err != nil && o.Catalog == nil {
			return nil, &runtime.Error{Code: runtime.CodeConflict, Path: o.Set, Message: "the incomplete set has no progress catalog either: give catalog= (an alternate catalog)", Err: err}
		}
		r.Log.Warn("restore: restoring an incomplete set (force=true)", "set", o.Set)
	default:
		return nil, &runtime.Error{Code: runtime.CodeVerify, Path: o.Set, Message: fmt.Sprintf("the set's catalog cannot be read: %v; give catalog= (an alternate catalog)", err), Err: err}
	}
	if o.Catalog != nil {
		r.Log.Info("restore: following an alternate catalog", "set", o.Set, "vm", o.Catalog.VM.Name)
		o.Catalog.Alternate = true
		if o.Catalog.Encryption != nil {
			r.Log.Warn("restore: the alternate catalog of an encrypted set is not authenticated: it is followed as given", "set", o.Set)
		}
		return o.Catalog, nil
	}
	return own, nil
}

func datacenterFor(ctx context.Context, f *find.Finder, paths ...string) (*object.Datacenter, error) {
	for _, p := range paths {
		if strings.HasPrefix(p, "/") {
			parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
			if dc, err := f.Datacenter(ctx, "/"+parts[0]); err == nil {
				return dc, nil
			}
		}
	}
	return f.DefaultDatacenter(ctx)
}

// pick finds an inventory object: the one given, or the catalog's (when
// it still exists), or the default.
func pick[T any](ctx context.Context, r *runtime.Run, what, given, original string, byPath func(context.Context, string) (T, error), def func(context.Context) (T, error)) (T, error) {
	if given != "" {
		x, err := byPath(ctx, given)
		if err != nil {
			var zero T
			return zero, fmt.Errorf("%s %q: %v", what, given, err)
		}
		return x, nil
	}
	if original != "" {
		if x, err := byPath(ctx, original); err == nil {
			return x, nil
		}
		r.Log.Warn("restore: the original "+what+" no longer exists; using the default", what, original)
	}
	x, err := def(ctx)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("no default %s: give one: %v", what, err)
	}
	return x, nil
}

// uploadSet writes the VM's files into dir on ds, named as
// sets.LayoutOf says, and returns the .vmx name.
func uploadSet(r *runtime.Run, t transports.Transport, ds *object.Datastore, dir string, cat *catalog.Catalog, name string) (string, error) {
	ctx := r.Context()
	l := sets.LayoutOf(cat, name)
	fail := func(f string, err error) (string, error) {
		return "", &runtime.Error{Code: runtime.CodeTransport, VM: name, Path: cat.ID + "/" + f, Message: fmt.Sprintf("restore of %s failed (nothing was registered or overwritten): %v", f, err), Err: err}
	}
	var vmxFile *catalog.File
	renamed := map[string]string{} // kind -> new name
	for _, f := range cat.Files {
		switch f.Kind {
		case catalog.KindConfig:
			f := f
			vmxFile = &f
		case catalog.KindNvram, catalog.KindExtConfig:
			if err := uploadPlain(ctx, t, ds, cat, f, dir+"/"+l.Renamed[f.Name], nil); err != nil {
				return fail(f.Name, err)
			}
			renamed[f.Kind] = l.Renamed[f.Name]
		}
	}
	if vmxFile == nil { // sets.Restorable refused it already
		return fail(catalog.FileName, errors.New("the catalog lists no .vmx file"))
	}
	chain := []*catalog.Catalog{cat}
	if cat.Incremental() {
		var err error
		if chain, err = sets.ChainOf(ctx, t, cat); err != nil {
			return "", err
		}
		r.Log.Info("restore: applying a chain", "set", cat.ID, "full", chain[0].ID, "incrementals", len(chain)-1)
	}
	for _, d := range cat.Disks {
		f, _ := cat.File(d.File)
		flat := l.Flat[d.ID]
		ls, err := sets.LayersOf(chain, d.ID)
		if err != nil {
			return fail(f.Name, err)
		}
		if err := uploadDisk(r, t, ds, ls, dir+"/"+flat); err != nil {
			return fail(f.Name, err)
		}
		// the descriptor names the flat image written beside it, at the
		// catalog's capacity, whatever extent the stored one names
		df, _ := cat.File(d.Descriptor)
		sectors := d.Capacity / 512
		copy := name != cat.VM.Name // beside the original: its disks get UUIDs of their own (diskuuid.go)
		if err := uploadPlain(ctx, t, ds, cat, df, dir+"/"+d.Descriptor, func(b []byte) []byte {
			desc := vmdk.FlatDescriptor(string(b), sectors, flat)
			if copy {
				desc = setDDBUUID(desc, newDDBUUID())
			}
			return []byte(desc)
		}); err != nil {
			return fail(df.Name, err)
		}
	}
	vmx, err := sets.ReadVerified(ctx, t, cat, *vmxFile)
	if err != nil {
		return fail(vmxFile.Name, err)
	}
	text := rewriteVMX(string(vmx), cat, name, renamed)
	if err := ds.Upload(ctx, strings.NewReader(text), dir+"/"+l.VMX, &soap.Upload{Method: "PUT", Type: "application/octet-stream", ContentLength: int64(len(text))}); err != nil {
		return fail(vmxFile.Name, err)
	}
	return l.VMX, nil
}

// uploadPlain uploads a small file of the set to the datastore path to,
// changed by edit when it is not nil.
func uploadPlain(ctx context.Context, t transports.Transport, ds *object.Datastore, cat *catalog.Catalog, f catalog.File, to string, edit func([]byte) []byte) error {
	b, err := sets.ReadVerified(ctx, t, cat, f)
	if err != nil {
		return err
	}
	if edit != nil {
		b = edit(b)
	}
	return ds.Upload(ctx, bytes.NewReader(b), to, &soap.Upload{Method: "PUT", Type: "application/octet-stream", ContentLength: int64(len(b))})
}

// uploadDisk rebuilds a disk image on the fly (a full, or a full and the
// incrementals of a chain applied in one pass) into a flat file on the
// datastore, checking every stored file's sha256 and every layer's digest.
//
// It is one PUT to the datastore's file service (/folder), which writes
// a file whole from one request body: it takes no Content-Range (RFC 9110
// lets a server refuse a partial PUT; VMware documents none), so zero
// areas cross the wire as zeros and the flat file is thick, every byte
// written. Leaving them out needs another way in (an NFC import lease of
// a streamOptimized disk, or a sparse file converted on the host), which
// is thin restore's: the sparse layers (sets.OpenChain) know the zero
// areas until sparse.Merge flattens them here.
func uploadDisk(r *runtime.Run, t transports.Transport, ds *object.Datastore, ls []sets.Layer, to string) error {
	ctx := r.Context()
	d := ls[len(ls)-1].Disk
	cr, err := sets.OpenChain(ctx, t, ls)
	if err != nil {
		return err
	}
	defer cr.Close()
	tr := r.Progress.Start("restore "+d.ID, d.Capacity)
	// to a host of the datastore directly, through vCenter only when it
	// cannot be reached (internal/dsread)
	err = dsread.Upload(ctx, ds, to, transports.ProgressReader(cr, tr), d.Capacity)
	if err == nil {
		err = cr.Finish()
	}
	tr.Done(err)
	return err
}

var vmxLine = regexp.MustCompile(`^\s*([^=#\s]+)\s*=\s*"(.*)"\s*$`)

// rewriteVMX points the .vmx at the restored files and names the VM.
func rewriteVMX(text string, cat *catalog.Catalog, name string, renamed map[string]string) string {
	set := map[string]string{"displayName": name}
	drop := map[string]bool{}
	for _, d := range cat.Disks {
		set[d.ID+".fileName"] = d.Descriptor
	}
	for _, s := range cat.Skipped {
		set[s.ID+".present"] = "FALSE"
	}
	if n, ok := renamed[catalog.KindNvram]; ok {
		set["nvram"] = n
	}
	if n, ok := renamed[catalog.KindExtConfig]; ok {
		set["extendedConfigFile"] = n
	}
	copy := name != cat.VM.Name
	var b strings.Builder
	done := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		m := vmxLine.FindStringSubmatch(line)
		if m == nil {
			b.WriteString(line + "\n")
			continue
		}
		k := m[1]
		lk := strings.ToLower(k)
		switch {
		case drop[k]:
			continue
		case copy && (lk == "vc.uuid" || strings.HasSuffix(lk, ".generatedaddress") || strings.HasSuffix(lk, ".generatedaddressoffset")):
			continue // a copy gets its own instance UUID and MAC addresses
		case lk == "sched.swap.derivedname" || lk == "checkpoint.vmstate":
			continue
		}
		if v, ok := set[k]; ok {
			fmt.Fprintf(&b, "%s = %q\n", k, v)
			done[k] = true
			continue
		}
		b.WriteString(line + "\n")
	}
	for k, v := range set {
		if !done[k] && !strings.HasSuffix(k, ".present") {
			fmt.Fprintf(&b, "%s = %q\n", k, v)
		}
	}
	return b.String()
}
