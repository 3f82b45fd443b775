-- two_targets.lua — every VM to two places: a fast local target kept short,
-- and an off-site copy kept longer (3-2-1: the second copy survives the site).
--
-- Run:  vmlua run --allow LOCAL --allow OFFSITE examples/two_targets.lua \
--         local=nfs://nas/vm offsite=sftp://backup@dr.example.com/vm [offsite_credentials=dr] [vms=SPEC]
-- Credentials are used only when named: offsite_credentials= (and
-- local_credentials=) name them in the config; a file:// target needs none.
local vm = require "vm"
local backup = require "backup"
local script = require "script"

local a = script.args {
  ["local"] = { default = "nfs://nas.example.com/export/vm", help = "the fast local target (kept a week)" },
  offsite = { default = "sftp://backup@dr.example.com/vm", help = "the off-site target (kept longer)" },
  local_credentials = { help = "named credentials from the config for local=" },
  offsite_credentials = { help = "named credentials from the config for offsite=, e.g. dr" },
  vms = { default = "powerstate:on", help = "which VMs: powerstate:on, name:web-*, any:, ..." },
  allow_empty = { type = "boolean", default = false, help = "a selection matching no VM is not a failure" },
}
local TARGETS = {
  { url = a["local"], credentials = a.local_credentials, keep = { daily = 7 } },
  { url = a.offsite, credentials = a.offsite_credentials, keep = { daily = 7, weekly = 4, monthly = 6 } },
}

local vms = vm.find(a.vms)
if #vms == 0 then script.nothing_selected("no VM matches " .. a.vms .. ": nothing was backed up") end
local failed = 0
for _, v in ipairs(vms) do
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
