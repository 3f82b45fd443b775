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
-- Run every night:  vmlua run --allow DEST examples/tiers.lua to=DEST [credentials=NAME]
-- (weekday=0..6 pretends it is that day of the week, 0 = Sunday, for a test).
local vm = require "vm"
local backup = require "backup"
local log = require "log"

local TIERS = {
  -- tier 1: RPO 24 h, RTO < 1 h — restored first after a disaster
  { name = "tier-1", vms = { "DB*", "mail*" }, days = "0123456", keep = 7, compress = "zstd" },
  -- tier 2: RPO 7 days — restored after tier 1
  { name = "tier-2", vms = { "VM*", "web-*" }, days = "0", keep = 4, compress = "zstd" },
}
-- and every VM's configuration daily (vmxBackup.pl): cheap, and the only
-- record of a VM's settings when its host's disk is gone.

local to = arg.to or "file:///srv/backup"
local today = arg.weekday or os.date("!%w")
local failed = 0

local function in_tier(t, name)
  for _, g in ipairs(t.vms) do
    if name:find("^" .. g:gsub("%*", ".*") .. "$") then return true end
  end
  return false
end

for _, v in ipairs(vm.find("any:")) do
  for _, t in ipairs(TIERS) do
    if in_tier(t, v.name) and t.days:find(today, 1, true) then
      local ok, err = pcall(function()
        local set = v:backup { to = to, compress = t.compress, credentials = arg.credentials }
        backup.prune { at = to, vm = v.name, keep = t.keep, credentials = arg.credentials }
        print(string.format("%s %s: %s", t.name, v.name, set.id))
      end)
      if not ok then failed = failed + 1; log.error("backup failed", { vm = v.name, tier = t.name, error = tostring(err) }) end
      break -- a VM belongs to its first tier only
    end
  end
  local ok, err = pcall(backup.vmx, { vm = v, to = to, credentials = arg.credentials })
  if not ok then failed = failed + 1; log.error("config backup failed", { vm = v.name, error = tostring(err) }) end
end
if failed > 0 then error({ code = "error", message = failed .. " backup(s) failed" }) end
