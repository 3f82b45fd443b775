-- two_targets.lua — every VM to two places: a fast local target kept short,
-- and an off-site copy kept longer (3-2-1: the second copy survives the site).
--
-- Run:  vmlua run --allow LOCAL --allow OFFSITE examples/two_targets.lua \
--         local=nfs://nas/vm offsite=sftp://backup@dr.example.com/vm [offsite_credentials=dr] [vms=SPEC]
local vm = require "vm"
local backup = require "backup"

local TARGETS = {
  { url = arg["local"] or "nfs://nas.example.com/export/vm", keep = { daily = 7 } },
  { url = arg.offsite or "sftp://backup@dr.example.com/vm", credentials = arg.offsite_credentials or "dr",
    keep = { daily = 7, weekly = 4, monthly = 6 } },
}

local failed = 0
for _, v in ipairs(vm.find(arg.vms or "powerstate:on")) do
  for _, t in ipairs(TARGETS) do
    -- one backup per target: a failing target never stops the other one
    local ok, set = pcall(v.backup, v, { to = t.url, credentials = t.credentials })
    if ok then
      backup.prune { at = t.url, vm = v.name, policy = t.keep, credentials = t.credentials }
      print(v.name .. " -> " .. t.url .. " " .. set.id)
    else
      failed = failed + 1
      print(v.name .. " -> " .. t.url .. " FAILED: " .. tostring(set))
    end
  end
end
if failed > 0 then error({ code = "error", message = failed .. " backup(s) failed" }) end
