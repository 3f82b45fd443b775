---@meta _
-- vmlua's Lua API for lua-language-server (VS Code, Neovim): completion, hover docs and type checks.
-- Generated from the modules' registration (internal/cli/docgen); do not edit; run: go run ./cmd/vmlua docs
-- Setup: add this folder (editor/) to Lua.workspace.library; see editor/README.md.

---A vmlua error as pcall returns it; `tostring(err)` renders it as one line.
---@class vmlua.Error
---@field code "error"|"invalid_argument"|"not_found"|"ambiguous"|"not_granted"|"sandbox"|"timeout"|"canceled"|"vsphere"|"transport"|"auth"|"conflict"|"question"|"verify"|"invalid_state"|"config" what kind of failure (see docs/lua-api.md#errors)
---@field message string what happened and what to do
---@field vm? string the VM concerned
---@field disk? string the disk concerned
---@field path? string the path concerned
---@field where? string script:line where it was raised

---The script's arguments: positional ones as arg[1], arg[2], ...; key=value ones as arg.key.
---@type table<string|integer, string>
arg = {}

-- module log ---------------------------------------------------------

---Structured log lines: log.info(msg, {key=value, ...}).
---
---Each function writes one record at its level with the message and the fields of the optional table. `print(...)` writes to standard output, not to the log. Secrets are masked with `xxxxx` where they are written: the password of a URL (`sftp://user:xxxxx@host`) and the value of a field named like a credential (`password`, `db_password`, `token`, `secret`, ...); other text is written as it is.
---@class vmlua.log
local M_log = {}

---Writes a log record at debug level.
---@param message string what happened
---@param fields? table key/value pairs added to the record
function M_log.debug(message, fields) end

---Writes a log record at info level.
---@param message string what happened
---@param fields? table key/value pairs added to the record
function M_log.info(message, fields) end

---Writes a log record at warn level.
---@param message string what happened
---@param fields? table key/value pairs added to the record
function M_log.warn(message, fields) end

---Writes a log record at error level.
---@param message string what happened
---@param fields? table key/value pairs added to the record
function M_log.error(message, fields) end

-- module script ------------------------------------------------------

---The script's arguments, exit status and result rows: script.args{...}, script.status(s), script.exit(s), script.result{...}.
---
---A script declares the key=value arguments it takes with `script.args`, so that `vmlua run x.lua kepe=2` ends with exit status 2 (usage) and `unknown argument kepe (did you mean keep?)` instead of silently using the default. The global `arg` keeps working (arg[1..n] positional, arg.KEY as strings) for scripts that do not declare; every shipped script and example declares.
---
---A script written for `vmlua run --each` says so in its declaration: `vm = { each = true, help = "..." }`. --each hands every run its VM as vm=moref:vm-N, and refuses, before anything runs, a script whose source does not declare vm with each = true in a `script.args{...}` table (a script that ignored vm would do its whole job once per VM).
---
---A selection that matches nothing ends the script with `script.nothing_selected(message)`: exit 6, or 0 when the run was given allow_empty=true (declare it: `allow_empty = { type = "boolean", default = false }`) or --allow-empty.
---
---Exit statuses (docs/operations.md): a script that returns normally ends with 0 unless it set another with `script.status`; an error ends it with 1. The names a script may use are `ok` (0), `failed` (1), `nothing_selected` (6: the selection matched no VM) and `partial` (7: the run finished but left something out — a skipped disk, a question left for a person); any number 0..125 works too.
---
---`print` writes one line to standard output, tab-separated, as Lua's print does; logs go to stderr. With `vmlua run --json` the rows recorded by `script.result` and the final status are printed to stdout as one JSON object when the run ends — `{"script":..., "status":"ok", "exit":0, "results":[{...}, ...]}` — and `print` goes to stderr so that stdout stays valid JSON.
---@class vmlua.script
local M_script = {}

---@class vmlua.script.args.spec
---@field [string] vmlua.script.args.spec.entry the argument's declaration

---@class vmlua.script.args.spec.entry
---@field type? "string"|"number"|"boolean"|"list" what the value is converted to (default "string")
---@field default? any the value when the argument is not given
---@field required? boolean a run without it fails (default false)
---@field help? string what it is, for the error that lists the arguments
---@field each? boolean on vm only: the script is written for vmlua run --each, which hands every run its VM as vm= (default false)
---@field rest? boolean on the last argument of the positional list only: it takes every positional argument left, joined by spaces (a list: one item each), as a specifier's terms (default false)

---Parses the run's key=value arguments against spec and returns them: each declared key holds its value converted to its type (number; boolean from true/false, yes/no, on/off, 1/0; list from a comma-separated string, as a table of strings), or its default, or nil. Positional arguments fill, in order, the arguments the spec lists by name in its list part ({ "vm", vm = {...} }: `hot_backup.lua name:DB01` sets a.vm) that were not given as key=value, and stay at [1..n] too; the last of them may take every one left with rest = true (joined by spaces, as a specifier's terms: `vm_info.lua folder:prod powerstate:on`); a positional argument with no place (every script that lists none takes none) ends the script with exit status 2, naming the key=value argument it probably meant ("backup_all.lua takes no positional argument (got name:DB01): did you mean vms=name:DB01?"): ignored, it would have backed up every VM. An undeclared key ends the script at once with exit status 2 (usage), naming the closest declared one ("unknown argument kepe (did you mean keep?)"), as do a missing required argument and a value of the wrong type (a mistake in the spec itself is a script error, exit 1). Keys the host adds itself (vm and vm_name with --each, allow_empty with --allow-empty) are accepted without a declaration. each=true is allowed on vm only: it says the script works on the one VM vm= names, so vmlua run --each may run it once per VM.
---@param spec vmlua.script.args.spec one entry per key=value argument: name = {type=, default=, required=, help=}; vm = {each=true, ...} marks a script written for vmlua run --each; and, as its list part, the names of the arguments that may be given by position, in order: { "vm", "disk", vm = {...}, disk = {...} }
---@return table
function M_script.args(spec) end

---Ends the script now because its selection matched nothing: with exit status 6 (nothing_selected) and the message ("; give allow_empty=true if that is expected" added), or, when the run's arguments hold allow_empty=true (or vmlua run --allow-empty gave it), with 0 and the message logged. Like script.exit it stops the script at once and the cleanup stack runs. The one rule every shipped script and example follows: a typo in a selection must not look like a night of backups.
---@param message string what matched nothing, e.g. "no VM matches name:DB1: nothing was backed up"
---@return nil
function M_script.nothing_selected(message) end

---Sets the exit status the run ends with if the script then returns normally (the last call wins). An error raised later still ends the run with 1.
---@param status string|number "ok", "failed", "nothing_selected", "partial", or a number 0..125
---@return nil
function M_script.status(status) end

---Ends the script now with this status: it stops at once, whatever pcall it is in, and the cleanup stack runs (REDO logs are committed) as after any other end. Use it for an early, deliberate stop; errors are for failures.
---@param status string|number "ok", "failed", "nothing_selected", "partial", or a number 0..125
---@param message? string why, reported once: on stderr for a non-zero status, in the log otherwise
---@return nil
function M_script.exit(status, message) end

