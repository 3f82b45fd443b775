package backup

import (
	"fmt"

	"github.com/vmlua/vmlua/internal/pcomp"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/retention"
	"github.com/vmlua/vmlua/modules/backup/sets"
	modtransport "github.com/vmlua/vmlua/modules/transport"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	lua "github.com/yuin/gopher-lua"
)

// Module is the "backup" Lua module.
var Module = &runtime.Module{
	Name:    "backup",
	Summary: "Backup sets with a catalog: v:backup, list, verify, restore, prune, and vmx (vmxBackup.pl).",
	Doc: "`v:backup{to=...}` writes a set `<target>/<vm name>/<UTC timestamp>/`; its `catalog.json` is written last and atomically, " +
		"so a set without it is incomplete. Sets are identified by `VM/TIMESTAMP` (the set's `id`). " +
		"The schema of the catalog is in docs/catalog.md, the guide in docs/backup.md.",
}

// VMMethods are the methods the backup module adds to the vm module's VM
// type (v:backup); modules/all registers them (runtime.Extend).
var VMMethods []runtime.Func

// Option declarations several functions share (runtime.Option).
var (
	optCredentials = runtime.Option{Name: "credentials", Type: "string", Doc: "named credentials from the config, for a URL"}
	optVM          = runtime.Option{Name: "vm", Type: "string", Doc: "a VM name"}
	optHostSets    = runtime.Option{Name: "host", Type: "string", Doc: "a host name: its configuration sets (h:backup) instead of a VM's"}
	optSet         = runtime.Option{Name: "set", Type: "string", Doc: `a set id such as "DB01/20260102T150405Z", or "latest" (with vm=): the newest complete set`}
	// PolicyOption is the retention a prune keeps (host's h:backup
	// takes it too).
	PolicyOption = runtime.Option{Name: "policy", Type: "table", Doc: "grandfather-father-son retention (restic's ExpirePolicy): how many sets to keep by each rule", Options: []runtime.Option{
		{Name: "last", Type: "integer", Doc: "the last N sets"},
		{Name: "daily", Type: "integer", Doc: "the newest set of each of the last N days that have one"},
		{Name: "weekly", Type: "integer", Doc: "the newest set of each of the last N weeks that have one"},
		{Name: "monthly", Type: "integer", Doc: "the newest set of each of the last N months that have one"},
		{Name: "yearly", Type: "integer", Doc: "the newest set of each of the last N years that have one"},
	}}
	// EncryptOption is v:backup's encryption.
	EncryptOption = runtime.Option{Name: "encrypt", Type: "boolean|table", Doc: "false: not encrypted; true: encrypted to the config's [encryption] recipients (none: refused); a table: encrypted to these recipients", Options: []runtime.Option{
		{Name: "recipients", Type: "{string}|string", Required: true, Doc: "age public keys (age1..., from age-keygen -y): each one's private key can restore the set"},
	}}
	// KeepOption is ghettoVCB's rotation: keep the last N sets.
	KeepOption = runtime.Option{Name: "keep", Type: "integer", Doc: "keep the last N sets (ghettoVCB's rotation)"}
)

// target declares the required option naming a target.
func target(name, doc string) runtime.Option {
	return runtime.Option{Name: name, Type: "Transport|string", Required: true, Doc: doc}
}

// optionsArg is the table of options a function takes.
func optionsArg(opts ...runtime.Option) []runtime.Arg {
	return []runtime.Arg{{Name: "options", Type: "table", Doc: "a table of options (below)", Options: opts}}
}

