-- s3_object_lock.lua — immutable backups on S3: every VM to a bucket with
-- object lock, each set locked until the retention lets it go, from a
-- backup host whose credentials cannot delete anything (append-only).
--
-- The shipped nightly script does the same with its summary and exit status:
--   vmlua run --allow s3://acme-backups/vmlua scripts/nightly.lua \
--     'to=s3://acme-backups/vmlua?region=eu-central-1&object_lock=compliance' \
--     credentials=s3-backup daily=7 weekly=4 monthly=6 prune=false
-- and, on another host, with credentials that may delete:
--   vmlua prune --credentials s3-admin s3://acme-backups/vmlua --gfs daily=7,weekly=4,monthly=6
--
-- This policy, to copy and adapt:
--   vmlua run --allow s3://acme-backups/vmlua examples/s3_object_lock.lua \
--     'to=s3://acme-backups/vmlua?region=eu-central-1&object_lock=compliance' credentials=s3-backup
-- The bucket must have object lock enabled (and no default retention), the
-- credential [credentials.s3-backup] holds the access key id as user and the
-- secret key as password, and the bucket policy of docs/transports.md (s3)
-- keeps that account from deleting. The same, encrypted: nightly_s3.lua.
local vm = require "vm"
local backup = require "backup"
local script = require "script"

local a = script.args {
  to = { required = true, help = "an s3:// URL with object_lock=governance|compliance" },
  credentials = { help = "named credentials from the config (the backup account's keys)" },
  vms = { default = "powerstate:on", help = "which VMs: powerstate:on, name:web-*, any:, ..." },
  allow_empty = { type = "boolean", default = false, help = "a selection matching no VM is not a failure" },
}
-- The retention the sets are pruned with, elsewhere: it also says until
-- when each set is locked (a set of the 14th: daily=7 until the 21st,
-- weekly=4 until 4 weeks after its week's Monday; the later wins).
local RETENTION = { daily = 7, weekly = 4, monthly = 6 }

local vms = vm.find(a.vms)
if #vms == 0 and not a.allow_empty then script.nothing_selected("no VM matches " .. a.vms .. ": nothing was backed up") end
local failed = 0
for _, v in ipairs(vms) do
  local ok, err = pcall(function()
    local set = v:backup { to = a.to, credentials = a.credentials, mode = "auto", policy = RETENTION }
    if set.dry_run then -- vmlua run --dry-run: a plan, nothing written, verified or locked
      print(v.name .. ": " .. set.id .. " would be written, verified and locked (dry run)")
      return
    end
    local r = backup.verify { at = a.to, set = set.id, credentials = a.credentials }
    assert(r.ok, "verify of " .. set.id .. " failed")
    print(v.name .. ": " .. set.id .. " verified and locked")
  end)
  if not ok then
    failed = failed + 1
    print(v.name .. ": FAILED: " .. tostring(err))
  end
end
-- No prune here: this host's credentials may not delete. Prune runs on
-- another host, with other credentials (see above).
if failed > 0 then error({ code = "error", message = failed .. " VM(s) failed" }) end
