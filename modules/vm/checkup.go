package vm

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vmlua/vmlua/internal/datastore"
	"github.com/vmlua/vmlua/internal/dsread"
	"github.com/vmlua/vmlua/internal/vfault"
	"github.com/vmlua/vmlua/internal/vmdk"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Checkup is what vmlua doctor finds out about one VM, read-only: what a
// backup would do with it on this infrastructure and what stands in its
// way. It calls no method that changes anything in vSphere: property
// reads, AuthorizationManager.HasPrivilegeOnEntities,
// HostDateTimeSystem.QueryDateTime, GETs of the disks' descriptors
// through vCenter, and one request without credentials to each host's own
// address.
type Checkup struct {
	VM    string `json:"vm"`
	Moref string `json:"moref"`
	Power string `json:"power"`
	Host  string `json:"host"`
	// DataPath is how the disks' bytes would go: "direct" (to the host's
	// own address), "vcenter" (through vCenter's proxy), "esxi" (the
	// session is with the host itself), or "" (not known).
	DataPath    string        `json:"data_path"`
	HostAddress string        `json:"host_address,omitempty"`
	Datastores  []CheckupDS   `json:"datastores"`
	CBT         bool          `json:"cbt"`
	Snapshots   []string      `json:"snapshots"`
	Disks       []CheckupDisk `json:"disks"`
	ClockSkew   *float64      `json:"clock_skew_seconds,omitempty"`
	Missing     []string      `json:"missing_privileges"`
	Findings    []Finding     `json:"findings"`
	Status      CheckupStatus `json:"status"`
	hostRef     *types.ManagedObjectReference
	dsRefs      map[string]types.ManagedObjectReference
	backedBytes int64
}

// CheckupDS is one datastore of a VM's disks and its type
// (summary.type: VMFS, NFS, NFS41, vsan, VVOL, ...).
type CheckupDS struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// CheckupDisk is one disk of a VM as a backup would see it.
type CheckupDisk struct {
	ID        string `json:"id"`
	Path      string `json:"path"`
	Datastore string `json:"datastore"`
	Mode      string `json:"mode"`
	RDM       string `json:"rdm,omitempty"`
	Capacity  int64  `json:"capacity"`
	// BackedUp: a backup today would read it (not left out, readable as
	// far as the checkup can tell).
	BackedUp bool `json:"backed_up"`
}

// Severity says what a finding means for a backup.
type Severity string

// The severities: a block stops the backup or leaves it partial; a
// warning makes it slower or less than it could be; info explains.
const (
	SevBlock Severity = "block"
	SevWarn  Severity = "warn"
	SevInfo  Severity = "info"
)

// CheckupStatus sums a VM's findings up: its worst severity.
type CheckupStatus string

// The statuses of a checkup.
const (
	StatusOK      CheckupStatus = "ok"
	StatusWarn    CheckupStatus = "warn"
	StatusBlocked CheckupStatus = "blocked"
)

// Finding is one thing the checkup found.
type Finding struct {
	Check    string   `json:"check"` // privileges, data_path, datastore, cbt, snapshots, disk, clock
	Severity Severity `json:"severity"`
	Disk     string   `json:"disk,omitempty"`
	Message  string   `json:"message"`
}

// Privilege is one privilege a backup needs, on the entity it is checked
// on, and what it is for.
type Privilege struct {
	ID     string // vSphere's privilege id ("VirtualMachine.State.CreateSnapshot")
	On     string // "VirtualMachine" or "Datastore"
	For    string // what vmlua does with it
	Blocks bool   // a backup fails without it (else: a feature is lost)
}

// BackupRoleName is the name docs/real-vsphere.md gives the role that
// holds BackupPrivileges.
const BackupRoleName = "vmlua-backup"