func init() {
	at := target("at", "the target: a Transport or a granted URL")
	Module.Funcs = []runtime.Func{
		{Name: "list", Args: optionsArg(at, runtime.Option{Name: "vm", Type: "string", Doc: "a VM name (default: every VM)"}, optHostSets, optCredentials), Returns: "table",
			Doc: "Lists the sets on a target, oldest first: {id=, vm=, time= (Unix seconds), complete=, size= (bytes), files=, mode= (full, incremental, synthetic), parent= (an incremental's parent set id), status= (\"ok\", or \"partial\" for a set lacking a disk; absent for an incomplete set), encrypted= (true for an encrypted set)}. " +
				"A set without its catalog is listed with complete=false.", Fn: luaList},
		{Name: "verify", Args: optionsArg(at, runtime.Option{Name: "set", Type: "string", Doc: `a set id, or "latest" (with vm= or host=)`}, optVM, optHostSets, optCredentials), Returns: "table",
			Doc: "Re-reads every file of a set, checks its size and sha256 against the catalog and decodes every disk image; " +
				"for an incremental it checks the whole chain its point needs (every set back to the full, that each exists and is complete, and that each layer was made on the one below). " +
				"Returns {ok=, id=, files=, bytes=, chain={set ids, full first} (incrementals), problems={ {file=, problem=}, ... }} (a problem in another set of the chain names its file as SET/FILE). " +
				"It also applies every check restore applies to a catalog (the VM name as a folder on a datastore, disk ids, the names of the files restore writes, disk sizes against vSphere's 62 TiB limit), so that ok=true means restore takes the set. " +
				"An encrypted set's catalog is authenticated and its files decrypted and decoded with the run's identity (--identity); without one (a verify on the backup host, which holds only public keys) its stored bytes are checked against its catalog only, " +
				"a warning says so and the result has encrypted=true, authenticated=false (true when the identity checked every encrypted set). " +
				"It does not raise for mismatches: check ok.", Fn: luaVerify},
		{Name: "restore", Args: optionsArg(
			target("from", "where the set is: a Transport or a granted URL"), optSet, optVM,
			runtime.Option{Name: "datastore", Type: "string", Doc: "the datastore every file goes to (default: the original)"},
			runtime.Option{Name: "folder", Type: "string", Doc: "inventory path of the VM folder (default: the original)"},
			runtime.Option{Name: "pool", Type: "string", Doc: "inventory path of the resource pool (default: the original)"},
			runtime.Option{Name: "host", Type: "string", Doc: "the host to register the VM on (default: the original)"},
			runtime.Option{Name: "name", Type: "string", Doc: "the restored VM's name (default: the original)"},
			runtime.Option{Name: "catalog", Type: "table|string", Doc: "an alternate catalog: a table, or a path on the target (vcbRestore -a)"},
			runtime.Option{Name: "on_conflict", Type: "string", Enum: []string{ConflictAbort, ConflictKeep, ConflictOverwrite}, Default: `"abort"`, Doc: "what to do when a VM of that name exists"},
			runtime.Option{Name: "power_on", Type: "boolean", Default: "false", Doc: "power the restored VM on"},
			runtime.Option{Name: "force", Type: "boolean", Default: "false", Doc: "restore an incomplete set"},
			runtime.Option{Name: "keep_failed", Type: "boolean", Default: "false", Doc: "when the restore fails once its files are in place (registering or powering on), keep the files (the VM is unregistered all the same)"},
			optCredentials), Returns: "VM|nil, table",
			Doc: "Restores a set (vcbRestore): uploads its files to the datastore (disk images decompressed on the fly and checked against the catalog), " +
				"rewrites the paths in the .vmx, registers the VM in the folder and pool and returns it. An incremental set is restored by applying its chain (the full and every incremental up to it) on the fly, in one pass, every layer checked. Without overrides it restores to the original location and name. " +
				"Before anything is written it refuses (invalid_argument) what backup.verify reports (a name that cannot be a VM's folder on a datastore: control characters, .., [ ], * ?, /, \\, %, white space at either end, more than 80 characters; a bad disk id; a disk over 62 TiB) " +
				"and (conflict) a set the datastore cannot hold: a disk over the datastore's largest file, or more bytes than its free space (refreshed first; disks are written whole, thick). " +
				"A vSAN or vVols datastore (named, or the original by default) is refused (invalid_argument) before anything is written: its disks are objects the datastore file service cannot write; restore onto VMFS or NFS and move the VM with Storage vMotion. " +
				"on_conflict decides what happens when a VM of exactly that name exists: abort raises a conflict error, keep returns the existing VM untouched, overwrite replaces it " +
				"(only when it is powered off; it is unregistered only after the new files are complete). An incomplete set is refused unless force=true. " +
				"The VM is registered on host= when it can run a VM (connected, not in maintenance mode nor standby, seeing the datastore), which is refused by name and reason otherwise, before anything is written; " +
				"without host=, on the original host if it can, else on the first host of the resource pool's cluster that can (none: conflict, before anything is written). " +
				"A restore that fails once its files are in place (registering, or power_on) undoes itself: the VM it registered is unregistered and the folder it wrote removed " +
				"(kept with keep_failed=true), so that nothing of it is left and a re-run meets no conflict; the error says what was undone. " +
				"vSphere faults are reported by their meaning and what to do, never by a type name. " +
				"Returns the VM (nil in a dry run) and a table {set=, status= (\"ok\" or \"partial\"), missing_disks={ {id=, path=, reason=}, ... }, dry_run=}: the disks the set does not hold (skipped or excluded when it was made) are not in the restored VM (present=FALSE in its .vmx), and a warning names them.", Fn: luaRestore},
		{Name: "restore_disk", Args: optionsArg(
			target("from", "where the set is: a Transport or a granted URL"), optSet, optVM,
			runtime.Option{Name: "disk", Type: "string", Required: true, Doc: `the disk of the set, e.g. "scsi0:1"`},
			runtime.Option{Name: "into", Type: "VM", Required: true, Doc: "the existing VM that gets the disk (vm.open)"},
			runtime.Option{Name: "replace", Type: "string", Doc: "a disk of that VM the restored disk replaces (the VM must be powered off); default: attached as a new disk"},
			runtime.Option{Name: "datastore", Type: "string", Doc: "the datastore the disk's files go to, in the VM's folder (default: the datastore of its .vmx)"},
			optCredentials), Returns: "table",
			Doc: "Restores one disk of a set into an existing VM: its image (an incremental's chain applied on the fly, every layer checked) is written as a new disk in the VM's folder, NAME_restored_DISK_TIME.vmdk, with a UUID of its own (a new ddb.uuid), then attached to the VM: " +
				"as a new disk on the first free unit of the controller of its first disk, or, with replace=, in place of that disk on the same unit, with its mode. " +
				"A disk is replaced only while the VM is powered off (invalid_state otherwise: the guest would lose the disk under its feet; attach it as a new disk instead) and has no snapshot; the replaced disk's files stay on the datastore. " +
				"A failure after the files were written removes them, and the VM is not changed. Returns {id= (the disk's id on the VM), path=, replaced= (the replaced disk's path), set=}; in a dry run nothing is written and id is nil.", Fn: luaRestoreDisk},
		{Name: "prune", Args: optionsArg(at,
			runtime.Option{Name: "vm", Type: "string", Doc: "the VM whose sets are pruned (vm= or host= is required)"},
			runtime.Option{Name: "host", Type: "string", Doc: "a host whose configuration sets are pruned, instead of vm="},
			KeepOption, PolicyOption,
			runtime.Option{Name: "dry_run", Type: "boolean", Default: "false", Doc: "only list what would be removed"},
			optCredentials), Returns: "table",
			Doc: "Removes the VM's sets that the retention does not keep: keep=N (ghettoVCB's rotation) and/or policy= (grandfather-father-son, restic's ExpirePolicy semantics). " +
				"Incomplete sets never count and go only when older than the newest complete set; the newest complete set is always kept; " +
				"nothing is pruned for a VM whose latest backup in this run failed; a kept incremental keeps every set of its chain (reason \"needed by ...\"): to let an old chain go, backup.synthesize the point you keep first. dry_run=true (or a dry run) only lists. " +
				"Returns {kept={ {id=, reason=} }, removed={ {id=, reason=} }, skipped=, dry_run=} (skipped: the VM's backup failed; dry_run: removed lists what would be removed, nothing was).", Fn: luaPrune},
		{Name: "synthesize", Args: optionsArg(at, optSet, optVM, optCredentials), Returns: "table",
			Doc: "Merges the chain of a set (its full and incrementals) into a new full set holding the same point, without touching vSphere: " +
				"the disks are rebuilt from the chain (every layer checked) and stored as full images, the other files copied. " +
				"The new set is named one second (or the first free second) after the source, has mode=\"synthetic\" and synthesized_from= the source's id, " +
				"and records the source's change ids, so the next incremental can build on it. Nothing is removed; prune afterwards. Returns the new catalog as a table (nil in dry-run).", Fn: luaSynthesize},
		{Name: "vmx", Args: optionsArg(
			runtime.Option{Name: "vm", Type: "VM", Required: true, Doc: "the VM (vm.open)"},
			target("to", "where the archive goes: a Transport or a granted URL"), optCredentials), Returns: "table",
			Doc: "The book's vmxBackup.pl: archives the VM's small files (.vmx, .nvram, .vmsd, .vmxf, logs) as <vm>/vmx/<vm>-<UTC time>.tar.gz on the target, " +
				"never overwriting an earlier archive. Returns {path=, bytes=, sha256=, files={names}}; in a dry run the archive is built but not written, and the table (the archive's that would be written) has dry_run=true.", Fn: luaVMX},
	}
	VMMethods = []runtime.Func{{
		Name: "backup",
		Args: optionsArg(
			target("to", "where the set goes: a Transport or a granted URL"),
			runtime.Option{Name: "compress", Type: "string", Enum: []string{pcomp.None, pcomp.Gzip, pcomp.Zstd}, Default: `"zstd"`, Doc: "how disk images are compressed"},
			runtime.Option{Name: "layered", Type: "boolean", Default: "true", Doc: "merge a big first REDO through a second one (below)"},
			runtime.Option{Name: "quiesce", Type: "boolean", Default: "false", Doc: "quiesce the guest file systems (VMware Tools) for the snapshot"},
			runtime.Option{Name: "disks", Type: "{string}|string", Doc: "the disk ids to back up (default: all)"},
			runtime.Option{Name: "exclude", Type: "{string}|string", Doc: "disk ids to leave out"},
			runtime.Option{Name: "power_off", Type: "boolean", Default: "false", Doc: "shut the guest down for the backup (a cold backup) and power it on again after"},
			runtime.Option{Name: "cbt", Type: "boolean", Default: "true", Doc: "read only the allocated areas when the VM tracks changed blocks"},
			runtime.Option{Name: "mode", Type: "string", Enum: []string{ModeFull, ModeIncremental, ModeAuto}, Default: `"full"`, Doc: "a full set, an incremental on the newest set, or auto (below)"},
			runtime.Option{Name: "chain_max", Type: "integer", Default: fmt.Sprint(DefaultChainMax), Doc: fmt.Sprintf("with mode=\"auto\": the longest chain (a full and %d incrementals)", DefaultChainMax-1)},
			runtime.Option{Name: "full_every", Type: "integer", Default: "0", Doc: "with mode=\"incremental\" or \"auto\": every Nth backup of the VM is a full (full_reason says so); 0: no such rule"},
			runtime.Option{Name: "verify_cbt", Type: "boolean", Default: "false", Doc: "make this set a verifying full: every disk read whole, and each span changed block tracking reports unchanged since the newest earlier set compared with that set's span digest (below)"},
			runtime.Option{Name: "break_lock", Type: "boolean", Default: "false", Doc: "take the VM folder's lock on the target even if another run holds it"},
			runtime.Option{Name: "keep", Type: "integer", Doc: "the retention the VM's sets are pruned with, for object lock (below): keep the last N sets"},
			runtime.Option{Name: "policy", Type: "table", Doc: "the retention the VM's sets are pruned with, for object lock (below), as backup.prune's policy=", Options: PolicyOption.Options},
			EncryptOption,
			optCredentials),
		Returns: "table",
		Doc: "Backs the VM up into a new set: freezes every disk at one instant (a REDO log), streams each frozen disk (zero regions left out, compressed on every core), " +
			"merges the REDO logs again (layered=true: through a second REDO that takes the writes while the first merges, when a disk's first REDO holds more than 16 MiB; one that holds less merges directly, as small as the second would be), copies the .vmx, .nvram, .vmsd, .vmxf and logs, and writes the catalog last. " +
			"RDMs (physical: vSphere cannot snapshot them; virtual: snapshotted, but their data stays on the LUN), encrypted disks (their files hold ciphertext), and independent disks of a running VM, are skipped before anything is frozen, with a warning saying why (also in the catalog's and the returned table's skipped=), and make the set's status=\"partial\" (\"ok\" when it holds every disk the script did not exclude); " +
			"a VM that is off while its disks are read (off already, or power_off=true) has its independent disks read like the others. " +
			"A VM with snapshots of its own is backed up as it is now: the backup's snapshot goes on top of the user's tree, the disks on the user's levels are read whole through that snapshot's NFC export lease (read=\"full\" in the catalog), and only vmlua's own snapshot is removed. " +
			"power_off=true shuts the guest down for the backup and powers it on again whatever ends the backup (an error, --timeout, SIGINT, SIGTERM). Returns the catalog as a table with path=, status= and, per disk, bytes= and sha256=. " +
			"In a dry run nothing is frozen, read or written: the disks are walked as in a real run (add_redo, export check, commit, each logged as \"dry run: would ...\", so a disk a real run could not export fails here too) " +
			"and it returns the plan in the same shape, with dry_run=true, complete=false, status=, and per disk id=, path=, capacity=, file=, bytes=0 and planned_bytes= (the bytes it would read). " +
			"On failure the partial set is removed and no REDO log is left. " +
			"mode=\"incremental\" stores only the areas changed since the newest complete set of the VM on the target (changed block tracking, from that set's change ids), " +
			"with parent= naming it; a first run, or one that cannot trust its base (no earlier set, a broken chain, a resized or replaced disk, tracking reset, a change id vSphere rejects), " +
			"makes a full instead and says why in a warning and in full_reason=. mode=\"auto\" is incremental but makes a full once the chain has chain_max sets. " +
			"Both enable changed block tracking on a VM that lacks it (with a warning: it takes effect after a snapshot cycle, so that run is a full), but never on a VM that has snapshots (VMware supports switching it on only without them, KB 1020128): that set is a full read without tracking, and the warning and full_reason say why. " +
			"full_every=N makes every Nth set of the VM a full, in both modes. " +
			"verify_cbt=true makes the set a verifying full: every disk read whole, and every 4 MiB span changed block tracking reports unchanged since the newest earlier set compared with that set's span digest (image_spans); a span that differs is a change tracking missed: an error in the log and disks[i].cbt_check.missed name it (restore from this set, and cbt_reset the VM). " +
			"Where vSphere answers one extent over the whole disk (NFS datastores), an incremental reads every byte but stores only the spans whose digest differs from its parent's; the disk's read=\"full\" and read_reason say so, and the log. " +
			"Each disk is read flat over the datastore's /folder where it can be, else (vSAN, vVols, a flat file /folder does not serve) through the snapshot's NFC export lease, streamOptimized, decoded as it streams (kept alive with progress reports, completed or aborted whatever happens); disks[i].read_path (\"folder\" or \"nfc\") and read_path_reason say which and why. " +
			"NFC has no changed areas: an incremental of such a disk reads the whole disk and stores only the spans that differ from its parent's (read=\"full\", differing_bytes). " +
			"On a target with object lock (s3:// with object_lock=governance|compliance) the complete set's files, and those of every set of its chain, are locked until the date its retention keeps it at the earliest " +
			"(keep=/policy=, the same the sets are pruned with: policy={daily=7} locks a set of the 10th until the 17th, 00:00 UTC; keep=N alone gives no date, so give policy= or the target's lock_days=, else the backup is refused before it starts); " +
			"neither the backup host nor anyone can delete or overwrite them before that date, and prune leaves them, saying until when (docs/security.md). " +
			"encrypt= (default: the config's [encryption] recipients, when it names any) encrypts every file of the set but its catalog, span by span after compression, under a data key made for the set and stored only wrapped to the recipients' age public keys: " +
			"the backup host needs no private key, and cannot read the set back; restore, verify's content check, backup.open_point and vmlua serve/mount/files need a recipient's private key (--identity, or identity in [encryption]). " +
			"The catalog is authenticated with the data key. Each set has its own data key; an incremental is encrypted as its own run says, whatever its parent is (a chain may mix encrypted and plain sets; docs/security.md).",
		Fn: luaBackup,
	}}
}

