-- restore.lua — vcbRestore: restore a backup set to its original location
-- or elsewhere, under its own name or another.
--
-- Usage:
--   vmlua run --allow SRC scripts/restore.lua from=SRC vm=NAME [set=latest|VM/TIMESTAMP]
--       [name=NEWNAME] [datastore=DS] [folder=PATH] [pool=PATH] [host=NAME]
--       [catalog=PATH] [on_conflict=abort|keep|overwrite] [power_on=true] [force=true]
--
--   from=SRC        the target the sets are on (a granted URL)
--   vm=NAME         the VM whose set to restore (with set=latest, the default)
--   set=ID          a set id as backup.list shows it (VM/TIMESTAMP), or latest
--   catalog=PATH    an alternate catalog on the target (vcbRestore -a)
--   on_conflict=    what to do when a VM of that name exists (vcbRestore -l): abort (default),
--                   keep it, or overwrite it (only when it is powered off)
--   force=true      restore a set whose catalog says it is incomplete
--   allow_empty=true  a VM with no set on the target is fine (default: exit 6)
--
-- Prints the restored VM's name, moref and .vmx path, and the disks the set
-- does not hold (an independent disk or RDM the backup had to skip): the
-- restored VM lacks them, and the run then exits 7 (partial). A VM with no
-- set on the target ends the run with 6 (nothing_selected), as every
-- selection matching nothing does.
local backup = require "backup"
local log = require "log"
local script = require "script"

local a = script.args {
  from = { required = true, help = "the target the sets are on (a granted URL)" },
  vm = { help = "the VM whose set to restore" },
  set = { default = "latest", help = "a set id (VM/TIMESTAMP) or latest" },
  name = { help = "restore under this name" },
  datastore = { help = "restore to this datastore" },
  folder = { help = "inventory path of the VM folder" },
  pool = { help = "inventory path of the resource pool" },
  host = { help = "the host to register on" },
  catalog = { help = "an alternate catalog on the target" },
  on_conflict = { default = "abort", help = "abort, keep or overwrite" },
  power_on = { type = "boolean", default = false, help = "power the restored VM on" },
  force = { type = "boolean", default = false, help = "restore an incomplete set" },
  credentials = { help = "named credentials from the config for from=" },
  allow_empty = { type = "boolean", default = false, help = "a VM with no set on the target is not a failure" },
}
if not (a.vm or a.set ~= "latest") then
  error({ code = "invalid_argument", message = "usage: restore.lua from=URL vm=NAME [set=latest|ID] [name=] [datastore=] [on_conflict=]" })
end

-- The selection: vm='s newest set on the target; none is nothing to restore.
if a.vm and a.set == "latest" and not a.catalog then
  local found = false
  for _, s in ipairs(backup.list { at = a.from, vm = a.vm, credentials = a.credentials }) do
    found = found or s.complete or a.force
  end
  if not found then
    script.nothing_selected("there is no complete set of VM " .. a.vm .. " on " .. a.from .. " (backup.list shows the sets): nothing was restored")
  end
end

local v, info = backup.restore {
  from = a.from, vm = a.vm, set = a.set,
  name = a.name, datastore = a.datastore, folder = a.folder, pool = a.pool, host = a.host,
  catalog = a.catalog, on_conflict = a.on_conflict,
  power_on = a.power_on, force = a.force, credentials = a.credentials,
}
local missing = {}
for _, d in ipairs(info.missing_disks) do
  missing[#missing + 1] = d.id
  print(string.format("not in the set: disk %s (%s): %s", d.id, d.path, d.reason))
end
if v then
  print(string.format("restored %s (moref:%s) at %s%s", v.name, v.moref, v.vmx,
    #missing > 0 and (" without disk(s) " .. table.concat(missing, ",")) or ""))
else
  print("dry run: nothing restored")
end
local partial = info.status == "partial" -- a disk was skipped, not excluded by the backup's script
script.result { vm = v and v.name or (a.name or a.vm or "-"), set = info.set or a.set, status = partial and "partial" or "ok",
  moref = v and v.moref or "", vmx = v and v.vmx or "", missing = table.concat(missing, ","), dry_run = info.dry_run == true }
if #missing > 0 then
  log.warn("the restored VM lacks disks the set does not hold", { vm = v and v.name, missing = table.concat(missing, ","), set_status = info.status })
end
if partial then
  script.status("partial")
end