// BackupPrivileges are the privileges of a backup by vmlua, as
// docs/real-vsphere.md lists them for the vmlua-backup role (every role
// also holds System.Anonymous, System.View and System.Read).
var BackupPrivileges = []Privilege{
	{"VirtualMachine.State.CreateSnapshot", "VirtualMachine", "freeze the disks (add_redo: a snapshot)", true},
	{"VirtualMachine.State.RemoveSnapshot", "VirtualMachine", "merge the REDO logs again (commit: remove the snapshot, consolidate)", true},
	{"Datastore.Browse", "Datastore", "read the disks and their descriptors over the datastore file service (/folder) and search the datastore", true},
	{"VApp.Export", "VirtualMachine", "read the disks /folder cannot serve (vSAN, vVols) through the snapshot's NFC export lease (ExportSnapshot, ExportVm)", false},
	{"VirtualMachine.Config.ChangeTracking", "VirtualMachine", "turn changed block tracking on, for incremental backups", false},
	{"VirtualMachine.Interact.AnswerQuestion", "VirtualMachine", "answer the questions a snapshot or a restore makes the VM ask", false},
	{"VirtualMachine.Interact.PowerOff", "VirtualMachine", "shut the VM down for a backup with power_off=true", false},
	{"VirtualMachine.Interact.PowerOn", "VirtualMachine", "power it on again after such a backup", false},
}

// CheckupOptions tune Checkup.
type CheckupOptions struct {
	// MaxClockSkew is the difference between a host's clock and this
	// machine's beyond which the checkup warns (DefaultMaxClockSkew when 0).
	MaxClockSkew time.Duration
}

// DefaultMaxClockSkew is the clock difference the checkup tolerates.
const DefaultMaxClockSkew = time.Minute

// BackedUpBytes is the capacity of the disks a backup would read: at
// most what a full backup of the VM writes to its target.
func (c *Checkup) BackedUpBytes() int64 { return c.backedBytes }

// checker holds what the checkups of one call share: the session's key,
// and per host and datastore what was read once.
type checker struct {
	c       *Conn
	o       CheckupOptions
	key     string
	keyErr  error
	mu      sync.Mutex
	reach   map[string]reachResult
	skew    map[string]skewResult
	dsTypes map[string]string
}

type reachResult struct {
	r   dsread.Reach
	err error
}

type skewResult struct {
	d   time.Duration
	err error
}

// Checkup examines each VM, in order. An error is returned only when the
// session itself fails; what cannot be read about one VM is a finding.
func (c *Conn) Checkup(ctx context.Context, vms []*VM, o CheckupOptions) ([]*Checkup, error) {
	if o.MaxClockSkew <= 0 {
		o.MaxClockSkew = DefaultMaxClockSkew
	}
	k := &checker{c: c, o: o, reach: map[string]reachResult{}, skew: map[string]skewResult{}, dsTypes: map[string]string{}}
	if us, err := session.NewManager(c.Client).UserSession(ctx); err != nil {
		k.keyErr = err
	} else if us == nil {
		k.keyErr = fmt.Errorf("the session is not logged in")
	} else {
		k.key = us.Key
	}
	var out []*Checkup
	for _, v := range vms {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		out = append(out, k.check(ctx, v))
	}
	return out, nil
}

func (ck *Checkup) add(check string, sev Severity, disk, format string, args ...any) {
	ck.Findings = append(ck.Findings, Finding{Check: check, Severity: sev, Disk: disk, Message: fmt.Sprintf(format, args...)})
}

func (k *checker) check(ctx context.Context, v *VM) *Checkup {
	m := v.MO()
	ck := &Checkup{VM: m.Name, Moref: v.Ref.Value, Power: v.Power(), Host: v.HostName(), CBT: m.Config.ChangeTrackingEnabled != nil && *m.Config.ChangeTrackingEnabled,
		Snapshots: []string{}, Missing: []string{}, Disks: []CheckupDisk{}, Datastores: []CheckupDS{}, hostRef: m.Runtime.Host, dsRefs: map[string]types.ManagedObjectReference{}}
	disks := v.Disks()
	k.datastores(ctx, v, ck, disks)
	k.privileges(ctx, v, ck)
	k.dataPath(ctx, ck)
	user := k.snapshots(v, ck)
	k.cbt(ck, user)
	k.disks(ctx, v, ck, disks)
	k.clock(ctx, ck)
	ck.Status = StatusOK
	for _, f := range ck.Findings {
		switch {
		case f.Severity == SevBlock:
			ck.Status = StatusBlocked
		case f.Severity == SevWarn && ck.Status == StatusOK:
			ck.Status = StatusWarn
		}
	}
	return ck
}

