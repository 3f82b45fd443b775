-- power_off_backup.lua — cold backups for VMs that a crash-consistent copy
-- does not protect (a database without a quiescing agent, an old mail server):
-- shut the guest down cleanly, back up, power it on again. vmlua powers the VM
-- back on even when the backup fails.
--
-- Run in a maintenance window:
--   vmlua run --allow DEST examples/power_off_backup.lua to=DEST [vms=name:DB*,name:legacy-*]
local vm = require "vm"
local backup = require "backup"
local script = require "script"

local a = script.args {
  to = { default = "file:///srv/backup", help = "a granted transport URL" },
  vms = { type = "list", default = "name:DB*", help = "which VMs: specifiers, comma-separated" },
  credentials = { help = "named credentials from the config for to=" },
  allow_empty = { type = "boolean", default = false, help = "a selection matching no VM is not a failure" },
}
local to = a.to

local vms = {}
for _, spec in ipairs(a.vms) do
  for _, v in ipairs(vm.find(spec)) do vms[#vms + 1] = v end
end
if #vms == 0 then script.nothing_selected("no VM matches " .. table.concat(a.vms, ",") .. ": nothing was backed up") end
local failed = 0
for _, v in ipairs(vms) do
  -- power_off=true: a guest shutdown (VMware Tools), the backup, then power on
  local ok, set = pcall(v.backup, v, { to = to, power_off = true, credentials = a.credentials })
  v:refresh()
  if ok then
    backup.prune { at = to, vm = v.name, keep = 4, credentials = a.credentials }
    print(string.format("%s -> %s (cold; the VM is %s again)", v.name, set.id, v.power))
  else
    failed = failed + 1
    print(v.name .. " FAILED: " .. tostring(set))
  end
end
if failed > 0 then error({ code = "error", message = failed .. " backup(s) failed" }) end
