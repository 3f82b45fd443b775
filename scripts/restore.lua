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
--
-- Prints the restored VM's name, moref and .vmx path.
local backup = require "backup"

local from = arg.from
if not from or not (arg.vm or arg.set) then
  error({ code = "invalid_argument", message = "usage: restore.lua from=URL vm=NAME [set=latest|ID] [name=] [datastore=] [on_conflict=]" })
end
local function bool(s) return s == "true" or s == "1" or s == "yes" end

local v = backup.restore {
  from = from, vm = arg.vm, set = arg.set or "latest",
  name = arg.name, datastore = arg.datastore, folder = arg.folder, pool = arg.pool, host = arg.host,
  catalog = arg.catalog, on_conflict = arg.on_conflict or "abort",
  power_on = bool(arg.power_on), force = bool(arg.force), credentials = arg.credentials,
}
if v then
  print(string.format("restored %s (moref:%s) at %s", v.name, v.moref, v.vmx))
else
  print("dry run: nothing restored")
end