// datastores finds the datastores of the VM's disks and their types.
func (k *checker) datastores(ctx context.Context, v *VM, ck *Checkup, disks []Disk) {
	seen := map[string]bool{}
	for _, d := range disks {
		if d.Datastore == "" || seen[d.Datastore] {
			continue
		}
		seen[d.Datastore] = true
		ds, err := v.Datastores().Get(ctx, v.MO().Datastore, d.Datastore)
		if err != nil {
			ck.add("datastore", SevBlock, "", "datastore %s of disk %s cannot be found: %s", d.Datastore, d.ID, vfault.Text(err))
			continue
		}
		ref := ds.Reference()
		ck.dsRefs[d.Datastore] = ref
		typ, err := k.dsType(ctx, ref)
		if err != nil {
			ck.add("datastore", SevWarn, "", "the type of datastore %s cannot be read: %s", d.Datastore, vfault.Text(err))
		}
		ck.Datastores = append(ck.Datastores, CheckupDS{Name: d.Datastore, Type: typ})
		switch strings.ToLower(typ) {
		case "vsan", "vvol":
			ck.add("datastore", SevInfo, "", "datastore %s is %s: its disks are objects, not flat files, so the datastore file service (/folder) cannot serve them: a backup reads them through the snapshot's NFC export lease (streamOptimized, VApp.Export); an incremental reads the whole disk and stores only the spans that differ", d.Datastore, typ)
		case "vmfs":
			ck.add("datastore", SevInfo, "", "datastore %s is VMFS: flat disk files, read over /folder with ranged GETs", d.Datastore)
		case "nfs", "nfs41":
			ck.add("datastore", SevInfo, "", "datastore %s is %s: flat disk files on the NAS, read over /folder through the host that mounts it (asked for a disk's allocated areas, changed block tracking may answer the whole disk on storage other than VMFS: a full backup may read its unallocated space too)", d.Datastore, typ)
		case "":
		default:
			ck.add("datastore", SevInfo, "", "datastore %s is of type %s: vmlua reads it over /folder as flat files (the descriptor check below says whether that works)", d.Datastore, typ)
		}
	}
}

func (k *checker) dsType(ctx context.Context, ref types.ManagedObjectReference) (string, error) {
	k.mu.Lock()
	t, ok := k.dsTypes[ref.Value]
	k.mu.Unlock()
	if ok {
		return t, nil
	}
	var m mo.Datastore
	if err := property.DefaultCollector(k.c.Client).RetrieveOne(ctx, ref, []string{"summary.type"}, &m); err != nil {
		return "", err
	}
	k.mu.Lock()
	k.dsTypes[ref.Value] = m.Summary.Type
	k.mu.Unlock()
	return m.Summary.Type, nil
}

