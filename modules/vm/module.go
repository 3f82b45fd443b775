package vm

import (
	"context"
	"fmt"
	"strings"
	"time"

	modtransport "github.com/vmlua/vmlua/modules/transport"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
	lua "github.com/yuin/gopher-lua"
)

// Module is the "vm" Lua module.
var Module = &runtime.Module{
	Name:    "vm",
	Summary: "VMs: look-ups, configuration, power, and the hot-backup cycle add_redo / export / commit.",
	Doc: "The connection comes from the operator (`--url`, `VMLUA_URL`, or a config profile), never from the script. " +
		"Every REDO log (snapshot) a run adds is committed when the run ends — normally, by error, timeout or signal — " +
		"unless `add_redo` was given `keep=true`; vmlua never removes a snapshot it did not create.\n\n" +
		"**Selecting VMs.** `vm.find`, `vm.open`, `vmlua run --each`, `vm_info.lua` and the scripts' `vms=` take a specifier: " +
		"a `.vmx` datastore path (`[LocalDS_0] DB01/DB01.vmx`, as VmPerl's `connect`) or `KIND:VALUE` terms (vcbVmName's, and where the VM sits):\n\n" +
		"| term | selects the VMs |\n|---|---|\n" +
		"| `name:GLOB` | whose name matches (`*`, `?`, `[...]`) |\n" +
		"| `uuid:UUID`, `ipaddr:IP-OR-DNS`, `moref:vm-N` | with that BIOS UUID, guest IP address or host name, managed object id |\n" +
		"| `powerstate:on\\|off\\|suspended` | in that power state |\n" +
		"| `folder:PATH` | in the VM folder and every folder below it: an inventory path (`/DC0/vm/prod`) or a path below each datacenter's VM folder (`prod/web`) |\n" +
		"| `cluster:NAME` | registered on a host of the cluster |\n" +
		"| `host:NAME` | registered on the host |\n" +
		"| `pool:PATH` | in the resource pool and every pool below it: an inventory path (`/DC0/host/DC0_C0/Resources/prod`) or a path below each cluster's (host's) root pool (`prod`) |\n" +
		"| `datastore:NAME` | with a file on the datastore |\n" +
		"| `tag:NAME`, `tag:CATEGORY:NAME` | carrying the vSphere tag (vCenter's tagging service; ESXi has none) |\n" +
		"| `any:`, `none:` | every VM, no VM |\n\n" +
		"Values are globs, and a value may list several with commas (any of them): `name:DB01,WEB01`, `tag:Backup:gold,Backup:silver`. " +
		"Terms separated by spaces must all match: `folder:/DC0/vm/prod powerstate:on`. A comma before another term starts an alternative: " +
		"`folder:prod powerstate:on, tag:Backup:gold` is the running VMs of prod, and every VM tagged gold. " +
		"Double quotes keep spaces, commas and colons in a value (`name:\"Backup Server: Primary\"`); a name with a plain space needs none (`name:My VM`). " +
		"A kind that does not exist, or a folder, cluster, host, pool, datastore or tag that does not, is an `invalid_argument` error naming what exists and the nearest (\"did you mean\"): " +
		"a typo must not look like an empty folder. Templates are never selected.",
	Types: []*runtime.Type{VMType, TaskType},
}

