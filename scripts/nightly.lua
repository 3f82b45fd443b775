-- nightly.lua — a complete nightly backup policy: which VMs, to which
-- targets, how many sets to keep, a summary at the end, and an exit status
-- that says how it went (so cron mails it and a CronJob shows it).
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
--   allow_empty=true a selection that matches no VM is fine (exit 0); without it the run
--                    exits 6 (nothing_selected): a typo must not look like a night of backups
--                    vms= takes every specifier vm.find does, combined: folder:/DC0/vm/prod
--                    powerstate:on (AND), name:web-*,tag:Backup:gold (OR); see docs/lua-api.md
-- Targets:
--   to=URL[,URL...]  one or more granted transport URLs; every VM is backed up to each
--   credentials=N[,N...]  named credentials, one per target in the same order (or one for all)
-- Sets:
--   compress=zstd|gzip|none (default zstd)   quiesce=true   power_off=true
--   mode=auto|full|incremental (default auto): auto stores changed-block-tracking
--                    incrementals on each VM's newest set and a full once a chain holds
--                    chain_max sets (logged at INFO: a planned full is no warning); full
--                    makes a full set every night; incremental always builds on the newest
--   chain_max=N      with mode=auto, the longest chain: a full and N-1 incrementals (default 7)
--   full_every=N     with mode=auto or incremental, every Nth set of a VM is a full
--   verify_cbt=true  tonight's sets are verifying fulls: every span changed block tracking
--                    reports unchanged is compared with the newest set (a missed change is an
--                    error); e.g. from a monthly cron line of its own
--   verify=true      re-read every new set and check it against its catalog (default true)
-- Retention, after a successful backup only (default keep=7):
--   keep=N           the last N sets per VM and target
--   daily=N weekly=N monthly=N yearly=N   grandfather-father-son instead of (or with) keep=
--   prune=false      back up and verify, remove nothing: for an append-only target (S3 with an
--                    account that may not delete), pruned from another host with other
--                    credentials (vmlua prune --credentials NAME TARGET --gfs ...)
--   prune_credentials=N[,N...]  prune with these named credentials (one per target, or one
--                    for all) instead of credentials=: keys that may delete, when those that
--                    write may not
--   On a target with object lock (s3://...?object_lock=compliance) each set is locked until
--   the date this retention keeps it at the earliest: give daily=/weekly=/... (keep= alone
--   gives no date) or the target's lock_days=.
--   dry_run=true     a retention preview: back nothing up, write and remove nothing, and list
--                    the sets the retention would remove today (vmlua run --dry-run walks the
--                    whole run instead, backups included, and changes nothing either)
--
-- Backup window:
--   window=S-E       local times, e.g. 22:00-06:00 (may cross midnight; default the run's
--                    --window or [limits] window): once the window the run started in closed,
--                    no further VM starts (the running one finishes); those not started are
--                    listed in the summary and the run exits 7 (partial)
--
-- Notification (to the destinations the operator configured in [notify]; none: nothing sent):
--   notify=always|failure|never  when to send the run's summary (default failure: a run that
--                    failed, was partial or selected nothing; with --each each VM's run is one
--                    run, so the default is never there: give notify= to have one per VM)
--
-- Before backing a VM up it commits the REDO logs a killed vmlua run left on it
-- (vm.cleanup_orphans). Prints a summary table (one line per VM and target) and
-- the totals. Exit status: 0 every set ok; 7 (partial) a set lacks a disk that
-- could not be backed up (an independent disk, an RDM), or the backup window closed
-- before every VM started; 6 (nothing_selected) no
-- VM matched; 1 (code "error") any backup, verification or pruning failed.
local vm = require "vm"
local backup = require "backup"
local log = require "log"
local script = require "script"
local notify = require "notify"

