-- tiers.lua — backup tiers from the book's five-step planning (chapter 7).
--
--   1. Inventory: list your VMs (scripts/vm_info.lua any: prints them all).
--   2. RPO — how much data can each VM afford to lose?  A day: back it up nightly;
--      a week: weekly.
--   3. RTO — how fast must it be back?  A hot VM backup restores in about the time
--      it took to back up; compression makes the restore faster still.
--   4. Apply the right job to the need: the TIERS table below.
--   5. Document the result: this file, kept in version control, IS the document.
--
-- Run every night:  vmlua run --allow DEST examples/tiers.lua to=DEST [credentials=NAME] [vms=any:]
-- (weekday=0..6 pretends it is that day of the week, 0 = Sunday, for a test;
-- vms= limits the run to some VMs, which then go to their tiers as usual).
local vm = require "vm"
local backup = require "backup"
local log = require "log"
local script = require "script"

local a = script.args {
  to = { default = "file:///srv/backup", help = "a granted transport URL" },
  vms = { default = "any:", help = "which VMs to consider (default every VM)" },
  weekday = { type = "number", help = "pretend today is this day of the week, 0 = Sunday (for a test)" },
  credentials = { help = "named credentials from the config for to=" },
  allow_empty = { type = "boolean", default = false, help = "a selection matching no VM is not a failure" },
}

local TIERS = {
  -- tier 1: RPO 24 h, RTO < 1 h — restored first after a disaster
  { name = "tier-1", vms = { "DB*", "mail*" }, days = "0123456", keep = 7, compress = "zstd" },
  -- tier 2: RPO 7 days — restored after tier 1
  { name = "tier-2", vms = { "VM*", "web-*" }, days = "0", keep = 4, compress = "zstd" },
}
-- and every VM's configuration daily (vmxBackup.pl): cheap, and the only
-- record of a VM's settings when its host's disk is gone.

local to = a.to
local today = tostring(a.weekday or os.date("!%w"))
local failed = 0

local function in_tier(t, name)
  for _, g in ipairs(t.vms) do
    if name:find("^" .. g:gsub("%*", ".*") .. "$") then return true end
  end
  return false
end

local vms = vm.find(a.vms)
if #vms == 0 then script.nothing_selected("no VM matches " .. a.vms .. ": nothing was backed up") end
for _, v in ipairs(vms) do
  for _, t in ipairs(TIERS) do
    if in_tier(t, v.name) and t.days:find(today, 1, true) then
      local ok, err = pcall(function()
        local set = v:backup { to = to, compress = t.compress, credentials = a.credentials }
        backup.prune { at = to, vm = v.name, keep = t.keep, credentials = a.credentials }
        print(string.format("%s %s: %s", t.name, v.name, set.id))
      end)
      if not ok then failed = failed + 1; log.error("backup failed", { vm = v.name, tier = t.name, error = tostring(err) }) end
      break -- a VM belongs to its first tier only
    end
  end
  local ok, err = pcall(backup.vmx, { vm = v, to = to, credentials = a.credentials })
  if not ok then failed = failed + 1; log.error("config backup failed", { vm = v.name, error = tostring(err) }) end
end
if failed > 0 then error({ code = "error", message = failed .. " backup(s) failed" }) end
