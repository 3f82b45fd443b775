-- inventory.lua — vcbUtil -c vmfolders / -c resourcepools: list the VM folders
-- or the resource pools of the inventory, with the paths the other tools take.
--
-- Usage: vmlua run scripts/inventory.lua vmfolders|resourcepools [match=GLOB] [allow_empty=true]
--   vmfolders      every VM folder (the VM and Templates view of vCenter)
--   resourcepools  every resource pool (each cluster's and host's root pool
--                  "Resources" and the pools below it)
--   match=GLOB     only the paths that match (* matches anything, / included; ? one
--                  character), e.g. match=*/prod*
--   allow_empty=true  a match= that selects nothing is fine (default: exit 6)
--
-- Prints one line per folder or pool, tab-separated key:value fields:
--   path:/DC0/vm/prod/web  name:web  datacenter:DC0  vms:2  select:folder:/DC0/vm/prod/web
--   path:/DC0/host/DC0_C0/Resources/prod  name:prod  owner:DC0_C0  vms:4  select:pool:/DC0/host/DC0_C0/Resources/prod
-- path is what vcbRestore's folderpath/resourcepool took, and what
-- vm.register{folder=, pool=} and restore.lua take; vms counts the VMs in it
-- and below it; select is the specifier that selects those VMs (vm.find,
-- --each, vms= of the backup scripts).
local vm = require "vm"
local script = require "script"

local a = script.args {
  match = { default = "*", help = "only the paths that match this glob (* matches anything)" },
  allow_empty = { type = "boolean", default = false, help = "a match= that selects nothing is not a failure" },
}
local what = a[1]
local kinds = { vmfolders = "folder", resourcepools = "pool" }
if not kinds[what] then
  error({ code = "invalid_argument",
    message = "say what to list: vmfolders or resourcepools (vcbUtil -c's names), e.g. vmlua run scripts/inventory.lua vmfolders" })
end

-- A glob (* matches anything, ? one character) as an anchored Lua pattern.
local function glob(g)
  return "^" .. g:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0"):gsub("%*", ".*"):gsub("%?", ".") .. "$"
end
local pattern = glob(a.match)

local list = what == "vmfolders" and vm.folders() or vm.pools()
local n = 0
for _, x in ipairs(list) do
  if x.path:find(pattern) then
    n = n + 1
    print(table.concat({
      "path:" .. x.path,
      "name:" .. x.name,
      (kinds[what] == "folder" and ("datacenter:" .. x.datacenter) or ("owner:" .. x.owner)),
      "vms:" .. x.vms,
      "select:" .. kinds[what] .. ":" .. x.path,
    }, "\t"))
  end
end
if n == 0 then
  script.nothing_selected(string.format("no %s matches match=%s (of %d)", what == "vmfolders" and "VM folder" or "resource pool", a.match, #list))
end