func dest(r *runtime.Run, L *lua.LState, o *lua.LTable, key string) *modtransport.Handle {
	h, err := openDest(r, L, o, key)
	if err != nil {
		r.Raise(L, err)
	}
	return h
}

// openDest opens the transport option key names (a handle or a URL).
func openDest(r *runtime.Run, L *lua.LState, o *lua.LTable, key string) (*modtransport.Handle, error) {
	v := o.RawGetString(key)
	if v == lua.LNil {
		L.RaiseError("option %s is required: a Transport (transport.open) or a granted URL", key)
	}
	cred := runtime.OptString(L, o, "credentials", "")
	L.Push(v)
	h, err := modtransport.Dest(r, L, L.GetTop(), cred)
	L.Pop(1)
	return h, err
}

func luaBackup(r *runtime.Run, L *lua.LState) int {
	v := r.CheckObject(L, 1, vm.VMType).(*vm.VM)
	o := runtime.OptionsTable(L, 2)
	h, err := openDest(r, L, o, "to")
	if err != nil {
		// A target that cannot be opened is this VM's failed backup: a
		// later prune in this run must leave its sets alone.
		sets.SetFailed(r, v.Name(), true)
		e := runtime.Wrap(err, runtime.CodeTransport)
		if e.VM == "" {
			e.VM = v.Name()
		}
		return r.Raise(L, e)
	}
	opts := Options{
		Compress:  runtime.OptString(L, o, "compress", pcomp.Zstd),
		Layered:   runtime.OptBool(L, o, "layered", true),
		Quiesce:   runtime.OptBool(L, o, "quiesce", false),
		PowerOff:  runtime.OptBool(L, o, "power_off", false),
		Disks:     runtime.OptStrings(L, o, "disks"),
		Exclude:   runtime.OptStrings(L, o, "exclude"),
		NoCBT:     !runtime.OptBool(L, o, "cbt", true),
		BreakLock: runtime.OptBool(L, o, "break_lock", false),
		Mode:      runtime.OptString(L, o, "mode", ModeFull),
		ChainMax:  runtime.OptInt(L, o, "chain_max", DefaultChainMax),
		FullEvery: runtime.OptInt(L, o, "full_every", 0),
		VerifyCBT: runtime.OptBool(L, o, "verify_cbt", false),
		Retention: policyOptions(L, o),
	}
	switch e := o.RawGetString("encrypt").(type) {
	case *lua.LNilType:
	case lua.LBool:
		opts.Encrypt, opts.NoEncrypt = bool(e), !bool(e)
	case *lua.LTable:
		opts.Encrypt, opts.Recipients = true, runtime.OptStrings(L, e, "recipients")
		if len(opts.Recipients) == 0 {
			L.RaiseError("option encrypt: recipients= is required: a list of age public keys (age1...)")
		}
	default:
		L.RaiseError("option encrypt: true, false or a table {recipients={...}} expected, got %s", e.Type().String())
	}
	cat, err := Backup(r, v, h.T, opts)
	if err != nil {
		return r.Raise(L, err)
	}
	L.Push(setTable(L, cat))
	return 1
}