func init() {
	Module.Funcs = []runtime.Func{
		{Name: "open", Args: []runtime.Arg{{Name: "spec", Type: "string", Doc: `a .vmx path ("[ds] DB01/DB01.vmx") or a specifier naming one VM: name: (no wildcards), uuid:, ipaddr:, moref:, possibly with other terms (name:DB01 folder:prod)`}}, Returns: "VM|nil",
			Doc: "Returns the one VM the path or specifier names, nil when there is none; an `ambiguous` error lists them when several match.", Fn: luaOpen},
		{Name: "find", Args: []runtime.Arg{{Name: "spec", Type: "string", Doc: "a specifier (Selecting VMs, above): name:GLOB, powerstate:, folder:, cluster:, host:, pool:, datastore:, tag:, any:, none:, ..., combined with spaces (AND) and commas (OR)"}}, Returns: "{VM}",
			Doc: "Returns the list of VMs matching the specifier, sorted by name (possibly empty). A folder, cluster, host, pool, datastore or tag the specifier names that does not exist raises invalid_argument.", Fn: luaFind},
		{Name: "register", Args: []runtime.Arg{{Name: "vmx", Type: "string", Doc: `datastore path of the .vmx, e.g. "[LocalDS_1] DB01/DB01.vmx"`}, {Name: "options", Type: "table", Optional: true, Doc: "where the VM goes (default: the datacenter's VM folder and default pool, a host vSphere chooses)", Options: []runtime.Option{
			{Name: "name", Type: "string", Doc: "the VM's name in the inventory (default: the .vmx's displayName)"},
			{Name: "folder", Type: "string", Doc: "inventory path of the VM folder"},
			{Name: "pool", Type: "string", Doc: "inventory path of the resource pool"},
			{Name: "host", Type: "string", Doc: "host name or inventory path to register it on"},
		}}}, Returns: "VM|nil",
			Doc: "Registers the VM whose .vmx is at the datastore path (vmware-cmd -s register) and returns it; nil in a dry run.", Fn: luaRegister},
		{Name: "folders", Returns: "table", Doc: "Returns every VM folder (vcbUtil -c vmfolders) as a list sorted by path of {path=, name=, datacenter=, vms=}: path is the inventory path that folder: and vm.register{folder=} take, vms the number of VMs in it and below it.", Fn: luaContainers("folder")},
		{Name: "pools", Returns: "table", Doc: "Returns every resource pool (vcbUtil -c resourcepools) as a list sorted by path of {path=, name=, owner=, vms=}: path is the inventory path that pool: and vm.register{pool=} take, owner the cluster or host whose root pool it is or is below, vms the number of VMs in it and below it.", Fn: luaContainers("pool")},
		{Name: "registered", Returns: "{string}", Doc: "Returns the .vmx paths of every registered VM (VmPerl's registered_vm_names).", Fn: luaRegistered},
		{Name: "connect", Args: []runtime.Arg{{Name: "profile", Type: "string", Doc: "a vSphere profile of the config file"}},
			Doc: "Makes the named profile the connection for the following vm calls of this run. The profile must be configured by the operator.", Fn: luaConnect},
		{Name: "cleanup_orphans", Args: []runtime.Arg{{Name: "vms", Type: "string|VM|{VM}", Optional: true, Doc: "the VMs to look at: a specifier (default any:), a VM, or a list of VMs (as vm.find returns; read one by one, not the inventory)"}}, Returns: "table",
			Doc: "Commits the REDO logs (snapshots named vmlua-redo-*) that earlier vmlua runs left behind because they were killed before their cleanup (SIGKILL, OOM, a crash), and returns them as a list of {vm=, snapshot=}. " +
				"A snapshot counts as orphaned unless it is this run's, was added with keep=true, or its owner may still be running: a vmlua process on this machine that still runs, " + fmt.Sprintf("or a run on another machine whose lease has not expired (a run renews the lease in its snapshots' descriptions every %d minutes, to %d minutes ahead, by vSphere's clock); each one left alone is logged with why. ", int(LeaseRenew.Minutes()), int(LeaseLength.Minutes())) +
				"The shipped backup scripts call it for the VMs they back up before backing up. " +
				"In a dry run nothing is committed: the list says what would be (each entry with dry_run=true), and the run's later exports see the disks as without them.", Fn: luaCleanupOrphans},
	}
}

// VMType is the Lua type of a VM.
var VMType = &runtime.Type{
	Name:    "VM",
	Summary: "A virtual machine.",
	Fields: []runtime.Field{
		{Name: "name", Type: "string", Doc: "display name"},
		{Name: "uuid", Type: "string", Doc: "BIOS UUID"},
		{Name: "instance_uuid", Type: "string", Doc: "vCenter instance UUID"},
		{Name: "moref", Type: "string", Doc: "managed object id, e.g. vm-42"},
		{Name: "power", Type: "string", Doc: `"on", "off" or "suspended" (as of the last refresh)`},
		{Name: "host", Type: "string", Doc: "name of the host it runs on"},
		{Name: "vmx", Type: "string", Doc: "datastore path of the .vmx file"},
		{Name: "datastores", Type: "{string}", Doc: "names of the datastores it uses"},
		{Name: "ip", Type: "string|nil", Doc: "guest IP address reported by VMware Tools"},
	},
	Get:    vmField,
	String: func(o any) string { v := o.(*VM); return fmt.Sprintf("VM(%s, %s)", v.Name(), v.Ref.Value) },
}

// TaskType is a commit started with wait=0.
var TaskType = &runtime.Type{
	Name:    "Task",
	Summary: "A vSphere task still running (commit with wait=0).",
}