local a = script.args {
  to = { type = "list", required = true, help = "one or more granted transport URLs, comma-separated" },
  vms = { default = "any:", help = "a VM specifier: any:, powerstate:on, name:web-*, ..." },
  vm = { each = true, help = "one VM (vmlua run --each sets it)" },
  name = { type = "list", help = "keep only VMs whose name matches one of these globs" },
  path = { help = "keep only VMs whose .vmx path matches this Lua pattern" },
  exclude = { type = "list", help = "leave out VMs whose name matches one of these globs" },
  allow_empty = { type = "boolean", default = false, help = "a selection matching no VM is not a failure" },
  credentials = { type = "list", help = "named credentials, one per target (or one for all)" },
  compress = { default = "zstd", help = "zstd, gzip or none" },
  quiesce = { type = "boolean", default = false, help = "quiesce the guest file systems" },
  power_off = { type = "boolean", default = false, help = "shut the guest down for the backup" },
  verify = { type = "boolean", default = true, help = "re-read every new set against its catalog" },
  mode = { default = "auto", help = "auto, full or incremental" },
  chain_max = { type = "number", default = 7, help = "with mode=auto: a full and chain_max-1 incrementals at most" },
  full_every = { type = "number", default = 0, help = "every Nth set of a VM is a full (0: no such rule)" },
  verify_cbt = { type = "boolean", default = false, help = "verifying fulls that check changed block tracking" },
  keep = { type = "number", help = "the last N sets per VM and target (default 7)" },
  daily = { type = "number", help = "daily sets to keep" },
  weekly = { type = "number", help = "weekly sets to keep" },
  monthly = { type = "number", help = "monthly sets to keep" },
  yearly = { type = "number", help = "yearly sets to keep" },
  prune_credentials = { type = "list", help = "named credentials for pruning, one per target (or one for all)" },
  prune = { type = "boolean", default = true, help = "prune after each backup (false: an append-only target, pruned from another host)" },
  dry_run = { type = "boolean", default = false, help = "retention preview: back nothing up, remove nothing" },
  notify = { help = "when to send the summary to [notify]: always, failure (default; never with --each) or never" },
  window = { help = "backup window START-END in local time, e.g. 22:00-06:00: no VM starts once it closed (default: the run's --window)" },
}

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
local targets, creds = a.to, a.credentials or {}
local prune_creds = a.prune_credentials or {}
local names, excludes = a.name or {}, a.exclude or {}
local policy = {}
for _, k in ipairs({ "daily", "weekly", "monthly", "yearly" }) do
  if a[k] then policy[k] = a[k] end
end
local keep = a.keep or ((next(policy) == nil) and 7 or nil)
local preview = a.dry_run
if not ({ auto = true, full = true, incremental = true })[a.mode] then
  error({ code = "invalid_argument", message = "mode=" .. a.mode .. ": want auto, full or incremental" })
end
local options = { compress = a.compress, quiesce = a.quiesce, power_off = a.power_off, mode = a.mode, chain_max = a.chain_max,
  full_every = a.full_every, verify_cbt = a.verify_cbt }
local when = a.notify or (a.vm and "never" or "failure")
if not ({ always = true, failure = true, never = true })[when] then
  error({ code = "invalid_argument", message = "notify=" .. when .. ": want always, failure or never" })
end