func luaList(r *runtime.Run, L *lua.LState) int {
	o := runtime.OptionsTable(L, 1)
	h := dest(r, L, o, "at")
	list, err := sets.List(r.Context(), h.T, owner(L, o))
	if err != nil {
		return r.Raise(L, sets.TargetError(err, h.URL))
	}
	t := L.NewTable()
	for _, s := range list {
		e := L.NewTable()
		e.RawSetString("id", lua.LString(s.ID))
		e.RawSetString("vm", lua.LString(s.VM))
		e.RawSetString("time", lua.LNumber(s.Time.Unix()))
		e.RawSetString("complete", lua.LBool(s.Complete))
		e.RawSetString("size", lua.LNumber(s.Size))
		e.RawSetString("files", lua.LNumber(s.Files))
		if s.Catalog != nil {
			e.RawSetString("mode", lua.LString(orDefault(s.Catalog.Mode, "full")))
			e.RawSetString("status", lua.LString(s.Catalog.StatusOf()))
			if s.Catalog.Parent != "" {
				e.RawSetString("parent", lua.LString(s.Catalog.Parent))
			}
			if s.Catalog.Encryption != nil {
				e.RawSetString("encrypted", lua.LTrue)
			}
		}
		t.Append(e)
	}
	L.Push(t)
	return 1
}

