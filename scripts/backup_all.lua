-- backup_all.lua — vmsnap_all: back up every VM (or those a specifier
-- names) into backup sets, compressed, with retention.
--
-- Usage:
--   vmlua run --allow DEST scripts/backup_all.lua to=DEST [vms=any:] [keep=4] [compress=zstd] [mode=auto]
--   vmlua run --each powerstate:on --per-host 2 --allow DEST scripts/backup_all.lua to=DEST [keep=4]
--
--   to=DEST        a granted transport URL: file:///srv/backup, sftp://backup@nas/backups, ...
--   vms=SPEC       which VMs when run on its own (default any:); with --each, vmlua hands
--                  each run one VM as arg.vm, and runs them in parallel within the limits
--   keep=N         sets to keep per VM after a successful backup (default 4, ghettoVCB's rotation)
--   compress=ALG   zstd (default), gzip or none
--   mode=M         auto (default): changed-block-tracking incrementals on the VM's newest
--                  set, and a full once a chain holds chain_max sets; full: a full set every
--                  run; incremental: always on the newest set (a full when there is none)
--   chain_max=N    with mode=auto, the longest chain: a full and N-1 incrementals (default 7)
--   full_every=N   with mode=auto or incremental, every Nth set of a VM is a full
--   verify_cbt=true  verifying fulls that check changed block tracking (see nightly.lua)
--   credentials=N  named credentials from the config for DEST
--   allow_empty=true  a specifier that matches no VM is fine (default: exit 6, nothing_selected)
--   window=S-E     backup window in local time, e.g. 22:00-06:00 (may cross midnight; default
--                  the run's --window or [limits] window): once the window the run started in
--                  closed, no further VM starts (the running one finishes); those not started
--                  are listed and the run exits 7 (partial)
--   notify=WHEN    always, failure (default) or never: when to send the run's summary to the
--                  destinations the operator configured in [notify] (none configured: nothing
--                  is sent); with --each each VM's run is one run, and the default is never
--
-- vms= takes every specifier vm.find does, combined: folder:/DC0/vm/prod powerstate:on
-- (AND), name:web-*,tag:Backup:gold (OR).
--
-- Before backing a VM up it commits the REDO logs a killed vmlua run left on
-- it (vm.cleanup_orphans). A VM whose backup fails keeps all its older sets
-- (no retention for it in this run); the script fails at the end if any VM
-- failed, so cron mails it. A set that lacks a disk that cannot be backed up
-- (an independent disk, an RDM) is partial: the run then exits 7 (partial), as
-- when the backup window closed before every VM started.
local vm = require "vm"
local backup = require "backup"
local log = require "log"
local script = require "script"
local notify = require "notify"

local a = script.args {
  to = { required = true, help = "a granted transport URL" },
  vms = { default = "any:", help = "which VMs: any:, powerstate:on, name:web-*, ..." },
  vm = { each = true, help = "one VM (vmlua run --each sets it)" },
  keep = { type = "number", default = 4, help = "sets to keep per VM" },
  compress = { default = "zstd", help = "zstd, gzip or none" },
  mode = { default = "auto", help = "auto, full or incremental" },
  chain_max = { type = "number", default = 7, help = "with mode=auto: a full and chain_max-1 incrementals at most" },
  full_every = { type = "number", default = 0, help = "every Nth set of a VM is a full (0: no such rule)" },
  verify_cbt = { type = "boolean", default = false, help = "verifying fulls that check changed block tracking" },
  credentials = { help = "named credentials from the config for to=" },
  allow_empty = { type = "boolean", default = false, help = "a selection matching no VM is not a failure" },
  notify = { help = "when to send the summary to [notify]: always, failure (default; never with --each) or never" },
  window = { help = "backup window START-END in local time, e.g. 22:00-06:00: no VM starts once it closed (default: the run's --window)" },
}
local to = a.to
if not ({ auto = true, full = true, incremental = true })[a.mode] then
  error({ code = "invalid_argument", message = "mode=" .. a.mode .. ": want auto, full or incremental" })
end

local when = a.notify or (a.vm and "never" or "failure")
if not ({ always = true, failure = true, never = true })[when] then
  error({ code = "invalid_argument", message = "notify=" .. when .. ": want always, failure or never" })
end
local report = {}
local function say(line)
  print(line)
  report[#report + 1] = line
end
local function send_summary(status, headline, details)
  notify.send({ subject = "vmlua backup_all: " .. status .. ": " .. headline, status = status,
    text = table.concat(report, "\n"), details = details }, { when = when })
end

local targets
local fok, ferr = pcall(function()
  if a.vm then
    targets = { vm.open(a.vm) }
  else
    targets = vm.find(a.vms)
  end
end)
if not fok then
  say("no VM could be selected: " .. tostring(ferr))
  send_summary("failed", "no VM could be selected", { error = tostring(ferr) })
  error(ferr, 0)
end
if #targets == 0 then
  local what = a.vm and ("vm=" .. a.vm) or ("vms=" .. a.vms)
  say(string.format("0 VM(s) match %s: nothing backed up", what))
  if not a.allow_empty then
    send_summary("nothing_selected", "no VM matches " .. what, { selection = what })
  end
  script.nothing_selected("no VM matches " .. what .. ": nothing was backed up")
end

-- A killed run's REDO log would put the disks on two snapshot levels: commit
-- them first (only on the VMs backed up here).
local cok, cerr = pcall(vm.cleanup_orphans, targets)
if not cok then
  log.error("could not commit the REDO logs an earlier run left; the backups will say why they fail", { error = tostring(cerr) })
end

local failed, partial, done, dry = {}, {}, 0, false
local rows = {}
local not_started, closed_why = {}, nil
for _, v in ipairs(targets) do
  -- the backup window (window= or --window): once it closed, no VM starts
  local closed = script.window_closed(a.window)
  if closed then
    not_started[#not_started + 1], closed_why = v.name, closed
    local row = { vm = v.name, target = to, status = "not_started", set = "-", bytes = 0, message = closed }
    script.result(row)
    rows[#rows + 1] = row
  else
    local ok, set = pcall(function()
      return v:backup { to = to, compress = a.compress, credentials = a.credentials, mode = a.mode, chain_max = a.chain_max,
        full_every = a.full_every, verify_cbt = a.verify_cbt }
    end)
    local row = { vm = v.name, target = to, status = "ok", set = "-", bytes = 0, message = "" }
    if ok then
      done = done + 1
      row.set, row.dry_run = set.id, set.dry_run == true
      dry = dry or row.dry_run
      for _, d in ipairs(set.disks) do row.bytes = row.bytes + (d.bytes or 0) end
      row.mode = set.mode or "full"
      log.info(set.dry_run and "dry run: backup set planned" or "backup set written", { vm = v.name, set = set.id, mode = row.mode, disks = #set.disks, stored_bytes = row.bytes, status = set.status })
      if set.status == "partial" then
        local ids = {}
        for _, s in ipairs(set.skipped or {}) do
          if not s.excluded then ids[#ids + 1] = s.id end
        end
        row.status, row.message = "partial", "lacks disk(s) " .. table.concat(ids, ",")
        partial[#partial + 1] = v.name .. " (" .. table.concat(ids, ",") .. ")"
      end
      local p = backup.prune { at = to, vm = v.name, keep = a.keep, credentials = a.credentials }
      for _, r in ipairs(p.removed) do
        log.info(p.dry_run and "retention would remove a set" or "retention removed a set", { vm = v.name, set = r.id, reason = r.reason })
      end
    else
      failed[#failed + 1] = v.name
      row.status, row.message = "failed", tostring(set)
      log.error("backup failed; older sets are kept", { vm = v.name, error = tostring(set) })
    end
    script.result(row)
    rows[#rows + 1] = row
  end
end

say(string.format("%d of %d VM(s) %s to %s, %d partial", done, #targets, dry and "would be backed up (dry run, nothing written)" or "backed up", to, #partial))
if #partial > 0 then
  say("partial (disks not backed up): " .. table.concat(partial, ", "))
end
if #not_started > 0 then
  say(table.concat(not_started, ", ") .. " " .. closed_why)
end
if #failed > 0 then
  say("failed: " .. table.concat(failed, ", "))
end
for _, r in ipairs(rows) do
  if r.status == "failed" then say(r.vm .. ": " .. r.message) end
end
local status = #failed > 0 and "failed" or (#partial > 0 or #not_started > 0) and "partial" or "ok"
send_summary(status, string.format("%d of %d VM(s) failed, %d partial, %d not started", #failed, #targets, #partial, #not_started),
  { rows = rows, target = to, dry_run = dry })
if #failed > 0 then
  error({ code = "error", message = #failed .. " backup(s) failed: " .. table.concat(failed, ", ") })
end
if #partial > 0 or #not_started > 0 then
  script.status("partial")
end