func init() {
	disk := runtime.Arg{Name: "disk", Type: "string", Doc: `a disk id such as "scsi0:1"`}
	VMType.Methods = []runtime.Func{
		{Name: "refresh", Doc: "Reloads the VM's properties (power state, disks, snapshots).", Fn: luaRefresh},
		{Name: "get_config", Args: []runtime.Arg{{Name: "key", Type: "string", Doc: `a VMX key: displayName, memsize, scsi0:1.mode, ethernet0.networkName, any extraConfig key, ...`}}, Returns: "string|nil",
			Doc: "Answers a VMX configuration key from the live configuration (works on any vCenter); nil when the VM has no such key.", Fn: luaGetConfig},
		{Name: "disks", Returns: "table", Doc: "Returns one table per virtual disk: {id=, path=, base=, mode=, capacity=, datastore=, thin=, rdm= (\"physical\", \"virtual\" or false), frozen=, encrypted=, key_id= (an encrypted disk's key)}.", Fn: luaDisks},
		{Name: "snapshots", Returns: "table", Doc: "Returns the snapshot tree: a list of {name=, description=, id=, created=, current=, vmlua=, children={...}}.", Fn: luaSnapshots},
		{Name: "cbt_reset", Doc: "Resets the VM's changed block tracking as VMware's KB 2139574 says: tracking off, a snapshot created and removed (the stun-unstun cycle a running VM needs to take the change), tracking on, and a second cycle so that it is active at once. " +
			"The disks get change ids of a new epoch, so the next incremental backup of the VM is a full (with full_reason saying tracking was reset): for a VM whose tracking may have missed changes (KB 2090639, KB 2136854), or after a verify_cbt backup reported a disagreement. " +
			"Refused (invalid_state) while the VM has snapshots, since VMware supports switching tracking on only on a VM without them (KB 1020128); the snapshots of the cycles are vmlua's own, removed by the run's cleanup whatever happens. vmlua cbt-reset SPEC does the same from the command line.", Fn: luaCBTReset},
		{Name: "redo_depth", Args: []runtime.Arg{disk}, Returns: "number", Doc: "Returns how many snapshot deltas (REDO logs) sit on the disk.", Fn: luaRedoDepth},
		{Name: "add_redo", Args: []runtime.Arg{disk, {Name: "options", Type: "table", Optional: true, Doc: "how the snapshot is taken", Options: []runtime.Option{
			{Name: "quiesce", Type: "boolean", Default: "false", Doc: "quiesce the guest file systems (VMware Tools)"},
			{Name: "memory", Type: "boolean", Default: "false", Doc: "include the VM's memory"},
			{Name: "keep", Type: "boolean", Default: "false", Doc: "do not commit it when the run ends"},
		}}}, Returns: "string",
			Doc: "Freezes the disk (a snapshot; reused when another disk of the VM already took one this run) and returns the snapshot's name. Errors for independent disks and physical RDMs. " +
				"While the run lives it renews the snapshot's lease, so that no cleanup on another machine takes it for a killed run's. " +
				"In a dry run no snapshot is made, but the run remembers it: export and commit of the disk then behave as after a real add_redo.", Fn: luaAddRedo},
		{Name: "commit", Args: []runtime.Arg{disk, {Name: "level", Type: "number", Doc: "1 merges the older of the last two REDOs, 0 the last"}, {Name: "freeze", Type: "number", Optional: true, Doc: "accepted for vmware-cmd compatibility; vSphere decides stunning itself"}, {Name: "wait", Type: "number", Optional: true, Doc: "1 (default) waits for the merge; 0 returns a Task"}}, Returns: "Task|nil",
			Doc: "Merges one of the disk's REDO logs, with vmware-cmd commit's meaning. In a dry run it checks the same (a REDO log of this run to commit) and merges nothing.", Fn: luaCommit},
		{Name: "export", Args: []runtime.Arg{disk, {Name: "dest", Type: "Transport|string", Doc: "a transport handle or a granted URL (a folder)"}, {Name: "options", Type: "table", Optional: true, Doc: "how the image is written", Options: []runtime.Option{
			{Name: "name", Type: "string", Doc: "base file name (default: the disk's own)"},
			{Name: "credentials", Type: "string", Doc: "named credentials from the config, for a URL"},
			{Name: "sha256", Type: "boolean", Default: "false", Doc: "also the whole image's sha256"},
		}}}, Returns: "table",
			Doc: "Streams the frozen disk into dest as NAME-flat.vmdk plus a descriptor NAME.vmdk, atomically, and returns {path=, descriptor=, bytes=, spans_root=}: spans_root is the image's span digest (the sha256 of each 4 MiB span's sha256, see docs/catalog.md), hashed on every core. opts.sha256=true adds sha256= of the whole image, which one core computes while the image streams (it caps the export at that core's hashing speed); an export to a vmfs:// folder of the same vSphere is copied on the server and returns sha256= (read back) instead of spans_root=. Refused for a running disk that is not frozen (call add_redo first). After reading, and before the image lands under its name, it checks that the disk stayed frozen (its snapshot still there, the same one; a VM that was off still off) and fails with invalid_state otherwise. " +
				"In a dry run nothing is read or written and it returns the same table with bytes= the size it would write, spans_root=\"\" and dry_run=true.", Fn: luaExport},
		{Name: "power_on", Doc: "Powers the VM on and waits.", Fn: luaPower("on")},
		{Name: "power_off", Args: []runtime.Arg{{Name: "options", Type: "table", Optional: true, Doc: "how to power off", Options: []runtime.Option{
			{Name: "hard", Type: "boolean", Default: "true", Doc: "true cuts power; false asks the guest to shut down"},
			{Name: "timeout", Type: "number", Default: "300", Doc: "seconds to wait"},
		}}}, Doc: "Powers the VM off and waits.", Fn: luaPower("off")},
		{Name: "shutdown", Args: []runtime.Arg{{Name: "options", Type: "table", Optional: true, Doc: "how long to wait", Options: []runtime.Option{
			{Name: "timeout", Type: "number", Default: "300", Doc: "seconds to wait for the guest"},
		}}}, Doc: "Asks the guest OS to shut down (VMware Tools) and waits until the VM is off.", Fn: luaPower("shutdown")},
		{Name: "suspend", Doc: "Suspends the VM and waits.", Fn: luaPower("suspend")},
		{Name: "unregister", Doc: "Removes the VM from the inventory and keeps its files on the datastore (as vcbRestore's overwrite or a restore drill needs). Refused while the VM is powered on.", Fn: luaRemove(false)},
		{Name: "destroy", Doc: "Deletes the VM and its files from the datastore, for restore drills that clean up after themselves. Refused while the VM is powered on, and for a VM with snapshots this run did not create.", Fn: luaRemove(true)},
		{Name: "pending_question", Returns: "table|nil", Doc: "Returns the question the VM waits on, {id=, text=, choices={labels...}, message_ids={...}}, or nil.", Fn: luaPendingQuestion},
		{Name: "answer_question", Args: []runtime.Arg{{Name: "question", Type: "table", Doc: "as pending_question returned it"}, {Name: "choice", Type: "number|string", Doc: "0-based index, or the choice's label (ESXi: button.uuid.movedTheVM) or summary (I Moved It)"}},
			Doc: "Answers the VM's pending question, logged as \"answered a question\" with by=script; in a dry run nothing is answered. Raises invalid_state when the question is no longer pending (answered or withdrawn) and invalid_argument when the choice does not exist.", Fn: luaAnswerQuestion},
	}
	TaskType.Methods = []runtime.Func{
		{Name: "wait", Doc: "Waits for the task to finish; raises its error if it failed.", Fn: luaTaskWait},
	}
}