-- The summary: printed, and sent to [notify]'s destinations when `when` says so.
local report = {}
local function say(line)
  print(line)
  report[#report + 1] = line
end
local function send_summary(status, headline, details)
  notify.send({ subject = "vmlua nightly: " .. status .. ": " .. headline, status = status,
    text = table.concat(report, "\n"), details = details }, { when = when })
end

-- Selection
local candidates
local fok, ferr = pcall(function()
  if a.vm then
    candidates = { vm.open(a.vm) }
  else
    candidates = vm.find(a.vms)
  end
end)
if not fok then
  say("no VM could be selected: " .. tostring(ferr))
  send_summary("failed", "no VM could be selected", { error = tostring(ferr) })
  error(ferr, 0)
end
local selected = {}
for _, v in ipairs(candidates) do
  local why
  if #names > 0 and not matches_any(v.name, names) then
    why = "name"
  elseif a.path and not v.vmx:find(a.path) then
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
if #selected == 0 then
  local what = "vms=" .. (a.vm or a.vms)
  if #names > 0 then what = what .. " name=" .. table.concat(names, ",") end
  if a.path then what = what .. " path=" .. a.path end
  if #excludes > 0 then what = what .. " exclude=" .. table.concat(excludes, ",") end
  say(string.format("0 VM(s) selected by %s (%d candidate(s)): nothing backed up", what, #candidates))
  if not a.allow_empty then
    send_summary("nothing_selected", "no VM matches " .. what, { selection = what })
  end
  script.nothing_selected("no VM matches " .. what .. ": nothing was backed up")
end

-- The disks a set lacks (not those the script excluded).
local function missing(set)
  local out = {}
  for _, s in ipairs(set.skipped or {}) do
    if not s.excluded then out[#out + 1] = s.id end
  end
  return out
end

-- Backups
local rows, failures, partials = {}, 0, 0
local totals = { sets = 0, bytes = 0, pruned = 0 }
local dry = false -- vmlua run --dry-run: v:backup returns plans
-- A killed run's REDO log would put the disks on two snapshot levels: commit
-- them first (only on the VMs backed up here).
if not preview then
  local ok, err = pcall(vm.cleanup_orphans, selected)
  if not ok then
    log.error("could not commit the REDO logs an earlier run left; the backups will say why they fail", { error = tostring(err) })
  end
end
local not_started, closed_why = {}, nil
for _, v in ipairs(selected) do
  -- the backup window (window= or --window): once it closed, no VM starts
  local closed = not preview and script.window_closed(a.window)
  if closed then
    not_started[#not_started + 1], closed_why = v.name, closed
    rows[#rows + 1] = { vm = v.name, target = "-", result = "not started", set = "-", mode = "-", bytes = 0, seconds = 0, missing = "" }
    script.result { vm = v.name, status = "not_started", message = closed }
  else
    for i, to in ipairs(targets) do
      local cred = creds[i] or creds[1]
      local row = { vm = v.name, target = to, result = "ok", set = "-", mode = "-", bytes = 0, seconds = 0, missing = "" }
      local started = os.time()
      local ok, err = pcall(function()
        if preview then
          row.result = "preview"
        else
          -- the retention goes with the set too: a target with object lock
          -- locks it until the date the retention keeps it
          local o = { to = to, credentials = cred, keep = keep, policy = next(policy) and policy or nil }
          for k, x in pairs(options) do o[k] = x end
          local set = v:backup(o)
          row.set, row.mode = set.id, set.mode or "full"
          dry = dry or set.dry_run == true
          for _, d in ipairs(set.disks) do row.bytes = row.bytes + (d.bytes or 0) + (d.planned_bytes or 0) end
          if set.status == "partial" then
            row.result = "partial"
            row.missing = table.concat(missing(set), ",")
          end
          if set.dry_run then
            row.result = row.result .. " (dry run)"
          else
            totals.sets = totals.sets + 1
            totals.bytes = totals.bytes + row.bytes
          end
          if a.verify and not set.dry_run then
            local r = backup.verify { at = to, set = set.id, credentials = cred }
            if not r.ok then
              row.result = "VERIFY FAILED"
              for _, p in ipairs(r.problems) do
                log.error("verify: problem", { vm = v.name, set = set.id, file = p.file, problem = p.problem })
              end
              return
            end
          end
        end
        if not a.prune then return end
        local p = backup.prune { at = to, vm = v.name, keep = keep, policy = next(policy) and policy or nil,
          dry_run = preview, credentials = prune_creds[i] or prune_creds[1] or cred }
        for _, r in ipairs(p.removed) do
          log.info(p.dry_run and "retention: would remove" or "retention: removed", { vm = v.name, set = r.id, reason = r.reason })
        end
        row.pruned = #p.removed
        totals.pruned = totals.pruned + #p.removed
      end)
      row.seconds = os.time() - started
      if not ok then
        row.result = "FAILED"
        row.error = tostring(err)
        log.error("backup failed; older sets are kept", { vm = v.name, target = to, error = row.error })
      end
      if row.result == "FAILED" or row.result == "VERIFY FAILED" then
        failures = failures + 1
      elseif row.result:find("^partial") then
        partials = partials + 1
      end
      rows[#rows + 1] = row
      local status = ({ FAILED = "failed", ["VERIFY FAILED"] = "failed" })[row.result] or row.result:match("^%S+")
      script.result { vm = row.vm, target = row.target, status = status, set = row.set, mode = row.mode, bytes = row.bytes,
        seconds = row.seconds, pruned = row.pruned or 0, missing = row.missing, dry_run = dry or preview, message = row.error or "" }
    end
  end
end

-- Summary
say(preview and "nightly retention preview (nothing written, nothing removed)"
  or dry and "nightly summary (dry run: nothing written, nothing removed)" or "nightly summary")
say(string.format("%-20s %-18s %12s %7s  %-11s  %-30s %s", "VM", "RESULT", "BYTES", "SECONDS", "MODE", "SET", "TARGET"))
for _, r in ipairs(rows) do
  say(string.format("%-20s %-18s %12d %7d  %-11s  %-30s %s", r.vm, r.result, r.bytes, r.seconds, r.mode, r.set, r.target))
end
for _, r in ipairs(rows) do
  if r.missing ~= "" then
    say(string.format("%s: the set lacks disk(s) %s (independent or RDM: not backed up; see the log)", r.vm, r.missing))
  end
end
if preview then
  say(string.format("%d VM(s), %d target(s): preview only: %d set(s) would be pruned by the retention today, %d failed",
    #selected, #targets, totals.pruned, failures))
elseif dry then
  say(string.format("%d VM(s), %d target(s): dry run: nothing written; %d failed, %d partial, %d set(s) would be pruned",
    #selected, #targets, failures, partials, totals.pruned))
else
  say(string.format("%d VM(s), %d target(s): %d set(s) written, %d failed, %d partial, %d pruned, %d bytes stored",
    #selected, #targets, totals.sets, failures, partials, totals.pruned, totals.bytes))
end
if #not_started > 0 then
  say(table.concat(not_started, ", ") .. " " .. closed_why)
end
local status = failures > 0 and "failed" or (partials > 0 or #not_started > 0) and "partial" or "ok"
local headline = string.format("%d of %d backup(s) failed, %d partial, %d set(s) written, %d VM(s) not started", failures, #rows, partials, totals.sets, #not_started)
send_summary(status, headline, { rows = rows, totals = totals, vms = #selected, targets = #targets,
  preview = preview, dry_run = dry })
if failures > 0 then
  error({ code = "error", message = failures .. " of " .. #rows .. " backup(s) failed; see the summary" })
end
if partials > 0 or #not_started > 0 then
  script.status("partial")
end