---Records one result row. With `vmlua run --json` the rows are printed as JSON when the run ends; `--summary=line` counts them by their status field. Nothing is printed otherwise: print a table of your own for people.
---@param row table a flat table: string keys; string, number or boolean values (e.g. vm=, target=, status=, bytes=, set=, message=)
---@return nil
function M_script.result(row) end

---Asks before starting the next VM whether the backup window still allows it: nil while it does (and always when the run has no window), else why not, as a message for the summary ("not started: the window 22:00-06:00 closed at 06:00 Tue"). The window is the occurrence the run started in (for a window the script names, the one that held when it first asked): once it closes nothing new should start, even if the run lasts until the window opens again; what runs goes on to its end. A run that began outside its window gets a message at once. A script lists the VMs it did not start and ends with `script.status("partial")` (exit 7), as the shipped backup scripts do; `vmlua run --each --window` does the same for the VMs it did not start.
---@param window? string START-END in local time, e.g. "22:00-06:00" (may cross midnight); default: the run's --window ([limits] window)
---@return string|nil
function M_script.window_closed(window) end

-- module vm ----------------------------------------------------------

---A virtual machine.
---@class VM
---@field name string display name
---@field uuid string BIOS UUID
---@field instance_uuid string vCenter instance UUID
---@field moref string managed object id, e.g. vm-42
---@field power string "on", "off" or "suspended" (as of the last refresh)
---@field host string name of the host it runs on
---@field vmx string datastore path of the .vmx file
---@field datastores string[] names of the datastores it uses
---@field ip string|nil guest IP address reported by VMware Tools
local VM = {}

---Reloads the VM's properties (power state, disks, snapshots).
function VM:refresh() end

---Answers a VMX configuration key from the live configuration (works on any vCenter); nil when the VM has no such key.
---@param key string a VMX key: displayName, memsize, scsi0:1.mode, ethernet0.networkName, any extraConfig key, ...
---@return string|nil
function VM:get_config(key) end