// privileges asks vSphere which of BackupPrivileges the session's user
// holds on the VM and on its disks' datastores.
func (k *checker) privileges(ctx context.Context, v *VM, ck *Checkup) {
	if k.keyErr != nil {
		ck.add("privileges", SevWarn, "", "the privileges cannot be checked (the session's key cannot be read: %s); the role docs/real-vsphere.md describes (%s) is what a backup needs", vfault.Text(k.keyErr), BackupRoleName)
		return
	}
	am := k.c.Client.ServiceContent.AuthorizationManager
	if am == nil {
		ck.add("privileges", SevWarn, "", "the endpoint has no AuthorizationManager: the privileges cannot be checked")
		return
	}
	type target struct {
		on, name string
		ref      types.ManagedObjectReference
	}
	targets := []target{{"VirtualMachine", "VM " + ck.VM, v.Ref}}
	for _, ds := range ck.Datastores {
		if ref, ok := ck.dsRefs[ds.Name]; ok {
			targets = append(targets, target{"Datastore", "datastore " + ds.Name, ref})
		}
	}
	var ids []string
	refs := make([]types.ManagedObjectReference, len(targets))
	for i, t := range targets {
		refs[i] = t.ref
	}
	for _, p := range BackupPrivileges {
		ids = append(ids, p.ID)
	}
	// HasPrivilegeOnEntities: its answers name their privilege and entity
	res, err := methods.HasPrivilegeOnEntities(ctx, k.c.Client, &types.HasPrivilegeOnEntities{This: *am, Entity: refs, SessionId: k.key, PrivId: ids})
	if err != nil {
		ck.add("privileges", SevWarn, "", "the privileges cannot be checked: %s; the role docs/real-vsphere.md describes (%s) is what a backup needs", vfault.Text(err), BackupRoleName)
		return
	}
	granted := map[string]bool{} // entity/privilege
	for _, ep := range res.Returnval {
		for _, a := range ep.PrivAvailability {
			granted[ep.Entity.Value+"/"+a.PrivId] = a.IsGranted
		}
	}
	var blocking, lost []string
	for _, t := range targets {
		for _, p := range BackupPrivileges {
			if p.On != t.on || granted[t.ref.Value+"/"+p.ID] {
				continue
			}
			if !slices.Contains(ck.Missing, p.ID) {
				ck.Missing = append(ck.Missing, p.ID)
			}
			line := fmt.Sprintf("%s on %s (to %s)", p.ID, t.name, p.For)
			switch {
			case p.ID == "VirtualMachine.Config.ChangeTracking" && ck.CBT:
				// tracking is on already: nothing to turn on
			case p.Blocks:
				blocking = append(blocking, line)
			default:
				lost = append(lost, line)
			}
		}
	}
	hint := fmt.Sprintf("give the user the role %s that docs/real-vsphere.md describes, on the datacenter with propagation", BackupRoleName)
	if len(blocking) > 0 {
		ck.add("privileges", SevBlock, "", "the user lacks %s: %s", strings.Join(blocking, "; "), hint)
	}
	if len(lost) > 0 {
		ck.add("privileges", SevWarn, "", "the user lacks %s: %s", strings.Join(lost, "; "), hint)
	}
}

// dataPath finds how the disks' bytes would go: to the VM's host itself
// or through vCenter.
func (k *checker) dataPath(ctx context.Context, ck *Checkup) {
	if ck.hostRef == nil {
		ck.add("data_path", SevWarn, "", "the VM has no host (runtime.host): its files would be read through a host the datastore is mounted on, or vCenter")
		return
	}
	k.mu.Lock()
	rr, ok := k.reach[ck.hostRef.Value]
	k.mu.Unlock()
	if !ok {
		rr.r, rr.err = dsread.Probe(ctx, k.c.Client, *ck.hostRef)
		k.mu.Lock()
		k.reach[ck.hostRef.Value] = rr
		k.mu.Unlock()
	}
	ck.HostAddress = rr.r.Address
	switch {
	case rr.err != nil:
		ck.DataPath = ""
		ck.add("data_path", SevBlock, "", "host %s: %s", ck.Host, vfault.Text(rr.err))
	case !k.c.Client.IsVC():
		ck.DataPath = "esxi"
		ck.add("data_path", SevInfo, "", "the session is with the ESXi host itself (%s): the disks are read from it directly", rr.r.Address)
	case rr.r.Direct:
		ck.DataPath = "direct"
		ck.add("data_path", SevInfo, "", "host %s is reachable at its own address %s (port %s, its certificate checked): the disks are read from it directly, with a service ticket per request", ck.Host, rr.r.Address, portOf(rr.r.Address))
	case rr.r.Chosen:
		ck.DataPath = "vcenter"
		ck.add("data_path", SevInfo, "", "the profile sends every byte through vCenter (through_vcenter = true), the slower path (VMware KB 2112692): the hosts' own addresses are not tried")
	default:
		ck.DataPath = "vcenter"
		where := ""
		if rr.r.Address != "" {
			where = fmt.Sprintf(" at %s (open port %s from this machine to it)", rr.r.Address, portOf(rr.r.Address))
		}
		ck.add("data_path", SevWarn, "", "host %s cannot be reached directly%s: %s. Every byte would go through vCenter's proxy, the slowest path (VMware KB 2112692)", ck.Host, where, rr.r.Why)
	}
}

