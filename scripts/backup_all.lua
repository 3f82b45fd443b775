-- backup_all.lua — vmsnap_all: back up every VM (or those a specifier
-- names) into backup sets, compressed, with retention.
--
-- Usage:
--   vmlua run --allow DEST scripts/backup_all.lua to=DEST [vms=any:] [keep=4] [compress=zstd]
--   vmlua run --each powerstate:on --per-host 2 --allow DEST scripts/backup_all.lua to=DEST [keep=4]
--
--   to=DEST        a granted transport URL: file:///srv/backup, sftp://backup@nas/backups, ...
--   vms=SPEC       which VMs when run on its own (default any:); with --each, vmlua hands
--                  each run one VM as arg.vm, and runs them in parallel within the limits
--   keep=N         sets to keep per VM after a successful backup (default 4, ghettoVCB's rotation)
--   compress=ALG   zstd (default), gzip or none
--   credentials=N  named credentials from the config for DEST
--
-- A VM whose backup fails keeps all its older sets (no retention for it in
-- this run); the script fails at the end if any VM failed, so cron mails it.
local vm = require "vm"
local backup = require "backup"
local log = require "log"

local to = arg.to
if not to then
  error({ code = "invalid_argument", message = "usage: backup_all.lua to=URL [vms=any:] [keep=4] [compress=zstd]" })
end
local keep = tonumber(arg.keep or "4")
local compress = arg.compress or "zstd"

local targets
if arg.vm then
  local v = vm.open(arg.vm)
  if not v then
    error({ code = "not_found", message = "no VM matches " .. arg.vm })
  end
  targets = { v }
else
  targets = vm.find(arg.vms or "any:")
end

local failed, done = {}, 0
for _, v in ipairs(targets) do
  local ok, set = pcall(function()
    return v:backup { to = to, compress = compress, credentials = arg.credentials }
  end)
  if ok then
    done = done + 1
    local bytes = 0
    for _, d in ipairs(set.disks) do bytes = bytes + (d.bytes or 0) end
    log.info("backup set written", { vm = v.name, set = set.id, disks = #set.disks, stored_bytes = bytes })
    local p = backup.prune { at = to, vm = v.name, keep = keep, credentials = arg.credentials }
    for _, r in ipairs(p.removed) do
      log.info("retention removed a set", { vm = v.name, set = r.id, reason = r.reason })
    end
  else
    failed[#failed + 1] = v.name
    log.error("backup failed; older sets are kept", { vm = v.name, error = tostring(set) })
  end
end

print(string.format("%d of %d VM(s) backed up to %s", done, #targets, to))
if #failed > 0 then
  error({ code = "error", message = #failed .. " backup(s) failed: " .. table.concat(failed, ", ") })
end