func luaVerify(r *runtime.Run, L *lua.LState) int {
	o := runtime.OptionsTable(L, 1)
	h := dest(r, L, o, "at")
	id, err := ResolveSet(r, h, runtime.OptString(L, o, "set", ""), owner(L, o), false)
	if err != nil {
		return r.Raise(L, err)
	}
	res, err := sets.Verify(r, h.T, id)
	if err != nil {
		return r.Raise(L, err)
	}
	t := L.NewTable()
	t.RawSetString("ok", lua.LBool(res.OK))
	t.RawSetString("id", lua.LString(res.ID))
	t.RawSetString("files", lua.LNumber(res.Files))
	t.RawSetString("bytes", lua.LNumber(res.Bytes))
	ps := L.NewTable()
	for _, p := range res.Problems {
		e := L.NewTable()
		e.RawSetString("file", lua.LString(p.File))
		e.RawSetString("problem", lua.LString(p.Problem))
		ps.Append(e)
	}
	t.RawSetString("problems", ps)
	if res.Encrypted {
		t.RawSetString("encrypted", lua.LTrue)
		t.RawSetString("authenticated", lua.LBool(len(res.Unauthenticated) == 0))
	}
	if len(res.Chain) > 0 {
		ct := L.NewTable()
		for _, id := range res.Chain {
			ct.Append(lua.LString(id))
		}
		t.RawSetString("chain", ct)
	}
	L.Push(t)
	return 1
}