// RunConn returns the run's current vSphere connection: the default
// profile, or the one the script chose with vm.connect.
func RunConn(r *runtime.Run) (*Conn, error) {
	return Connect(r, Profile(r))
}

// profileKey holds the profile vm.connect chose.
var profileKey = runtime.NewKey[string]("vm.profile")

// Profile returns the vSphere profile the script chose with vm.connect,
// "" for the default.
func Profile(r *runtime.Run) string {
	p, _ := profileKey.Get(r)
	return p
}

func self(r *runtime.Run, L *lua.LState) *VM { return r.CheckObject(L, 1, VMType).(*VM) }

func luaOpen(r *runtime.Run, L *lua.LState) int {
	raw := L.CheckString(1)
	spec, err := ParseSpec(raw)
	if err != nil {
		return r.RaiseCode(L, runtime.CodeInvalidArg, "%v", err)
	}
	if !spec.single() {
		return r.RaiseCode(L, runtime.CodeInvalidArg, "vm.open(%q) takes a specifier naming one VM (a .vmx path, or a term name: without wildcards, uuid:, ipaddr: or moref:); use vm.find for the others", raw)
	}
	c, err := RunConn(r)
	if err != nil {
		return r.Raise(L, err)
	}
	v, err := c.Open(r.Context(), spec, raw)
	if err != nil {
		return r.Raise(L, err)
	}
	if v == nil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(r.NewObject(L, VMType, v))
	return 1
}

