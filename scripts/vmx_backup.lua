-- vmx_backup.lua — the book's vmxBackup.pl (Code Listing 7.2), ported and
-- versioned; with sync=, its "Swiss Army Knife" variant that copies the
-- configuration to another datastore (a DR site's replicated VMFS, a spare
-- host's local disk) so the VM can be registered there.
--
-- Usage:
--   vmlua run --allow DEST scripts/vmx_backup.lua [SPEC] to=DEST [keep=N] [credentials=NAME]
--   vmlua run --allow vmfs://SRC_DS/ --allow vmfs://DR_DS/standby scripts/vmx_backup.lua \
--       sync=vmfs://DR_DS/standby [SPEC] [profile=DR]
--
--   SPEC           which VMs, as the other shipped scripts take it: name:DB01, powerstate:on,
--                  a .vmx path "[LocalDS_0] DB01/DB01.vmx", ... (the same as vms=SPEC; give one)
--   to=DEST        a granted transport URL; each VM's files (.vmx, .nvram, .vmsd, .vmxf, logs)
--                  land as DEST/<vm>/vmx/<vm>-<UTC time>.tar.gz — a new archive every run,
--                  never overwriting one (the book's script overwrote; it suggested versioning)
--   vms=SPEC       which VMs (default any:, the book's registered_vm_names), or SPEC first
--   keep=N         archives to keep per VM (default: all of them)
--   credentials=N  named credentials from the config for DEST
--   sync=URL       a vmfs:// folder: copy each VM's .vmx, .nvram, .vmsd and .vmxf into
--                  URL/<vm folder>/ (the book's `tar zxPf` on the other side). The source
--                  datastore folder (vmfs://<datastore>/) must be granted too.
--   profile=NAME   with sync=: write through this vSphere profile (the DR site's vCenter)
--
-- At least one of to= and sync= is needed; both may be given. The script fails at
-- the end when any VM failed, after trying every VM.
--
--   register=true  with sync=: also register each synced copy (the book's step 2,
--                  `vmware-cmd -s register`) as NAME-standby (or NAME..suffix=), on
--                  host= when given; without it the script prints the .vmx path to register
--   suffix=S       the registered copy's name suffix (default -standby)
local vm = require "vm"
local backup = require "backup"
local transport = require "transport"
local log = require "log"
local script = require "script"

-- User variables
local a = script.args {
  to = { help = "a granted transport URL for the archives" },
  vms = { help = "which VMs: any:, name:DB*, ... (default any:; or give SPEC as the first argument)" },
  vm = { each = true, help = "one VM (vmlua run --each sets it)" },
  keep = { type = "number", help = "archives to keep per VM (default: all)" },
  credentials = { help = "named credentials from the config for to=" },
  sync = { help = "a vmfs:// folder to copy each VM's configuration into" },
  profile = { help = "with sync=: the vSphere profile to write through" },
  register = { type = "boolean", default = false, help = "with sync=: register each synced copy" },
  suffix = { default = "-standby", help = "the registered copy's name suffix" },
  host = { help = "with register=true: the host to register on" },
  allow_empty = { type = "boolean", default = false, help = "a selection matching no VM is not a failure" },
}
local to, sync = a.to, a.sync
if not (to or sync) then
  error({ code = "invalid_argument", message = "usage: vmx_backup.lua to=URL [vms=any:] [keep=N] [credentials=NAME] | sync=vmfs://DS/folder [profile=NAME]" })
end
local keep = a.keep
if keep and keep < 1 then
  error({ code = "invalid_argument", message = "keep= takes a number of archives, at least 1" })
end
if sync and not sync:find("^vmfs://") then
  error({ code = "invalid_argument", message = "sync= takes a vmfs:// folder, e.g. vmfs://DR_DS/standby" })
end

-- The files a VM needs to be registered elsewhere (the disks are replicated).
local config_ext = { vmx = true, nvram = true, vmsd = true, vmxf = true }

-- "[LocalDS_0] DB01/DB01.vmx" -> "LocalDS_0", "DB01", "DB01.vmx"
local function split_vmx(p)
  local ds, rest = p:match("^%[([^%]]+)%]%s*(.+)$")
  if not ds then return nil end
  local dir, file = rest:match("^(.*)/([^/]+)$")
  return ds, dir or "", file or rest
end

-- Keep the newest `keep` archives of a VM (by the UTC time in their names).
local function rotate(t, dir)
  local archives = {}
  for _, e in ipairs(t:list(dir)) do
    if not e.dir and e.name:find("%.tar%.gz$") then archives[#archives + 1] = e.name end
  end
  -- NAME-20260102T030405Z.tar.gz, then -1, -2 ... within the same second
  local function key(n)
    return (n:match("(%d%d%d%d%d%d%d%dT%d%d%d%d%d%dZ)") or ""), tonumber(n:match("Z%-(%d+)%.tar%.gz$") or "0")
  end
  table.sort(archives, function(a, b)
    local ta, na = key(a)
    local tb, nb = key(b)
    if ta ~= tb then return ta < tb end
    return na < nb
  end)
  for i = 1, #archives - keep do
    t:remove(dir .. "/" .. archives[i])
    log.info("removed an old configuration archive", { file = dir .. "/" .. archives[i] })
  end
end

-- Read the VM's configuration files from its own datastore folder.
local function read_config(v)
  local ds, dir, vmx = split_vmx(v.vmx)
  if not ds then
    error({ code = "invalid_argument", message = "cannot parse the .vmx path " .. v.vmx, vm = v.name })
  end
  local src = transport.open("vmfs://" .. ds .. "/" .. dir)
  local files = {}
  for _, e in ipairs(src:list(".")) do
    local ext = e.name:match("%.([^.]+)$")
    if not e.dir and ext and config_ext[ext:lower()] then
      files[#files + 1] = { name = e.name, data = src:read(e.name) }
    end
  end
  return { vm = v.name, dir = dir, vmx = vmx, files = files }
end

-- Which VMs: SPEC (the first argument), vms=, or the one VM --each hands
-- over; given twice, they would disagree about which VMs to archive.
local given = {}
for _, s in ipairs({ a[1] or false, a.vms or false, a.vm or false }) do
  if s then given[#given + 1] = s end
end
if a[2] then
  error({ code = "invalid_argument", message = "vmx_backup.lua takes one SPEC (got " .. a[1] .. " and " .. a[2] .. "): give one specifier, e.g. name:DB0*" })
end
if #given > 1 then
  error({ code = "invalid_argument", message = "give the VMs once: " .. table.concat(given, " and ") .. " (SPEC, vms= and --each each select VMs)" })
end
local spec = given[1] or "any:"
local dest = to and transport.open(to, { credentials = a.credentials })
local vms = vm.find(spec)
if #vms == 0 then
  print(string.format("0 VM(s) match %s: nothing archived", spec))
  script.nothing_selected("no VM matches " .. spec .. ": nothing was archived")
end
local failed, archived, synced, to_sync, dry = {}, 0, 0, {}, false
local function fail(name, err)
  failed[#failed + 1] = name
  log.error("configuration backup failed", { vm = name, error = tostring(err) })
end

-- Pass 1, on the VMs' own vSphere: archive, and read what is to be synced.
for _, v in ipairs(vms) do
  local ok, err = pcall(function()
    if dest then
      local res = backup.vmx { vm = v, to = dest }
      archived = archived + 1
      dry = dry or res.dry_run == true
      log.info(res.dry_run and "dry run: configuration archive not written" or "configuration archived", { vm = v.name, file = res.path, bytes = res.bytes, files = #res.files })
      script.result { vm = v.name, status = "ok", file = res.path, bytes = res.bytes, dry_run = res.dry_run == true }
      if keep then rotate(dest, res.path:match("^(.*)/[^/]+$") or ".") end
    end
    if sync then to_sync[#to_sync + 1] = read_config(v) end
  end)
  if not ok then
    fail(v.name, err)
    script.result { vm = v.name, status = "failed", message = tostring(err) }
  end
end

-- Pass 2, on the other site's vSphere when profile= names one: write the copies.
if sync and #to_sync > 0 then
  if a.profile then vm.connect(a.profile) end
  local dst = transport.open(sync)
  local dsname, folder = sync:match("^vmfs://%[?([^%]/]+)%]?%s*/?(.*)$")
  folder = folder:gsub("/$", "")
  for _, c in ipairs(to_sync) do
    local ok, err = pcall(function()
      dst:mkdir(c.dir)
      for _, f in ipairs(c.files) do dst:write(c.dir .. "/" .. f.name, f.data) end
      synced = synced + 1
      local target = "[" .. dsname .. "] " .. (folder ~= "" and folder .. "/" or "") .. c.dir .. "/" .. c.vmx
      if a.register then
        -- The book's step 2: register the copy on the other side.
        local w = vm.register(target, { name = c.vm .. a.suffix, host = a.host })
        print(string.format("%s: %d configuration file(s) synced and registered as %s", c.vm, #c.files, w and w.name or "(dry run)"))
      else
        print(string.format("%s: %d configuration file(s) synced; register %s", c.vm, #c.files, target))
      end
    end)
    if not ok then fail(c.vm, err) end
  end
end

print(string.format("%d VM(s): %d archived, %d synced, %d failed%s", #vms, archived, synced, #failed, dry and " (dry run: nothing written)" or ""))
if #failed > 0 then
  error({ code = "error", message = #failed .. " VM(s) failed: " .. table.concat(failed, ", ") })
end