func luaRestore(r *runtime.Run, L *lua.LState) int {
	o := runtime.OptionsTable(L, 1)
	h := dest(r, L, o, "from")
	ro := RestoreOptions{
		Datastore:  runtime.OptString(L, o, "datastore", ""),
		Folder:     runtime.OptString(L, o, "folder", ""),
		Pool:       runtime.OptString(L, o, "pool", ""),
		Host:       runtime.OptString(L, o, "host", ""),
		Name:       runtime.OptString(L, o, "name", ""),
		OnConflict: runtime.OptString(L, o, "on_conflict", ConflictAbort),
		PowerOn:    runtime.OptBool(L, o, "power_on", false),
		Force:      runtime.OptBool(L, o, "force", false),
		KeepFailed: runtime.OptBool(L, o, "keep_failed", false),
	}
	id, err := ResolveSet(r, h, runtime.OptString(L, o, "set", ""), runtime.OptString(L, o, "vm", ""), !ro.Force)
	if err != nil {
		return r.Raise(L, err)
	}
	ro.Set = id
	switch c := o.RawGetString("catalog").(type) {
	case *lua.LNilType:
	case *lua.LTable:
		cat, err := catalogFromLua(c)
		if err != nil {
			return r.RaiseCode(L, runtime.CodeInvalidArg, "catalog=: %v", err)
		}
		ro.Catalog = cat
	case lua.LString:
		cat, err := sets.ReadCatalog(r.Context(), h.T, string(c))
		if err != nil {
			return r.Raise(L, &runtime.Error{Code: runtime.CodeInvalidArg, Path: string(c), Message: fmt.Sprintf("catalog=: cannot read the alternate catalog: %v", err), Err: err})
		}
		ro.Catalog = cat
	default:
		L.RaiseError("option catalog: a table or a path expected, got %s", c.Type().String())
	}
	v, cat, err := Restore(r, h.T, ro)
	if err != nil {
		return r.Raise(L, err)
	}
	if v == nil {
		L.Push(lua.LNil)
	} else {
		L.Push(r.NewObject(L, vm.VMType, v))
	}
	L.Push(restoreInfo(L, cat, r.DryRun))
	return 2
}

