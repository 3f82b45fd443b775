-- power_off_backup.lua — cold backups for VMs that a crash-consistent copy
-- does not protect (a database without a quiescing agent, an old mail server):
-- shut the guest down cleanly, back up, power it on again. vmlua powers the VM
-- back on even when the backup fails.
--
-- Run in a maintenance window:
--   vmlua run --allow DEST examples/power_off_backup.lua to=DEST [vms=name:DB*,name:legacy-*]
local vm = require "vm"
local backup = require "backup"

local to = arg.to or "file:///srv/backup"
local specs = arg.vms or "name:DB*"

local failed = 0
for spec in specs:gmatch("[^,]+") do
  for _, v in ipairs(vm.find(spec)) do
    -- power_off=true: a guest shutdown (VMware Tools), the backup, then power on
    local ok, set = pcall(v.backup, v, { to = to, power_off = true, credentials = arg.credentials })
    v:refresh()
    if ok then
      backup.prune { at = to, vm = v.name, keep = 4, credentials = arg.credentials }
      print(string.format("%s -> %s (cold; the VM is %s again)", v.name, set.id, v.power))
    else
      failed = failed + 1
      print(v.name .. " FAILED: " .. tostring(set))
    end
  end
end
if failed > 0 then error({ code = "error", message = failed .. " backup(s) failed" }) end