---Returns one table per virtual disk: {id=, path=, base=, mode=, capacity=, datastore=, thin=, rdm= ("physical", "virtual" or false), frozen=, encrypted=, key_id= (an encrypted disk's key)}.
---@return table
function VM:disks() end

---Returns the snapshot tree: a list of {name=, description=, id=, created=, current=, vmlua=, children={...}}.
---@return table
function VM:snapshots() end

---Resets the VM's changed block tracking as VMware's KB 2139574 says: tracking off, a snapshot created and removed (the stun-unstun cycle a running VM needs to take the change), tracking on, and a second cycle so that it is active at once. The disks get change ids of a new epoch, so the next incremental backup of the VM is a full (with full_reason saying tracking was reset): for a VM whose tracking may have missed changes (KB 2090639, KB 2136854), or after a verify_cbt backup reported a disagreement. Refused (invalid_state) while the VM has snapshots, since VMware supports switching tracking on only on a VM without them (KB 1020128); the snapshots of the cycles are vmlua's own, removed by the run's cleanup whatever happens. vmlua cbt-reset SPEC does the same from the command line.
function VM:cbt_reset() end

---Returns how many snapshot deltas (REDO logs) sit on the disk.
---@param disk string a disk id such as "scsi0:1"
---@return number
function VM:redo_depth(disk) end

---@class vmlua.VM.add_redo.options
---@field quiesce? boolean quiesce the guest file systems (VMware Tools) (default false)
---@field memory? boolean include the VM's memory (default false)
---@field keep? boolean do not commit it when the run ends (default false)

---Freezes the disk (a snapshot; reused when another disk of the VM already took one this run) and returns the snapshot's name. Errors for independent disks and physical RDMs. While the run lives it renews the snapshot's lease, so that no cleanup on another machine takes it for a killed run's. In a dry run no snapshot is made, but the run remembers it: export and commit of the disk then behave as after a real add_redo.
---@param disk string a disk id such as "scsi0:1"
---@param options? vmlua.VM.add_redo.options how the snapshot is taken
---@return string
function VM:add_redo(disk, options) end

---Merges one of the disk's REDO logs, with vmware-cmd commit's meaning. In a dry run it checks the same (a REDO log of this run to commit) and merges nothing.
---@param disk string a disk id such as "scsi0:1"
---@param level number 1 merges the older of the last two REDOs, 0 the last
---@param freeze? number accepted for vmware-cmd compatibility; vSphere decides stunning itself
---@param wait? number 1 (default) waits for the merge; 0 returns a Task
---@return Task|nil
function VM:commit(disk, level, freeze, wait) end

---@class vmlua.VM.export.options
---@field name? string base file name (default: the disk's own)
---@field credentials? string named credentials from the config, for a URL
---@field sha256? boolean also the whole image's sha256 (default false)

---Streams the frozen disk into dest as NAME-flat.vmdk plus a descriptor NAME.vmdk, atomically, and returns {path=, descriptor=, bytes=, spans_root=}: spans_root is the image's span digest (the sha256 of each 4 MiB span's sha256, see docs/catalog.md), hashed on every core. opts.sha256=true adds sha256= of the whole image, which one core computes while the image streams (it caps the export at that core's hashing speed); an export to a vmfs:// folder of the same vSphere is copied on the server and returns sha256= (read back) instead of spans_root=. Refused for a running disk that is not frozen (call add_redo first). After reading, and before the image lands under its name, it checks that the disk stayed frozen (its snapshot still there, the same one; a VM that was off still off) and fails with invalid_state otherwise. In a dry run nothing is read or written and it returns the same table with bytes= the size it would write, spans_root="" and dry_run=true.
---@param disk string a disk id such as "scsi0:1"
---@param dest Transport|string a transport handle or a granted URL (a folder)
---@param options? vmlua.VM.export.options how the image is written
---@return table
function VM:export(disk, dest, options) end

---Powers the VM on and waits.
function VM:power_on() end

---@class vmlua.VM.power_off.options
---@field hard? boolean true cuts power; false asks the guest to shut down (default true)
---@field timeout? number seconds to wait (default 300)

---Powers the VM off and waits.
---@param options? vmlua.VM.power_off.options how to power off
function VM:power_off(options) end

---@class vmlua.VM.shutdown.options
---@field timeout? number seconds to wait for the guest (default 300)

---Asks the guest OS to shut down (VMware Tools) and waits until the VM is off.
---@param options? vmlua.VM.shutdown.options how long to wait
function VM:shutdown(options) end

---Suspends the VM and waits.
function VM:suspend() end

---Removes the VM from the inventory and keeps its files on the datastore (as vcbRestore's overwrite or a restore drill needs). Refused while the VM is powered on.
function VM:unregister() end

---Deletes the VM and its files from the datastore, for restore drills that clean up after themselves. Refused while the VM is powered on, and for a VM with snapshots this run did not create.
function VM:destroy() end

---Returns the question the VM waits on, {id=, text=, choices={labels...}, message_ids={...}}, or nil.
---@return table|nil
function VM:pending_question() end

---Answers the VM's pending question, logged as "answered a question" with by=script; in a dry run nothing is answered. Raises invalid_state when the question is no longer pending (answered or withdrawn) and invalid_argument when the choice does not exist.
---@param question table as pending_question returned it
---@param choice number|string 0-based index, or the choice's label (ESXi: button.uuid.movedTheVM) or summary (I Moved It)
function VM:answer_question(question, choice) end

---@class vmlua.VM.backup.options
---@field to Transport|string where the set goes: a Transport or a granted URL
---@field compress? "none"|"gzip"|"zstd" how disk images are compressed (default "zstd")
---@field layered? boolean merge a big first REDO through a second one (below) (default true)
---@field quiesce? boolean quiesce the guest file systems (VMware Tools) for the snapshot (default false)
---@field disks? string[]|string the disk ids to back up (default: all)
---@field exclude? string[]|string disk ids to leave out
---@field power_off? boolean shut the guest down for the backup (a cold backup) and power it on again after (default false)
---@field cbt? boolean read only the allocated areas when the VM tracks changed blocks (default true)
---@field mode? "full"|"incremental"|"auto" a full set, an incremental on the newest set, or auto (below) (default "full")
---@field chain_max? integer with mode="auto": the longest chain (a full and 6 incrementals) (default 7)
---@field full_every? integer with mode="incremental" or "auto": every Nth backup of the VM is a full (full_reason says so); 0: no such rule (default 0)
---@field verify_cbt? boolean make this set a verifying full: every disk read whole, and each span changed block tracking reports unchanged since the newest earlier set compared with that set's span digest (below) (default false)
---@field break_lock? boolean take the VM folder's lock on the target even if another run holds it (default false)
---@field keep? integer the retention the VM's sets are pruned with, for object lock (below): keep the last N sets
---@field policy? vmlua.VM.backup.options.policy the retention the VM's sets are pruned with, for object lock (below), as backup.prune's policy=
---@field encrypt? boolean|vmlua.VM.backup.options.encrypt false: not encrypted; true: encrypted to the config's [encryption] recipients (none: refused); a table: encrypted to these recipients
---@field credentials? string named credentials from the config, for a URL

---@class vmlua.VM.backup.options.policy
---@field last? integer the last N sets
---@field daily? integer the newest set of each of the last N days that have one
---@field weekly? integer the newest set of each of the last N weeks that have one
---@field monthly? integer the newest set of each of the last N months that have one
---@field yearly? integer the newest set of each of the last N years that have one

---@class vmlua.VM.backup.options.encrypt
---@field recipients string[]|string age public keys (age1..., from age-keygen -y): each one's private key can restore the set

---Backs the VM up into a new set: freezes every disk at one instant (a REDO log), streams each frozen disk (zero regions left out, compressed on every core), merges the REDO logs again (layered=true: through a second REDO that takes the writes while the first merges, when a disk's first REDO holds more than 16 MiB; one that holds less merges directly, as small as the second would be), copies the .vmx, .nvram, .vmsd, .vmxf and logs, and writes the catalog last. RDMs (physical: vSphere cannot snapshot them; virtual: snapshotted, but their data stays on the LUN), encrypted disks (their files hold ciphertext), and independent disks of a running VM, are skipped before anything is frozen, with a warning saying why (also in the catalog's and the returned table's skipped=), and make the set's status="partial" ("ok" when it holds every disk the script did not exclude); a VM that is off while its disks are read (off already, or power_off=true) has its independent disks read like the others. A VM with snapshots of its own is backed up as it is now: the backup's snapshot goes on top of the user's tree, the disks on the user's levels are read whole through that snapshot's NFC export lease (read="full" in the catalog), and only vmlua's own snapshot is removed. power_off=true shuts the guest down for the backup and powers it on again whatever ends the backup (an error, --timeout, SIGINT, SIGTERM). Returns the catalog as a table with path=, status= and, per disk, bytes= and sha256=. In a dry run nothing is frozen, read or written: the disks are walked as in a real run (add_redo, export check, commit, each logged as "dry run: would ...", so a disk a real run could not export fails here too) and it returns the plan in the same shape, with dry_run=true, complete=false, status=, and per disk id=, path=, capacity=, file=, bytes=0 and planned_bytes= (the bytes it would read). On failure the partial set is removed and no REDO log is left. mode="incremental" stores only the areas changed since the newest complete set of the VM on the target (changed block tracking, from that set's change ids), with parent= naming it; a first run, or one that cannot trust its base (no earlier set, a broken chain, a resized or replaced disk, tracking reset, a change id vSphere rejects), makes a full instead and says why in a warning and in full_reason=. mode="auto" is incremental but makes a full once the chain has chain_max sets. Both enable changed block tracking on a VM that lacks it (with a warning: it takes effect after a snapshot cycle, so that run is a full), but never on a VM that has snapshots (VMware supports switching it on only without them, KB 1020128): that set is a full read without tracking, and the warning and full_reason say why. full_every=N makes every Nth set of the VM a full, in both modes. verify_cbt=true makes the set a verifying full: every disk read whole, and every 4 MiB span changed block tracking reports unchanged since the newest earlier set compared with that set's span digest (image_spans); a span that differs is a change tracking missed: an error in the log and disks[i].cbt_check.missed name it (restore from this set, and cbt_reset the VM). Where vSphere answers one extent over the whole disk (NFS datastores), an incremental reads every byte but stores only the spans whose digest differs from its parent's; the disk's read="full" and read_reason say so, and the log. Each disk is read flat over the datastore's /folder where it can be, else (vSAN, vVols, a flat file /folder does not serve) through the snapshot's NFC export lease, streamOptimized, decoded as it streams (kept alive with progress reports, completed or aborted whatever happens); disks[i].read_path ("folder" or "nfc") and read_path_reason say which and why. NFC has no changed areas: an incremental of such a disk reads the whole disk and stores only the spans that differ from its parent's (read="full", differing_bytes). On a target with object lock (s3:// with object_lock=governance|compliance) the complete set's files, and those of every set of its chain, are locked until the date its retention keeps it at the earliest (keep=/policy=, the same the sets are pruned with: policy={daily=7} locks a set of the 10th until the 17th, 00:00 UTC; keep=N alone gives no date, so give policy= or the target's lock_days=, else the backup is refused before it starts); neither the backup host nor anyone can delete or overwrite them before that date, and prune leaves them, saying until when (docs/security.md). encrypt= (default: the config's [encryption] recipients, when it names any) encrypts every file of the set but its catalog, span by span after compression, under a data key made for the set and stored only wrapped to the recipients' age public keys: the backup host needs no private key, and cannot read the set back; restore, verify's content check, backup.open_point and vmlua serve/mount/files need a recipient's private key (--identity, or identity in [encryption]). The catalog is authenticated with the data key. Each set has its own data key; an incremental is encrypted as its own run says, whatever its parent is (a chain may mix encrypted and plain sets; docs/security.md).
---@param options vmlua.VM.backup.options a table of options (below)
---@return table
function VM:backup(options) end

---@class vmlua.VM.relocate.options
---@field datastore string the datastore every file of the VM moves to
---@field timeout? number seconds to wait for the migration (default 3600)

---Moves the VM's files (its disks through their chains) to another datastore while it runs: a storage migration (RelocateVM_Task), waited for.
---@param options vmlua.VM.relocate.options a table of options (below)
---@return nil
function VM:relocate(options) end

---A vSphere task still running (commit with wait=0).
---@class Task
local Task = {}

---Waits for the task to finish; raises its error if it failed.
function Task:wait() end

---VMs: look-ups, configuration, power, and the hot-backup cycle add_redo / export / commit.
---
---The connection comes from the operator (`--url`, `VMLUA_URL`, or a config profile), never from the script. Every REDO log (snapshot) a run adds is committed when the run ends — normally, by error, timeout or signal — unless `add_redo` was given `keep=true`; vmlua never removes a snapshot it did not create.
---
---**Selecting VMs.** `vm.find`, `vm.open`, `vmlua run --each`, `vm_info.lua` and the scripts' `vms=` take a specifier: a `.vmx` datastore path (`[LocalDS_0] DB01/DB01.vmx`, as VmPerl's `connect`) or `KIND:VALUE` terms (vcbVmName's, and where the VM sits):
---
---| term | selects the VMs |
---|---|---|
---| `name:GLOB` | whose name matches (`*`, `?`, `[...]`) |
---| `uuid:UUID`, `ipaddr:IP-OR-DNS`, `moref:vm-N` | with that BIOS UUID, guest IP address or host name, managed object id |
---| `powerstate:on\|off\|suspended` | in that power state |
---| `folder:PATH` | in the VM folder and every folder below it: an inventory path (`/DC0/vm/prod`) or a path below each datacenter's VM folder (`prod/web`) |
---| `cluster:NAME` | registered on a host of the cluster |
---| `host:NAME` | registered on the host |
---| `pool:PATH` | in the resource pool and every pool below it: an inventory path (`/DC0/host/DC0_C0/Resources/prod`) or a path below each cluster's (host's) root pool (`prod`) |
---| `datastore:NAME` | with a file on the datastore |
---| `tag:NAME`, `tag:CATEGORY:NAME` | carrying the vSphere tag (vCenter's tagging service; ESXi has none) |
---| `any:`, `none:` | every VM, no VM |
---
---Values are globs, and a value may list several with commas (any of them): `name:DB01,WEB01`, `tag:Backup:gold,Backup:silver`. Terms separated by spaces must all match: `folder:/DC0/vm/prod powerstate:on`. A comma before another term starts an alternative: `folder:prod powerstate:on, tag:Backup:gold` is the running VMs of prod, and every VM tagged gold. Double quotes keep spaces, commas and colons in a value (`name:"Backup Server: Primary"`); a name with a plain space needs none (`name:My VM`). A kind that does not exist, or a folder, cluster, host, pool, datastore or tag that does not, is an `invalid_argument` error naming what exists and the nearest ("did you mean"): a typo must not look like an empty folder. Templates are never selected.
---@class vmlua.vm
local M_vm = {}

---Returns the one VM the path or specifier names, nil when there is none; an `ambiguous` error lists them when several match.
---@param spec string a .vmx path ("[ds] DB01/DB01.vmx") or a specifier naming one VM: name: (no wildcards), uuid:, ipaddr:, moref:, possibly with other terms (name:DB01 folder:prod)
---@return VM|nil
function M_vm.open(spec) end

---Returns the list of VMs matching the specifier, sorted by name (possibly empty). A folder, cluster, host, pool, datastore or tag the specifier names that does not exist raises invalid_argument.
---@param spec string a specifier (Selecting VMs, above): name:GLOB, powerstate:, folder:, cluster:, host:, pool:, datastore:, tag:, any:, none:, ..., combined with spaces (AND) and commas (OR)
---@return VM[]
function M_vm.find(spec) end

---@class vmlua.vm.register.options
---@field name? string the VM's name in the inventory (default: the .vmx's displayName)
---@field folder? string inventory path of the VM folder
---@field pool? string inventory path of the resource pool
---@field host? string host name or inventory path to register it on

---Registers the VM whose .vmx is at the datastore path (vmware-cmd -s register) and returns it; nil in a dry run.
---@param vmx string datastore path of the .vmx, e.g. "[LocalDS_1] DB01/DB01.vmx"
---@param options? vmlua.vm.register.options where the VM goes (default: the datacenter's VM folder and default pool, a host vSphere chooses)
---@return VM|nil
function M_vm.register(vmx, options) end

---Returns every VM folder (vcbUtil -c vmfolders) as a list sorted by path of {path=, name=, datacenter=, vms=}: path is the inventory path that folder: and vm.register{folder=} take, vms the number of VMs in it and below it.
---@return table
function M_vm.folders() end

---Returns every resource pool (vcbUtil -c resourcepools) as a list sorted by path of {path=, name=, owner=, vms=}: path is the inventory path that pool: and vm.register{pool=} take, owner the cluster or host whose root pool it is or is below, vms the number of VMs in it and below it.
---@return table
function M_vm.pools() end

---Returns the .vmx paths of every registered VM (VmPerl's registered_vm_names).
---@return string[]
function M_vm.registered() end

---Makes the named profile the connection for the following vm calls of this run. The profile must be configured by the operator.
---@param profile string a vSphere profile of the config file
function M_vm.connect(profile) end

---Commits the REDO logs (snapshots named vmlua-redo-*) that earlier vmlua runs left behind because they were killed before their cleanup (SIGKILL, OOM, a crash), and returns them as a list of {vm=, snapshot=}. A snapshot counts as orphaned unless it is this run's, was added with keep=true, or its owner may still be running: a vmlua process on this machine that still runs, or a run on another machine whose lease has not expired (a run renews the lease in its snapshots' descriptions every 5 minutes, to 30 minutes ahead, by vSphere's clock); each one left alone is logged with why. The shipped backup scripts call it for the VMs they back up before backing up. In a dry run nothing is committed: the list says what would be (each entry with dry_run=true), and the run's later exports see the disks as without them.
---@param vms? string|VM|VM[] the VMs to look at: a specifier (default any:), a VM, or a list of VMs (as vm.find returns; read one by one, not the inventory)
---@return table
function M_vm.cleanup_orphans(vms) end

-- module backup ------------------------------------------------------

---A restore point open for reading its disks' files (backup.open_point), read-only, every byte checked against the catalog.
---@class Point
---@field set string the point's set id (VM/TIMESTAMP)
---@field vm string the VM's name
---@field disks table the point's disks: { {id=, path=, capacity=} } in the catalog's order
local Point = {}

---@class vmlua.Point.partitions.options
---@field disk? string the disk id (default: the point's first disk)

---The disk's partitions (MBR or GPT; the whole disk, number=0, when it has no table): { {number=, start=, size=, table=, type=, name=, fs=, readable=} }; fs names the file system found (ext4, fat16, ntfs, ...), readable whether :files and :read read it.
---@param options? vmlua.Point.partitions.options a table of options (below)
---@return table
function Point:partitions(options) end

---@class vmlua.Point.files.options
---@field disk? string the disk id (default: the point's first disk)

---The entries of a guest folder, sorted by name: { {name=, path=, type="file"|"folder"|"link"|"other", size=, mode=, mtime=, link=} } (mode the permissions as a number, mtime Unix seconds). A path that is not there raises not_found; a damaged span of the set, verify.
---@param path string an absolute guest path, "/etc/hostname", or "2:/etc/hostname" for partition 2 when the disk holds several file systems
---@param options? vmlua.Point.files.options a table of options (below)
---@return table
function Point:files(path, options) end

---@class vmlua.Point.stat.options
---@field disk? string the disk id (default: the point's first disk)

---The entry of a guest path (as :files gives them; a link is not followed), or nil when it is not there.
---@param path string an absolute guest path, "/etc/hostname", or "2:/etc/hostname" for partition 2 when the disk holds several file systems
---@param options? vmlua.Point.stat.options a table of options (below)
---@return table|nil
function Point:stat(path, options) end

---@class vmlua.Point.read.options
---@field disk? string the disk id (default: the point's first disk)
---@field max? integer the largest file read (at most 16777216): a bigger one raises invalid_argument, :copy it instead (default 1048576)

---A guest file's content (a link is followed). A damaged span of the set raises verify: never wrong bytes.
---@param path string an absolute guest path, "/etc/hostname", or "2:/etc/hostname" for partition 2 when the disk holds several file systems
---@param options? vmlua.Point.read.options a table of options (below)
---@return string
function Point:read(path, options) end

---@class vmlua.Point.copy.options
---@field to Transport|string where it goes: a Transport or a granted URL (a folder)
---@field name? string its name there (default: the file's name, a folder's with .tar)
---@field disk? string the disk id (default: the point's first disk)
---@field credentials? string named credentials from the config, for a URL

---Copies a guest file, or a folder as a tar archive, to a target, atomically (the name appears only when complete): returns {path=, bytes=, sha256=, tar=}.
---@param path string an absolute guest path, "/etc/hostname", or "2:/etc/hostname" for partition 2 when the disk holds several file systems
---@param options vmlua.Point.copy.options a table of options (below)
---@return table
function Point:copy(path, options) end

---Closes the point (the end of the script closes it too).
---@return nil
function Point:close() end

---Backup sets with a catalog: v:backup, list, verify, restore, prune, and vmx (vmxBackup.pl).
---
---`v:backup{to=...}` writes a set `<target>/<vm name>/<UTC timestamp>/`; its `catalog.json` is written last and atomically, so a set without it is incomplete. Sets are identified by `VM/TIMESTAMP` (the set's `id`). The schema of the catalog is in docs/catalog.md, the guide in docs/backup.md.
---@class vmlua.backup
local M_backup = {}

---@class vmlua.backup.list.options
---@field at Transport|string the target: a Transport or a granted URL
---@field vm? string a VM name (default: every VM)
---@field host? string a host name: its configuration sets (h:backup) instead of a VM's
---@field credentials? string named credentials from the config, for a URL

---Lists the sets on a target, oldest first: {id=, vm=, time= (Unix seconds), complete=, size= (bytes), files=, mode= (full, incremental, synthetic), parent= (an incremental's parent set id), status= ("ok", or "partial" for a set lacking a disk; absent for an incomplete set), encrypted= (true for an encrypted set)}. A set without its catalog is listed with complete=false.
---@param options vmlua.backup.list.options a table of options (below)
---@return table
function M_backup.list(options) end

---@class vmlua.backup.verify.options
---@field at Transport|string the target: a Transport or a granted URL
---@field set? string a set id, or "latest" (with vm= or host=)
---@field vm? string a VM name
---@field host? string a host name: its configuration sets (h:backup) instead of a VM's
---@field credentials? string named credentials from the config, for a URL

---Re-reads every file of a set, checks its size and sha256 against the catalog and decodes every disk image; for an incremental it checks the whole chain its point needs (every set back to the full, that each exists and is complete, and that each layer was made on the one below). Returns {ok=, id=, files=, bytes=, chain={set ids, full first} (incrementals), problems={ {file=, problem=}, ... }} (a problem in another set of the chain names its file as SET/FILE). It also applies every check restore applies to a catalog (the VM name as a folder on a datastore, disk ids, the names of the files restore writes, disk sizes against vSphere's 62 TiB limit), so that ok=true means restore takes the set. An encrypted set's catalog is authenticated and its files decrypted and decoded with the run's identity (--identity); without one (a verify on the backup host, which holds only public keys) its stored bytes are checked against its catalog only, a warning says so and the result has encrypted=true, authenticated=false (true when the identity checked every encrypted set). It does not raise for mismatches: check ok.
---@param options vmlua.backup.verify.options a table of options (below)
---@return table
function M_backup.verify(options) end

---@class vmlua.backup.restore.options
---@field from Transport|string where the set is: a Transport or a granted URL
---@field set? string a set id such as "DB01/20260102T150405Z", or "latest" (with vm=): the newest complete set
---@field vm? string a VM name
---@field datastore? string the datastore every file goes to (default: the original)
---@field folder? string inventory path of the VM folder (default: the original)
---@field pool? string inventory path of the resource pool (default: the original)
---@field host? string the host to register the VM on (default: the original)
---@field name? string the restored VM's name (default: the original)
---@field catalog? table|string an alternate catalog: a table, or a path on the target (vcbRestore -a)
---@field on_conflict? "abort"|"keep"|"overwrite" what to do when a VM of that name exists (default "abort")
---@field power_on? boolean power the restored VM on (default false)
---@field force? boolean restore an incomplete set (default false)
---@field keep_failed? boolean when the restore fails once its files are in place (registering or powering on), keep the files (the VM is unregistered all the same) (default false)
---@field credentials? string named credentials from the config, for a URL

---Restores a set (vcbRestore): uploads its files to the datastore (disk images decompressed on the fly and checked against the catalog), rewrites the paths in the .vmx, registers the VM in the folder and pool and returns it. An incremental set is restored by applying its chain (the full and every incremental up to it) on the fly, in one pass, every layer checked. Without overrides it restores to the original location and name. Before anything is written it refuses (invalid_argument) what backup.verify reports (a name that cannot be a VM's folder on a datastore: control characters, .., [ ], * ?, /, \, %, white space at either end, more than 80 characters; a bad disk id; a disk over 62 TiB) and (conflict) a set the datastore cannot hold: a disk over the datastore's largest file, or more bytes than its free space (refreshed first; disks are written whole, thick). A vSAN or vVols datastore (named, or the original by default) is refused (invalid_argument) before anything is written: its disks are objects the datastore file service cannot write; restore onto VMFS or NFS and move the VM with Storage vMotion. on_conflict decides what happens when a VM of exactly that name exists: abort raises a conflict error, keep returns the existing VM untouched, overwrite replaces it (only when it is powered off; it is unregistered only after the new files are complete). An incomplete set is refused unless force=true. The VM is registered on host= when it can run a VM (connected, not in maintenance mode nor standby, seeing the datastore), which is refused by name and reason otherwise, before anything is written; without host=, on the original host if it can, else on the first host of the resource pool's cluster that can (none: conflict, before anything is written). A restore that fails once its files are in place (registering, or power_on) undoes itself: the VM it registered is unregistered and the folder it wrote removed (kept with keep_failed=true), so that nothing of it is left and a re-run meets no conflict; the error says what was undone. vSphere faults are reported by their meaning and what to do, never by a type name. Returns the VM (nil in a dry run) and a table {set=, status= ("ok" or "partial"), missing_disks={ {id=, path=, reason=}, ... }, dry_run=}: the disks the set does not hold (skipped or excluded when it was made) are not in the restored VM (present=FALSE in its .vmx), and a warning names them.
---@param options vmlua.backup.restore.options a table of options (below)
---@return VM|nil
---@return table
function M_backup.restore(options) end

---@class vmlua.backup.restore_disk.options
---@field from Transport|string where the set is: a Transport or a granted URL
---@field set? string a set id such as "DB01/20260102T150405Z", or "latest" (with vm=): the newest complete set
---@field vm? string a VM name
---@field disk string the disk of the set, e.g. "scsi0:1"
---@field into VM the existing VM that gets the disk (vm.open)
---@field replace? string a disk of that VM the restored disk replaces (the VM must be powered off); default: attached as a new disk
---@field datastore? string the datastore the disk's files go to, in the VM's folder (default: the datastore of its .vmx)
---@field credentials? string named credentials from the config, for a URL

---Restores one disk of a set into an existing VM: its image (an incremental's chain applied on the fly, every layer checked) is written as a new disk in the VM's folder, NAME_restored_DISK_TIME.vmdk, with a UUID of its own (a new ddb.uuid), then attached to the VM: as a new disk on the first free unit of the controller of its first disk, or, with replace=, in place of that disk on the same unit, with its mode. A disk is replaced only while the VM is powered off (invalid_state otherwise: the guest would lose the disk under its feet; attach it as a new disk instead) and has no snapshot; the replaced disk's files stay on the datastore. A failure after the files were written removes them, and the VM is not changed. Returns {id= (the disk's id on the VM), path=, replaced= (the replaced disk's path), set=}; in a dry run nothing is written and id is nil.
---@param options vmlua.backup.restore_disk.options a table of options (below)
---@return table
function M_backup.restore_disk(options) end

---@class vmlua.backup.prune.options
---@field at Transport|string the target: a Transport or a granted URL
---@field vm? string the VM whose sets are pruned (vm= or host= is required)
---@field host? string a host whose configuration sets are pruned, instead of vm=
---@field keep? integer keep the last N sets (ghettoVCB's rotation)
---@field policy? vmlua.backup.prune.options.policy grandfather-father-son retention (restic's ExpirePolicy): how many sets to keep by each rule
---@field dry_run? boolean only list what would be removed (default false)
---@field credentials? string named credentials from the config, for a URL

---@class vmlua.backup.prune.options.policy
---@field last? integer the last N sets
---@field daily? integer the newest set of each of the last N days that have one
---@field weekly? integer the newest set of each of the last N weeks that have one
---@field monthly? integer the newest set of each of the last N months that have one
---@field yearly? integer the newest set of each of the last N years that have one

---Removes the VM's sets that the retention does not keep: keep=N (ghettoVCB's rotation) and/or policy= (grandfather-father-son, restic's ExpirePolicy semantics). Incomplete sets never count and go only when older than the newest complete set; the newest complete set is always kept; nothing is pruned for a VM whose latest backup in this run failed; a kept incremental keeps every set of its chain (reason "needed by ..."): to let an old chain go, backup.synthesize the point you keep first. dry_run=true (or a dry run) only lists. Returns {kept={ {id=, reason=} }, removed={ {id=, reason=} }, skipped=, dry_run=} (skipped: the VM's backup failed; dry_run: removed lists what would be removed, nothing was).
---@param options vmlua.backup.prune.options a table of options (below)
---@return table
function M_backup.prune(options) end

---@class vmlua.backup.synthesize.options
---@field at Transport|string the target: a Transport or a granted URL
---@field set? string a set id such as "DB01/20260102T150405Z", or "latest" (with vm=): the newest complete set
---@field vm? string a VM name
---@field credentials? string named credentials from the config, for a URL

---Merges the chain of a set (its full and incrementals) into a new full set holding the same point, without touching vSphere: the disks are rebuilt from the chain (every layer checked) and stored as full images, the other files copied. The new set is named one second (or the first free second) after the source, has mode="synthetic" and synthesized_from= the source's id, and records the source's change ids, so the next incremental can build on it. Nothing is removed; prune afterwards. Returns the new catalog as a table (nil in dry-run).
---@param options vmlua.backup.synthesize.options a table of options (below)
---@return table
function M_backup.synthesize(options) end

---@class vmlua.backup.vmx.options
---@field vm VM the VM (vm.open)
---@field to Transport|string where the archive goes: a Transport or a granted URL
---@field credentials? string named credentials from the config, for a URL

---The book's vmxBackup.pl: archives the VM's small files (.vmx, .nvram, .vmsd, .vmxf, logs) as <vm>/vmx/<vm>-<UTC time>.tar.gz on the target, never overwriting an earlier archive. Returns {path=, bytes=, sha256=, files={names}}; in a dry run the archive is built but not written, and the table (the archive's that would be written) has dry_run=true.
---@param options vmlua.backup.vmx.options a table of options (below)
---@return table
function M_backup.vmx(options) end

---@class vmlua.backup.open_point.options
---@field from Transport|string the target of the sets: a Transport or a granted URL
---@field vm string the VM's name
---@field point? string the set's timestamp (as backup.list's ids end, e.g. "20260102T150405Z"), or "latest": the newest complete set (default "latest")
---@field cache? integer MiB of memory for verified spans and decoded frames (default 64)
---@field credentials? string named credentials from the config, for a URL

---Opens a restore point (a full or any incremental, its chain applied on the fly) to read guest files out of its disks without restoring it, as vmlua files does: the partition table (MBR, GPT) and ext2/3/4 and FAT12/16/32 file systems; every byte read is checked against the catalog span by span, nothing is written to the set. For a test-restore drill: open the newest point, check a file, close. A VM without a complete set raises not_found.
---@param options vmlua.backup.open_point.options a table of options (below)
---@return Point
function M_backup.open_point(options) end

---@class vmlua.backup.mount_nfs.options
---@field url string the export, nfs://SERVER[:PORT]/EXPORT, as vmlua serve nfs prints it
---@field name string the datastore's name
---@field host? string the host (default: the only or first host)

---Mounts an NFSv3 export on a host as a datastore (HostDatastoreSystem.CreateNasDatastore, read-write) and returns its name. A port in the URL is passed in the remote host (ESXi itself always uses 2049; the simulator takes the port). Undo with backup.unmount_datastore.
---@param options vmlua.backup.mount_nfs.options a table of options (below)
---@return string
function M_backup.mount_nfs(options) end

---@class vmlua.backup.unmount_datastore.options
---@field name string the datastore's name
---@field host? string the host (default: the only or first host)

---Unmounts a datastore from a host (HostDatastoreSystem.RemoveDatastore); vSphere refuses while a VM is on it.
---@param options vmlua.backup.unmount_datastore.options a table of options (below)
---@return nil
function M_backup.unmount_datastore(options) end

---@class vmlua.backup.register.options
---@field vmx string the .vmx's datastore path, "[DS] DB01/DB01.vmx"
---@field name? string the VM's name (default: the .vmx's displayName)
---@field folder? string inventory path of the VM folder (default: the datacenter's)
---@field pool? string inventory path of the resource pool (default: the default one)
---@field host? string the host (default: the only or first host)

---Registers a VM from its .vmx on a datastore (Folder.RegisterVM_Task) and returns it. Its first power-on asks whether it was moved or copied (msg.uuid.altered): powered on through the VM returned, vmlua answers I Copied It while the VM of the same BIOS uuid is registered, else I Moved It (docs/questions.md).
---@param options vmlua.backup.register.options a table of options (below)
---@return VM
function M_backup.register(options) end

-- module host --------------------------------------------------------

---An ESXi host.
---@class Host
---@field name string host name as the inventory shows it
---@field moref string managed object id, e.g. host-21 (ha-host on a standalone ESXi)
---@field version string ESXi version, e.g. "8.0.2"
---@field build string ESXi build number, e.g. "22380479"
---@field uuid string hardware (BIOS) UUID
---@field connection_state string "connected", "disconnected" or "notResponding" (as of the last refresh)
---@field maintenance boolean in maintenance mode (as of the last refresh)
---@field cluster string|nil the cluster it belongs to; nil for a standalone host
local Host = {}

---Reloads the host's properties (connection state, maintenance mode, build).
function Host:refresh() end

---Puts the host in maintenance mode and waits (its VMs must be powered off or moved first).
function Host:enter_maintenance() end

---Takes the host out of maintenance mode and waits.
function Host:exit_maintenance() end

---Returns the host's configuration as plain data a script can compare between two backups: {ntp={servers}, time_zone=, dns={hostname=, domain=, servers={}, search={}}, syslog= (Syslog.global.logHost), vswitches={ {name=, ports=, mtu=, uplinks={}, portgroups={ {name=, vlan=} }} }, advanced={key=value as strings}}.
---@return table
function Host:config_summary() end

---@class vmlua.Host.backup_config.options
---@field name? string the bundle's file name (default configBundle-<host>.tgz)
---@field credentials? string named credentials from the config, for a URL

---Backs up the host's configuration (vim-cmd hostsvc/firmware/backup_config): asks the host for a bundle, downloads it over the session into dest atomically, then writes its sidecar NAME.json. Returns {host=, moref=, version=, build=, uuid=, file=, bytes=, sha256=, taken=}. A download cut short leaves nothing behind.
---@param dest Transport|string a transport handle or a granted URL (a folder)
---@param options? vmlua.Host.backup_config.options the bundle's name
---@return table
function Host:backup_config(dest, options) end

---@class vmlua.Host.backup.options
---@field to Transport|string the target: a Transport or a granted URL
---@field keep? integer then prune the host's sets to the last N
---@field policy? vmlua.Host.backup.options.policy grandfather-father-son retention (restic's ExpirePolicy): how many sets to keep by each rule
---@field break_lock? boolean take the host folder's lock on the target even if another run holds it (default false)
---@field credentials? string named credentials from the config, for a URL

---@class vmlua.Host.backup.options.policy
---@field last? integer the last N sets
---@field daily? integer the newest set of each of the last N days that have one
---@field weekly? integer the newest set of each of the last N weeks that have one
---@field monthly? integer the newest set of each of the last N months that have one
---@field yearly? integer the newest set of each of the last N years that have one

---Backs the host's configuration up into a backup set host/<host>/<UTC time>/ (the bundle, its sidecar, catalog.json last), under the folder's lock, as a VM's set: backup.list/verify/prune take host=<name>. On failure the partial set is removed. With keep= or policy= the host's sets are pruned afterwards. Returns the catalog as a table.
---@param options vmlua.Host.backup.options where the set goes and what to keep
---@return table
function Host:backup(options) end

---@class vmlua.Host.restore_config.options
---@field name? string the bundle's file name (default configBundle-<host>.tgz)
---@field set? string a set id of h:backup, or "latest": the newest complete set of this host
---@field force? boolean apply a bundle of another build or host (default false)
---@field credentials? string named credentials from the config, for a URL

---Restores a configuration bundle (vim-cmd hostsvc/firmware/restore_config): refuses unless the host is in maintenance mode, refuses a bundle whose recorded build or uuid differs from the host's unless force=true, checks the bundle's size and sha256 against its sidecar, then uploads it and has the host apply it (the host reboots and stays in maintenance mode). Returns the bundle's sidecar as a table.
---@param dest Transport|string where backup_config wrote the bundle, or the target of h:backup's sets (a transport handle or a granted URL)
---@param options? vmlua.Host.restore_config.options which bundle
---@return table
function Host:restore_config(dest, options) end

---ESXi hosts: look-ups, maintenance mode, configuration summary, and configuration bundle backup/restore (vim-cmd hostsvc/firmware).
---
---The connection is the vm module's (the operator's profile). `h:backup_config(dest)` stores `configBundle-<host>.tgz` and its sidecar `configBundle-<host>.json` (host, version, build, uuid, bytes, sha256; written last, so a bundle without it is incomplete). `h:restore_config(src)` needs maintenance mode, the same host and build (unless force=true) and a bundle whose sha256 matches its sidecar; the host reboots after it. Through vCenter the bundle URLs name the ESXi host itself, which vmlua must then reach; see docs/migrating.md.
---
---In a dry run nothing changes on a host, but the dry run sees what it would have done: after a dry `h:enter_maintenance()` the host is in maintenance mode for the rest of the run (`h.maintenance`, `h:refresh()`, `host.find`, and `h:restore_config`'s check), `h:backup` returns the catalog a real run would write (host_config included) with dry_run=true, and `h:backup_config` and `h:restore_config` run every check (connection, maintenance mode, build, the bundle's sha256) and return the sidecar with dry_run=true.
---@class vmlua.host
local M_host = {}

---Returns every host of the connection, sorted by name.
---@return Host[]
function M_host.list() end

---Returns the hosts matching the specifier, sorted by name (possibly empty).
---@param spec string name:GLOB, moref:host-N, any:, none: (a bare word is a name)
---@return Host[]
function M_host.find(spec) end

-- module question ----------------------------------------------------

---Pending VM questions: list them, watch for them, and answer them by rules.
---
---A VM that needs an operator stops on a question (`runtime.question`) and does nothing until it is answered. `question.pending` lists them, `question.watch` calls a handler for each one as it appears (one PropertyCollector filter for the whole inventory), and `question.policy` gives the run rules that answer questions raised by its own operations, so that a backup blocked by a question continues. Choices are 0-based indexes (VmPerl's `answer_question($q, 0)`) or labels. See docs/questions.md for the rules format.
---@class vmlua.question
local M_question = {}

---@class vmlua.question.pending.options
---@field vms? string which VMs: a vm.find specifier (default "any:")

---Returns every pending question of the VMs, sorted by VM name, as a list of {vm=VM, question={id=, text=, choices={...}, message_ids={...}}}; an empty list when there is none. One retrieval for the whole inventory.
---@param options? vmlua.question.pending.options|string {vms=SPEC} or SPEC: which VMs
---@return table
function M_question.pending(options) end

---@class vmlua.question.watch.options
---@field vms? string which VMs: a vm.find specifier (default "any:")
---@field timeout? number seconds (default: until the run ends)
---@field handler? function function(v, q): returns a choice, or nil to leave the question
---@field limit? integer return after this many questions were handled
---@field max_wait? number seconds one server wait lasts: bounds how late a dropped session is noticed (default 20)

---Calls the handler for each question as it appears on the VMs (those already pending first), and answers with the choice it returns: a 0-based index or a label; nil leaves the question for a person. Without a handler the run's policy (question.policy) decides, or the default one (answer single-choice questions). Returns {answered=, left=} when the timeout expires or the limit is reached. A lost vSphere session is re-established and every pending question re-read. A choice the question does not have raises invalid_argument; a handler still running at the timeout is stopped and raises timeout. An answer vSphere refuses is logged and the watch goes on: a question answered by someone else meanwhile is skipped, any other refusal counts as left. In a dry run nothing is answered.
---@param options vmlua.question.watch.options what to watch and for how long
---@return table
function M_question.watch(options) end

---@class vmlua.question.policy.rules
---@field single_choice? "answer"|"leave" what to do with a single-choice question no rule matches (default "answer")

---Makes the rules the run's question policy: a question that blocks one of the run's own operations (add_redo, commit, power) is answered by the first rule that matches it, or with its only choice under single_choice="answer", and the operation continues. Calling it again replaces the policy; with no argument it installs the default. Rule mistakes raise invalid_argument.
---@param rules? vmlua.question.policy.rules a list of rules {message_id=, text= (Lua pattern), choice= (index or label) | leave=true, name=}, plus the option below
function M_question.policy(rules) end

-- module transport ---------------------------------------------------

---An open backup target.
---@class Transport
---@field url string the URL the handle was opened with (no secrets)
local Transport = {}

---Returns {name=, size=, mtime=, dir=} for a path, or nil when it does not exist.
---@param path string file or directory
---@return table|nil
function Transport:stat(path) end

---Lists a directory: a list of {name=, size=, mtime=, dir=}, sorted by name.
---@param path? string directory (default the root)
---@return table
function Transport:list(path) end

---Creates a directory and its parents; an existing one is fine.
---@param path string directory to create, with its parents
function Transport:mkdir(path) end

---Renames a file or directory, replacing a file at the new name.
---@param from string existing path
---@param to string new path (replaced if it is a file)
function Transport:rename(from, to) end

---Removes a file or an empty directory.
---@param path string file or empty directory
function Transport:remove(path) end

---Writes a small file atomically and returns {bytes=, sha256=}.
---@param path string file to write
---@param data string the content (at most 16 MiB)
---@return table
function Transport:write(path, data) end

---Reads a small file (at most 16 MiB) and returns its content.
---@param path string file to read
---@return string
function Transport:read(path) end

---Closes the handle; it is closed at the end of the run anyway.
function Transport:close() end

---Backup targets by URL: file, ftp, ftps, nfs, s3, sftp/scp, smb/cifs, vmfs.
---
---`transport.open(url [, {credentials=NAME, ...}])` returns a handle for a granted URL. Paths given to a handle are relative to the URL and cannot leave it. Uploads are atomic: a file appears under its name only when complete. Passwords come from the config's named credentials.
---@class vmlua.transport
local M_transport = {}

---@class vmlua.transport.open.options
---@field credentials? string named credentials from the config
---@field [string] string|number|boolean an option of the URL's scheme (docs/transports.md)

---Opens a transport. Fails with not_granted when the operator did not grant the URL.
---@param url string a granted URL such as sftp://backup@nas/backups
---@param options? vmlua.transport.open.options credentials and the scheme's own options (docs/transports.md)
---@return Transport
function M_transport.open(url, options) end

-- module notify ------------------------------------------------------

---A run's summary by mail (SMTP with STARTTLS) and to webhooks (a JSON POST), to the destinations the operator configured in [notify].
---
---The destinations come from the config file's `[notify]` section (docs/config.md), never from the script: `[notify.mail]` (SMTP with STARTTLS and AUTH, the certificate verified) and `[notify.webhook.NAME]` (an HTTP POST of the summary as JSON: `{subject, status, text, details, host, time, vmlua}`). A script may add a webhook URL of its own only when the operator granted it (`--allow`). A delivery that fails is logged as a WARN and returned with ok=false; it never raises, so the run's exit status stays the one its work earned. Webhook URLs (which often carry a token), tokens and the SMTP password are never written: not in a log line, an error or a message; a webhook is shown by its name and `scheme://host/…`, and the message's text is masked as log lines are (URL passwords, fields named like credentials). With no `[notify]` configured nothing is sent. In a dry run nothing is sent either: the log says what would be.
---@class vmlua.notify
local M_notify = {}

---Returns true when the operator configured a destination (mail or a webhook) in [notify].
---@return boolean
function M_notify.configured() end

---@class vmlua.notify.send.message
---@field subject? string one line: the mail's subject (required)
---@field status? string how the run went: "ok", "partial", "failed", "nothing_selected", ... (default "ok")
---@field text? string the body: the summary as the script printed it
---@field details? any any value JSON can hold (a list of per-VM rows, totals): the webhook's details, and indented JSON in the mail

---@class vmlua.notify.send.options
---@field when? "always"|"failure"|"never" "failure" sends only a status other than "ok" (failed, partial, nothing_selected); "never" sends nothing (default "always")
---@field webhook? string also POST to this http(s) URL, which the operator must have granted (--allow); else not_granted
---@field credentials? string named credentials for webhook=: the password is sent as a bearer token (with user: basic auth)

---Sends the summary to every configured destination (and webhook=) and returns {sent=, failed=, results={{to=, ok=, error=}, ...}}, with skipped= saying why when nothing was sent ("when", "not configured", "dry run"). Each destination is tried once, bounded by a timeout (30 s); a failure is a WARN and ok=false, never an error. Raises invalid_argument for a malformed message or option and not_granted for a webhook= URL the operator did not grant.
---@param message vmlua.notify.send.message the summary
---@param options? vmlua.notify.send.options when and where
---@return table
function M_notify.send(message, options) end