func luaRestoreDisk(r *runtime.Run, L *lua.LState) int {
	o := runtime.OptionsTable(L, 1)
	h := dest(r, L, o, "from")
	into, ok := o.RawGetString("into").(*lua.LUserData)
	if !ok {
		return r.RaiseCode(L, runtime.CodeInvalidArg, "backup.restore_disk: into= is required: the VM that gets the disk (vm.open)")
	}
	L.Push(into)
	v := r.CheckObject(L, L.GetTop(), vm.VMType).(*vm.VM)
	L.Pop(1)
	disk := runtime.OptString(L, o, "disk", "")
	if disk == "" {
		return r.RaiseCode(L, runtime.CodeInvalidArg, "backup.restore_disk: disk= is required: the disk of the set, e.g. \"scsi0:1\"")
	}
	id, err := ResolveSet(r, h, runtime.OptString(L, o, "set", ""), runtime.OptString(L, o, "vm", ""), true)
	if err != nil {
		return r.Raise(L, err)
	}
	res, err := RestoreDisk(r, h.T, RestoreDiskOptions{Set: id, Disk: disk, VM: v, Replace: runtime.OptString(L, o, "replace", ""), Datastore: runtime.OptString(L, o, "datastore", "")})
	if err != nil {
		return r.Raise(L, err)
	}
	t := L.NewTable()
	if res.ID != "" {
		t.RawSetString("id", lua.LString(res.ID))
	}
	t.RawSetString("path", lua.LString(res.Path))
	if res.Replaced != "" {
		t.RawSetString("replaced", lua.LString(res.Replaced))
	}
	t.RawSetString("set", lua.LString(res.Set))
	if r.DryRun {
		t.RawSetString("dry_run", lua.LTrue)
	}
	L.Push(t)
	return 1
}

// restoreInfo is restore's second result: the set restored, its status
// and the disks it does not hold.
func restoreInfo(L *lua.LState, cat *catalog.Catalog, dry bool) *lua.LTable {
	t := L.NewTable()
	missing := L.NewTable()
	if cat != nil {
		t.RawSetString("set", lua.LString(cat.ID))
		t.RawSetString("status", lua.LString(cat.StatusOf()))
		for _, s := range cat.Skipped {
			e := L.NewTable()
			e.RawSetString("id", lua.LString(s.ID))
			e.RawSetString("path", lua.LString(s.Path))
			e.RawSetString("reason", lua.LString(s.Reason))
			missing.Append(e)
		}
	}
	t.RawSetString("missing_disks", missing)
	if dry {
		t.RawSetString("dry_run", lua.LTrue)
	}
	return t
}