func luaFind(r *runtime.Run, L *lua.LState) int {
	raw := L.CheckString(1)
	spec, err := ParseSpec(raw)
	if err != nil {
		return r.RaiseCode(L, runtime.CodeInvalidArg, "%v", err)
	}
	c, err := RunConn(r)
	if err != nil {
		return r.Raise(L, err)
	}
	found, err := c.Find(r.Context(), spec)
	if err != nil {
		return r.Raise(L, err)
	}
	t := L.NewTable()
	for _, x := range found {
		v, err := c.newVM(r.Context(), x.Self)
		if err != nil {
			return r.Raise(L, err)
		}
		t.Append(r.NewObject(L, VMType, v))
	}
	L.Push(t)
	return 1
}

func luaRegistered(r *runtime.Run, L *lua.LState) int {
	c, err := RunConn(r)
	if err != nil {
		return r.Raise(L, err)
	}
	paths, err := c.Registered(r.Context())
	if err != nil {
		return r.Raise(L, err)
	}
	t := L.NewTable()
	for _, p := range paths {
		t.Append(lua.LString(p))
	}
	L.Push(t)
	return 1
}

func luaConnect(r *runtime.Run, L *lua.LState) int {
	profile := L.CheckString(1)
	if _, err := Connect(r, profile); err != nil {
		return r.Raise(L, err)
	}
	profileKey.Set(r, profile)
	return 0
}

func luaCleanupOrphans(r *runtime.Run, L *lua.LState) int {
	var done []Cleaned
	var err error
	switch a := L.Get(1).(type) {
	case *lua.LTable, *lua.LUserData:
		var vms []*VM
		if v, ok := runtime.IsObject(L, a, VMType); ok {
			vms = append(vms, v.(*VM))
		} else if t, ok := a.(*lua.LTable); ok {
			for i := 1; i <= t.Len(); i++ {
				v, ok := runtime.IsObject(L, t.RawGetInt(i), VMType)
				if !ok {
					L.ArgError(1, fmt.Sprintf("element %d of the list is not a VM: give a specifier, a VM or a list of VMs", i))
				}
				vms = append(vms, v.(*VM))
			}
		} else {
			L.ArgError(1, "a specifier, a VM or a list of VMs expected")
		}
		done, err = CleanupOrphansOf(r, vms)
	default:
		raw := L.OptString(1, "any:")
		spec, perr := ParseSpec(raw)
		if perr != nil {
			return r.RaiseCode(L, runtime.CodeInvalidArg, "%v", perr)
		}
		c, cerr := RunConn(r)
		if cerr != nil {
			return r.Raise(L, cerr)
		}
		done, err = c.CleanupOrphans(r, spec, nil)
	}
	out := L.NewTable()
	for _, o := range done {
		e := L.NewTable()
		e.RawSetString("vm", lua.LString(o.VM))
		e.RawSetString("snapshot", lua.LString(o.Snapshot))
		if r.DryRun {
			e.RawSetString("dry_run", lua.LTrue)
		}
		out.Append(e)
	}
	if err != nil {
		return r.Raise(L, err)
	}
	L.Push(out)
	return 1
}

func vmField(r *runtime.Run, L *lua.LState, o any, key string) lua.LValue {
	v := o.(*VM)
	m := v.MO()
	switch key {
	case "name":
		return lua.LString(m.Name)
	case "uuid":
		return lua.LString(m.Config.Uuid)
	case "instance_uuid":
		return lua.LString(m.Config.InstanceUuid)
	case "moref":
		return lua.LString(v.Ref.Value)
	case "power":
		return lua.LString(v.Power())
	case "host":
		v.mu.Lock()
		defer v.mu.Unlock()
		return lua.LString(v.hostName)
	case "vmx":
		return lua.LString(m.Config.Files.VmPathName)
	case "datastores":
		t := L.NewTable()
		v.mu.Lock()
		for _, d := range v.dsNames {
			t.Append(lua.LString(d))
		}
		v.mu.Unlock()
		return t
	case "ip":
		if m.Guest != nil && m.Guest.IpAddress != "" {
			return lua.LString(m.Guest.IpAddress)
		}
		return lua.LNil
	}
	return nil
}

func luaCBTReset(r *runtime.Run, L *lua.LState) int {
	if err := self(r, L).ResetCBT(r); err != nil {
		return r.Raise(L, err)
	}
	return 0
}

func luaRefresh(r *runtime.Run, L *lua.LState) int {
	if err := self(r, L).Refresh(r.Context()); err != nil {
		return r.Raise(L, err)
	}
	return 0
}

func luaGetConfig(r *runtime.Run, L *lua.LState) int {
	v := self(r, L)
	if val, ok := v.GetConfig(L.CheckString(2)); ok {
		L.Push(lua.LString(val))
	} else {
		L.Push(lua.LNil)
	}
	return 1
}