func portOf(addr string) string {
	if i := strings.LastIndexByte(addr, ':'); i >= 0 {
		return addr[i+1:]
	}
	return "443"
}

// snapshots reports the VM's snapshots; it returns whether there are
// snapshots vmlua did not make.
func (k *checker) snapshots(v *VM, ck *Checkup) bool {
	m := v.MO()
	if m.Snapshot == nil {
		return false
	}
	var user, redo []string
	var walk func([]types.VirtualMachineSnapshotTree)
	walk = func(ts []types.VirtualMachineSnapshotTree) {
		for _, t := range ts {
			ck.Snapshots = append(ck.Snapshots, t.Name)
			if strings.HasPrefix(t.Name, SnapshotPrefix) {
				redo = append(redo, t.Name)
			} else {
				user = append(user, t.Name)
			}
			walk(t.ChildSnapshotList)
		}
	}
	walk(m.Snapshot.RootSnapshotList)
	if len(user) > 0 {
		ck.add("snapshots", SevBlock, "", "the VM has snapshot(s) vmlua did not make: %s. A backup would put its REDO log on top of them, and a disk on two snapshot levels cannot be exported as a flat image; delete (commit) them first, vmlua never removes a snapshot it did not make", quoteList(user, -1))
	}
	if len(redo) > 0 {
		ck.add("snapshots", SevWarn, "", "the VM has vmlua REDO log(s): %s, of a backup running now, or left by a run that was killed ('vmlua cleanup' commits those)", quoteList(redo, -1))
	}
	return len(user) > 0
}

// cbt reports changed block tracking.
func (k *checker) cbt(ck *Checkup, userSnapshots bool) {
	switch {
	case ck.CBT:
		ck.add("cbt", SevInfo, "", "changed block tracking is on: incremental backups read only the changed areas")
	case userSnapshots:
		ck.add("cbt", SevWarn, "", "changed block tracking is off, and vSphere does not support turning it on while the VM has snapshots: every backup would be a full until they are gone")
	default:
		ck.add("cbt", SevWarn, "", "changed block tracking is off: the first backup turns it on (VirtualMachine.Config.ChangeTracking) and is a full; incrementals start with the next")
	}
}

// disks says, for each disk, whether a backup would read it, and reads
// its descriptor as the backup would.
func (k *checker) disks(ctx context.Context, v *VM, ck *Checkup, disks []Disk) {
	on := ck.Power != "off"
	for _, d := range disks {
		cd := CheckupDisk{ID: d.ID, Path: d.Path, Datastore: d.Datastore, Mode: d.Mode, RDM: d.RDM, Capacity: d.Capacity}
		switch {
		case d.RDM == "physical":
			ck.add("disk", SevBlock, d.ID, "disk %s is a physical-mode RDM: vSphere cannot snapshot it; a backup leaves it out (a partial set). Back up the LUN with the storage array's tools", d.ID)
		case d.RDM != "":
			ck.add("disk", SevBlock, d.ID, "disk %s is a virtual-mode RDM: its data lives on a LUN that vmlua does not read; a backup leaves it out (a partial set). Back up the LUN with the storage array's tools", d.ID)
		case d.Independent && on:
			ck.add("disk", SevBlock, d.ID, "disk %s is %s: snapshots do not freeze independent disks, so a backup while the VM runs leaves it out (a partial set). Back it up powered off (power_off=true) or make it persistent", d.ID, d.Mode)
		default:
			cd.BackedUp = k.readable(ctx, v, ck, d)
			if d.Independent {
				ck.add("disk", SevInfo, d.ID, "disk %s is %s: read while the VM is off", d.ID, d.Mode)
			}
		}
		if cd.BackedUp {
			ck.backedBytes += d.Capacity
		}
		ck.Disks = append(ck.Disks, cd)
	}
	if len(disks) == 0 {
		ck.add("disk", SevWarn, "", "the VM has no virtual disk: a backup stores its configuration only")
	}
}