// policyOptions reads keep= and policy= (KeepOption, PolicyOption).
func policyOptions(L *lua.LState, o *lua.LTable) retention.Policy {
	var p retention.Policy
	p.Last = runtime.OptInt(L, o, "keep", 0)
	switch pt := o.RawGetString("policy").(type) {
	case *lua.LNilType:
	case *lua.LTable:
		if n := runtime.OptInt(L, pt, "last", 0); n > p.Last {
			p.Last = n
		}
		p.Daily, p.Weekly = runtime.OptInt(L, pt, "daily", 0), runtime.OptInt(L, pt, "weekly", 0)
		p.Monthly, p.Yearly = runtime.OptInt(L, pt, "monthly", 0), runtime.OptInt(L, pt, "yearly", 0)
	default:
		L.RaiseError("option policy: a table {last=, daily=, weekly=, monthly=, yearly=} expected")
	}
	return p
}

func luaPrune(r *runtime.Run, L *lua.LState) int {
	o := runtime.OptionsTable(L, 1)
	h := dest(r, L, o, "at")
	name := owner(L, o)
	if name == "" {
		L.RaiseError("option vm (or host) is required: the name of the VM (or host) whose sets are pruned")
	}
	p := policyOptions(L, o)
	if p.Empty() {
		L.RaiseError("give keep=N or policy={...}: without a rule only the newest set would be kept")
	}
	dry := runtime.OptBool(L, o, "dry_run", false)
	res, err := sets.Prune(r, h.T, name, p, dry)
	if err != nil {
		return r.Raise(L, err)
	}
	kept, removed := L.NewTable(), L.NewTable()
	for _, d := range res.Decisions {
		e := L.NewTable()
		e.RawSetString("id", lua.LString(d.Set.ID))
		e.RawSetString("reason", lua.LString(d.Reason))
		if d.Keep {
			kept.Append(e)
		} else {
			removed.Append(e)
		}
	}
	t := L.NewTable()
	t.RawSetString("kept", kept)
	t.RawSetString("removed", removed)
	t.RawSetString("skipped", lua.LBool(res.Skipped))
	t.RawSetString("dry_run", lua.LBool(dry || r.DryRun))
	L.Push(t)
	return 1
}

func luaVMX(r *runtime.Run, L *lua.LState) int {
	o := runtime.OptionsTable(L, 1)
	vv, ok := runtime.IsObject(L, o.RawGetString("vm"), vm.VMType)
	if !ok {
		L.RaiseError("option vm is required: a VM (vm.open)")
	}
	h := dest(r, L, o, "to")
	res, err := VMXArchive(r, vv.(*vm.VM), h.T)
	if err != nil {
		return r.Raise(L, err)
	}
	t := L.NewTable()
	t.RawSetString("path", lua.LString(res.Path))
	t.RawSetString("bytes", lua.LNumber(res.Bytes))
	t.RawSetString("sha256", lua.LString(res.SHA256))
	files := L.NewTable()
	for _, f := range res.Files {
		files.Append(lua.LString(f))
	}
	t.RawSetString("files", files)
	if res.DryRun {
		t.RawSetString("dry_run", lua.LTrue)
	}
	L.Push(t)
	return 1
}

// owner is the sets' owner the options name: vm=NAME, or host=NAME for a
// host's configuration sets (host/NAME).
func owner(L *lua.LState, o *lua.LTable) string {
	if h := runtime.OptString(L, o, "host", ""); h != "" {
		return catalog.HostPrefix + h
	}
	return runtime.OptString(L, o, "vm", "")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func luaSynthesize(r *runtime.Run, L *lua.LState) int {
	o := runtime.OptionsTable(L, 1)
	h := dest(r, L, o, "at")
	id, err := ResolveSet(r, h, runtime.OptString(L, o, "set", ""), runtime.OptString(L, o, "vm", ""), true)
	if err != nil {
		return r.Raise(L, err)
	}
	cat, err := sets.Synthesize(r, h.T, id)
	if err != nil {
		return r.Raise(L, err)
	}
	if cat == nil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(setTable(L, cat))
	return 1
}