// DiskTable renders a disk for Lua.
func DiskTable(L *lua.LState, d Disk) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("id", lua.LString(d.ID))
	t.RawSetString("path", lua.LString(d.Path))
	t.RawSetString("base", lua.LString(d.BasePath))
	t.RawSetString("mode", lua.LString(d.Mode))
	t.RawSetString("capacity", lua.LNumber(d.Capacity))
	t.RawSetString("datastore", lua.LString(d.Datastore))
	t.RawSetString("thin", lua.LBool(d.Thin))
	if d.RDM != "" {
		t.RawSetString("rdm", lua.LString(d.RDM))
	} else {
		t.RawSetString("rdm", lua.LFalse)
	}
	t.RawSetString("frozen", lua.LBool(d.Frozen()))
	t.RawSetString("encrypted", lua.LBool(d.KeyID != ""))
	if d.KeyID != "" {
		t.RawSetString("key_id", lua.LString(d.KeyID))
	}
	return t
}

func luaDisks(r *runtime.Run, L *lua.LState) int {
	t := L.NewTable()
	for _, d := range self(r, L).Disks() {
		t.Append(DiskTable(L, d))
	}
	L.Push(t)
	return 1
}

func luaSnapshots(r *runtime.Run, L *lua.LState) int {
	v := self(r, L)
	m := v.MO()
	var current types.ManagedObjectReference
	out := L.NewTable()
	if m.Snapshot == nil {
		L.Push(out)
		return 1
	}
	if m.Snapshot.CurrentSnapshot != nil {
		current = *m.Snapshot.CurrentSnapshot
	}
	var conv func([]types.VirtualMachineSnapshotTree) *lua.LTable
	conv = func(ts []types.VirtualMachineSnapshotTree) *lua.LTable {
		l := L.NewTable()
		for _, s := range ts {
			t := L.NewTable()
			t.RawSetString("name", lua.LString(s.Name))
			t.RawSetString("description", lua.LString(s.Description))
			t.RawSetString("id", lua.LString(s.Snapshot.Value))
			t.RawSetString("created", lua.LNumber(s.CreateTime.Unix()))
			t.RawSetString("current", lua.LBool(s.Snapshot == current))
			t.RawSetString("vmlua", lua.LBool(strings.HasPrefix(s.Name, SnapshotPrefix)))
			t.RawSetString("children", conv(s.ChildSnapshotList))
			l.Append(t)
		}
		return l
	}
	L.Push(conv(m.Snapshot.RootSnapshotList))
	return 1
}

func luaRedoDepth(r *runtime.Run, L *lua.LState) int {
	v := self(r, L)
	d, err := v.Disk(L.CheckString(2))
	if err != nil {
		return r.Raise(L, err)
	}
	L.Push(lua.LNumber(len(d.Chain) - 1))
	return 1
}

func optBool(L *lua.LState, t *lua.LTable, key string, def bool) bool {
	if t == nil {
		return def
	}
	switch v := t.RawGetString(key).(type) {
	case lua.LBool:
		return bool(v)
	case *lua.LNilType:
		return def
	default:
		L.RaiseError("option %s: boolean expected, got %s", key, v.Type().String())
	}
	return def
}

func optTable(L *lua.LState, n int) *lua.LTable {
	if t, ok := L.Get(n).(*lua.LTable); ok {
		return t
	}
	if L.Get(n) != lua.LNil {
		L.ArgError(n, "table of options expected")
	}
	return nil
}

func luaAddRedo(r *runtime.Run, L *lua.LState) int {
	v := self(r, L)
	disk := L.CheckString(2)
	o := optTable(L, 3)
	name, err := v.AddRedo(r, disk, RedoOptions{Quiesce: optBool(L, o, "quiesce", false), Memory: optBool(L, o, "memory", false), Keep: optBool(L, o, "keep", false)})
	if err != nil {
		return r.Raise(L, withDisk(err, v, disk))
	}
	L.Push(lua.LString(name))
	return 1
}

func luaCommit(r *runtime.Run, L *lua.LState) int {
	v := self(r, L)
	disk := L.CheckString(2)
	level := L.CheckInt(3)
	if level != 0 && level != 1 {
		L.ArgError(3, "level must be 0 (the last REDO) or 1 (the older of the last two)")
	}
	_ = L.OptInt(4, 0) // freeze: vSphere decides stunning itself
	wait := L.OptInt(5, 1) != 0
	task, err := v.Commit(r, disk, level, wait)
	if err != nil {
		return r.Raise(L, withDisk(err, v, disk))
	}
	if task != nil {
		L.Push(r.NewObject(L, TaskType, &pendingTask{task: task, vm: v, what: "commit of " + disk}))
		return 1
	}
	return 0
}