// readable reads the disk's base descriptor through vCenter (a small
// GET, as a backup does first) and checks that it names flat extents.
func (k *checker) readable(ctx context.Context, v *VM, ck *Checkup, d Disk) bool {
	if t := strings.ToLower(k.typeOf(ck, d.Datastore)); t == "vsan" || t == "vvol" {
		return true // read through the NFC export lease: said at the datastore
	}
	dsName, rel := datastore.Split(d.BasePath)
	ds, err := v.Datastores().Get(ctx, v.MO().Datastore, dsName)
	if err != nil {
		ck.add("disk", SevBlock, d.ID, "disk %s cannot be read: datastore %s: %s", d.ID, dsName, vfault.Text(err))
		return false
	}
	desc, err := dsread.ReadSmall(ctx, ds, rel)
	if err != nil {
		ck.add("disk", SevBlock, d.ID, "disk %s cannot be read: its descriptor %s: %s", d.ID, d.BasePath, vfault.Text(err))
		return false
	}
	if _, err := vmdk.FlatExtents(string(desc)); err != nil {
		ck.add("disk", SevBlock, d.ID, "disk %s cannot be read as a flat image: its descriptor %s: %v", d.ID, d.BasePath, err)
		return false
	}
	return true
}

func (k *checker) typeOf(ck *Checkup, ds string) string {
	for _, d := range ck.Datastores {
		if d.Name == ds {
			return d.Type
		}
	}
	return ""
}

// clock compares the VM's host's clock with this machine's.
func (k *checker) clock(ctx context.Context, ck *Checkup) {
	if ck.hostRef == nil {
		return
	}
	k.mu.Lock()
	sr, ok := k.skew[ck.hostRef.Value]
	k.mu.Unlock()
	if !ok {
		sr.d, sr.err = k.hostSkew(ctx, *ck.hostRef)
		k.mu.Lock()
		k.skew[ck.hostRef.Value] = sr
		k.mu.Unlock()
	}
	if sr.err != nil {
		ck.add("clock", SevInfo, "", "the clock of host %s cannot be read: %s", ck.Host, vfault.Text(sr.err))
		return
	}
	s := sr.d.Seconds()
	s = float64(int64(s*10)) / 10
	ck.ClockSkew = &s
	if sr.d > k.o.MaxClockSkew || -sr.d > k.o.MaxClockSkew {
		ck.add("clock", SevWarn, "", "host %s's clock is %s %s this machine's: the REDO logs' leases follow vSphere's clock, so backups are not affected, but log times and set ids disagree with the host's and vCenter's events; point both at the same NTP servers",
			ck.Host, sr.d.Abs().Round(time.Second), map[bool]string{true: "ahead of", false: "behind"}[sr.d > 0])
	}
}

// hostSkew is the host's clock minus this machine's, measured at the
// middle of the call.
func (k *checker) hostSkew(ctx context.Context, host types.ManagedObjectReference) (time.Duration, error) {
	var h mo.HostSystem
	if err := property.DefaultCollector(k.c.Client).RetrieveOne(ctx, host, []string{"configManager.dateTimeSystem"}, &h); err != nil {
		return 0, err
	}
	if h.ConfigManager.DateTimeSystem == nil {
		return 0, fmt.Errorf("the host has no date and time system")
	}
	before := time.Now()
	res, err := methods.QueryDateTime(ctx, k.c.Client, &types.QueryDateTime{This: *h.ConfigManager.DateTimeSystem})
	if err != nil {
		return 0, err
	}
	mid := before.Add(time.Since(before) / 2)
	return res.Returnval.Sub(mid), nil
}
