-- nightly.lua — a complete nightly backup policy: which VMs, to which
-- targets, how many sets to keep, a summary at the end, and a failing exit
-- status when anything failed (so cron mails it and a CronJob shows it).
--
-- Usage:
--   vmlua run --allow DEST [--allow DEST2] scripts/nightly.lua to=DEST[,DEST2...] [options]
--   vmlua run --each powerstate:on --per-host 2 --allow DEST scripts/nightly.lua to=DEST [options]
--
-- Selection (a VM must pass every filter given):
--   vms=SPEC         a specifier: any: (default), powerstate:on, name:web-*, moref:vm-42, ...
--                    (with --each, vmlua hands each run its VM as arg.vm instead)
--   name=GLOB[,GLOB] keep only VMs whose name matches one of these globs (* and ?)
--   path=PATTERN     keep only VMs whose .vmx datastore path matches this Lua pattern,
--                    e.g. path=^%[SAN01%] prod/ — the datastore folder they live in
--   exclude=GLOB,... leave out VMs whose name matches one of these globs
--   The inventory folder (vCenter's VM and Templates view) cannot be selected on yet:
--   the vm module has no folder: specifier and no v.folder field.
-- Targets:
--   to=URL[,URL...]  one or more granted transport URLs; every VM is backed up to each
--   credentials=N[,N...]  named credentials, one per target in the same order (or one for all)
-- Sets:
--   compress=zstd|gzip|none (default zstd)   quiesce=true   power_off=true
--   verify=true      re-read every new set and check it against its catalog (default true)
-- Retention, after a successful backup only (default keep=7):
--   keep=N           the last N sets per VM and target
--   daily=N weekly=N monthly=N yearly=N   grandfather-father-son instead of (or with) keep=
--   dry_run=true     show what retention would remove, remove nothing
--
-- Prints a summary table (one line per VM and target) and the totals; fails
-- with code "error" when any backup, verification or pruning failed.
local vm = require "vm"
local backup = require "backup"
local log = require "log"

local function list(s)
  local out = {}
  for item in (s or ""):gmatch("[^,]+") do
    out[#out + 1] = item:match("^%s*(.-)%s*$")
  end
  return out
end
local function bool(s, default)
  if s == nil then return default end
  return s == "true" or s == "1" or s == "yes"
end
-- A shell glob (* and ?) as an anchored Lua pattern.
local function glob(g)
  return "^" .. g:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0"):gsub("%*", ".*"):gsub("%?", ".") .. "$"
end
local function matches_any(name, globs)
  for _, g in ipairs(globs) do
    if name:find(glob(g)) then return true end
  end
  return false
end

-- Arguments
local targets = list(arg.to)
if #targets == 0 then
  error({ code = "invalid_argument", message = "usage: nightly.lua to=URL[,URL...] [vms=SPEC] [name=GLOB] [exclude=GLOB,...] [keep=N]" })
end
local creds = list(arg.credentials)
local names, excludes = list(arg.name), list(arg.exclude)
local policy = {}
for _, k in ipairs({ "daily", "weekly", "monthly", "yearly" }) do
  if arg[k] then policy[k] = tonumber(arg[k]) end
end
local keep = tonumber(arg.keep or ((next(policy) == nil) and "7" or ""))
local verify = bool(arg.verify, true)
local options = {
  compress = arg.compress or "zstd",
  quiesce = bool(arg.quiesce, false),
  power_off = bool(arg.power_off, false),
}

-- Selection
local candidates
if arg.vm then
  local v = vm.open(arg.vm)
  if not v then error({ code = "not_found", message = "no VM matches " .. arg.vm }) end
  candidates = { v }
else
  candidates = vm.find(arg.vms or "any:")
end
local selected = {}
for _, v in ipairs(candidates) do
  local why
  if #names > 0 and not matches_any(v.name, names) then
    why = "name"
  elseif arg.path and not v.vmx:find(arg.path) then
    why = "path"
  elseif matches_any(v.name, excludes) then
    why = "excluded"
  end
  if why then
    log.debug("not selected", { vm = v.name, reason = why })
  else
    selected[#selected + 1] = v
  end
end
log.info("nightly: selected", { vms = #selected, of = #candidates, targets = #targets })

-- Backups
local rows, failures = {}, 0
local totals = { sets = 0, bytes = 0, pruned = 0 }
for _, v in ipairs(selected) do
  for i, to in ipairs(targets) do
    local cred = creds[i] or creds[1]
    local row = { vm = v.name, target = to, result = "ok", set = "-", bytes = 0, seconds = 0 }
    local started = os.time()
    local ok, err = pcall(function()
      local o = { to = to, credentials = cred }
      for k, x in pairs(options) do o[k] = x end
      local set = v:backup(o)
      row.set = set.id
      for _, d in ipairs(set.disks) do row.bytes = row.bytes + (d.bytes or 0) end
      totals.sets = totals.sets + 1
      totals.bytes = totals.bytes + row.bytes
      if verify then
        local r = backup.verify { at = to, set = set.id, credentials = cred }
        if not r.ok then
          row.result = "VERIFY FAILED"
          for _, p in ipairs(r.problems) do
            log.error("verify: problem", { vm = v.name, set = set.id, file = p.file, problem = p.problem })
          end
          return
        end
      end
      local p = backup.prune { at = to, vm = v.name, keep = keep, policy = next(policy) and policy or nil,
        dry_run = bool(arg.dry_run, false), credentials = cred }
      for _, r in ipairs(p.removed) do
        log.info("retention: removed", { vm = v.name, set = r.id, reason = r.reason, dry_run = arg.dry_run })
      end
      totals.pruned = totals.pruned + #p.removed
    end)
    row.seconds = os.time() - started
    if not ok then
      row.result = "FAILED"
      log.error("backup failed; older sets are kept", { vm = v.name, target = to, error = tostring(err) })
    end
    if row.result ~= "ok" then failures = failures + 1 end
    rows[#rows + 1] = row
  end
end

-- Summary
print("nightly summary")
print(string.format("%-20s %-14s %12s %7s  %-30s %s", "VM", "RESULT", "BYTES", "SECONDS", "SET", "TARGET"))
for _, r in ipairs(rows) do
  print(string.format("%-20s %-14s %12d %7d  %-30s %s", r.vm, r.result, r.bytes, r.seconds, r.set, r.target))
end
print(string.format("%d VM(s), %d target(s): %d set(s) written, %d failed, %d pruned, %d bytes stored",
  #selected, #targets, totals.sets, failures, totals.pruned, totals.bytes))
if failures > 0 then
  error({ code = "error", message = failures .. " of " .. #rows .. " backup(s) failed; see the summary" })
end