type pendingTask struct {
	task *CommitTask
	vm   *VM
	what string
}

func luaTaskWait(r *runtime.Run, L *lua.LState) int {
	t := r.CheckObject(L, 1, TaskType).(*pendingTask)
	_, err := t.vm.waitTask(r, t.task.Task, t.what)
	if r.Context().Err() == nil {
		// The task is over (done, or failed with its error raised here),
		// not abandoned by a stopped run: after a success the cleanup need
		// not wait again; after a failure it commits the REDO at the end.
		t.task.Waited(err)
	}
	if err != nil {
		return r.Raise(L, err)
	}
	_ = t.vm.Refresh(r.Context())
	return 0
}

func luaExport(r *runtime.Run, L *lua.LState) int {
	v := self(r, L)
	disk := L.CheckString(2)
	o := optTable(L, 4)
	var opts ExportOptions
	cred := ""
	if o != nil {
		opts.Name = lua.LVAsString(o.RawGetString("name"))
		cred = lua.LVAsString(o.RawGetString("credentials"))
		opts.SHA256 = lua.LVAsBool(o.RawGetString("sha256"))
	}
	h, err := modtransport.Dest(r, L, 3, cred)
	if err != nil {
		return r.Raise(L, withDisk(err, v, disk))
	}
	res, err := v.Export(r, disk, h.T, opts)
	if err != nil {
		return r.Raise(L, withDisk(err, v, disk))
	}
	t := L.NewTable()
	t.RawSetString("path", lua.LString(res.Path))
	t.RawSetString("descriptor", lua.LString(res.Descriptor))
	t.RawSetString("bytes", lua.LNumber(res.Bytes))
	if res.SHA256 != "" {
		t.RawSetString("sha256", lua.LString(res.SHA256))
	}
	if res.SpansRoot != "" || res.DryRun {
		t.RawSetString("spans_root", lua.LString(res.SpansRoot))
	}
	if res.DryRun {
		t.RawSetString("dry_run", lua.LTrue)
	}
	L.Push(t)
	return 1
}

// withDisk fills in the VM and disk of an error that lacks them.
func withDisk(err error, v *VM, disk string) error {
	e := runtime.Wrap(err, runtime.CodeVSphere)
	if e.VM == "" {
		e.VM = v.Name()
	}
	if e.Disk == "" {
		e.Disk = disk
	}
	return e
}

func luaPower(op string) func(r *runtime.Run, L *lua.LState) int {
	return func(r *runtime.Run, L *lua.LState) int {
		v := self(r, L)
		o := optTable(L, 2)
		timeout := 300 * time.Second
		if o != nil {
			if n, ok := o.RawGetString("timeout").(lua.LNumber); ok {
				timeout = time.Duration(float64(n) * float64(time.Second))
			}
		}
		if op == "off" && !optBool(L, o, "hard", true) {
			op = "shutdown"
		}
		if err := v.PowerOp(r, op, timeout); err != nil {
			return r.Raise(L, err)
		}
		return 0
	}
}

// PowerOp changes the power state: on, off, shutdown (guest), suspend.
func (v *VM) PowerOp(r *runtime.Run, op string, timeout time.Duration) error {
	ctx := r.Context()
	if r.DryRunAction("power "+op, "vm", v.Name()) {
		return nil
	}
	var task *object.Task
	var err error
	switch op {
	case "on":
		task, err = v.Obj.PowerOn(ctx)
	case "off":
		task, err = v.Obj.PowerOff(ctx)
	case "suspend":
		task, err = v.Obj.Suspend(ctx)
	case "shutdown":
		_, err := v.Shutdown(r, timeout)
		return err
	}
	if err != nil {
		return vsphereErr(err, v.Name(), "power "+op)
	}
	if _, err := v.waitTask(r, task, "power "+op); err != nil {
		return err
	}
	return v.Refresh(ctx)
}

// Shutdown asks the guest to shut down (VMware Tools) and waits up to
// timeout for the VM to be off. asked says the guest accepted the request:
// after a failure (the wait ended by the timeout, or by the run's end) it
// may still be on its way down.
func (v *VM) Shutdown(r *runtime.Run, timeout time.Duration) (asked bool, err error) {
	ctx := r.Context()
	if r.DryRunAction("power shutdown", "vm", v.Name()) {
		return false, nil
	}
	if err := v.Obj.ShutdownGuest(ctx); err != nil {
		return false, vsphereErr(err, v.Name(), "shut the guest down (does it run VMware Tools?)")
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := v.Obj.WaitForPowerState(wctx, types.VirtualMachinePowerStatePoweredOff); err != nil {
		if ctx.Err() != nil {
			return true, vsphereErr(ctx.Err(), v.Name(), "wait for the guest to shut down")
		}
		return true, &runtime.Error{Code: runtime.CodeTimeout, VM: v.Name(), Message: fmt.Sprintf("the guest did not shut down within %v; power it off with power_off{hard=true}", timeout), Err: err}
	}
	return true, v.Refresh(ctx)
}

// PowerOnAgain powers on a VM that vmlua shut down (v:backup's
// power_off=true), on ctx: a cleanup's own context (runtime.RunCleanup),
// never the run's, which a timeout or signal may have ended. A VM that is
// still on was not shut down, or is still on its way down after the guest
// accepted a shutdown: then it waits up to settle for it to be off before
// powering it on, and leaves a guest that stays up alone. A question that
// blocks the power-on is answered by the run's policy, as v:power_on's.
func (v *VM) PowerOnAgain(ctx context.Context, r *runtime.Run, settle time.Duration) error {
	state, err := v.powerState(ctx)
	if err != nil {
		return err
	}
	if state == types.VirtualMachinePowerStatePoweredOn && settle > 0 {
		wctx, cancel := context.WithTimeout(ctx, settle)
		err := v.Obj.WaitForPowerState(wctx, types.VirtualMachinePowerStatePoweredOff)
		cancel()
		if err != nil && ctx.Err() != nil {
			return vsphereErr(ctx.Err(), v.Name(), "wait for the guest to shut down before powering it on again")
		}
		if state, err = v.powerState(ctx); err != nil {
			return err
		}
	}
	if state != types.VirtualMachinePowerStatePoweredOff {
		return nil // on (the guest stayed up), or suspended by someone else
	}
	task, err := v.Obj.PowerOn(ctx)
	if err != nil {
		return vsphereErr(err, v.Name(), "power on")
	}
	if _, err := v.waitTaskOn(ctx, r, task, "power on"); err != nil {
		return err
	}
	r.Log.Info("the VM is powered on again", "vm", v.Name())
	return v.Refresh(ctx)
}

// powerState reads the VM's power state afresh.
func (v *VM) powerState(ctx context.Context) (types.VirtualMachinePowerState, error) {
	var m mo.VirtualMachine
	if err := v.Obj.Properties(ctx, v.Ref, []string{"runtime.powerState"}, &m); err != nil {
		return "", vsphereErr(err, v.Name(), "read the power state")
	}
	return m.Runtime.PowerState, nil
}

// Remove unregisters the VM, or destroys it with its files. A running
// VM is refused.
func (v *VM) Remove(r *runtime.Run, destroy bool) error {
	ctx := r.Context()
	if err := v.Refresh(ctx); err != nil {
		return err
	}
	what := map[bool]string{false: "unregister", true: "destroy"}[destroy]
	if v.Power() != "off" {
		return &runtime.Error{Code: runtime.CodeInvalidState, VM: v.Name(), Message: fmt.Sprintf("cannot %s a VM that is %s: power it off first (v:power_off())", what, map[string]string{"on": "running", "suspended": "suspended"}[v.Power()])}
	}
	if destroy {
		if s := v.MO().Snapshot; s != nil && len(s.RootSnapshotList) > 0 {
			return &runtime.Error{Code: runtime.CodeInvalidState, VM: v.Name(), Message: "the VM has snapshots: destroy would delete them too; remove them first if that is meant"}
		}
	}
	if r.DryRunAction(what+" the VM", "vm", v.Name()) {
		return nil
	}
	if !destroy {
		if err := v.Obj.Unregister(ctx); err != nil {
			return vsphereErr(err, v.Name(), "unregister the VM")
		}
	} else {
		task, err := v.Obj.Destroy(ctx)
		if err != nil {
			return vsphereErr(err, v.Name(), "destroy the VM")
		}
		if _, err := v.waitTask(r, task, "destroy the VM"); err != nil {
			return err
		}
	}
	r.Log.Warn("VM "+what+"ed", "vm", v.Name())
	return nil
}

func luaRemove(destroy bool) func(r *runtime.Run, L *lua.LState) int {
	return func(r *runtime.Run, L *lua.LState) int {
		if err := self(r, L).Remove(r, destroy); err != nil {
			return r.Raise(L, err)
		}
		return 0
	}
}
