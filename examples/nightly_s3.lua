-- nightly_s3.lua — the nightly backup of 2026: every VM to S3 with
-- object lock, each set encrypted to the site's age public key, from a
-- backup host that can neither delete a set (append-only credentials,
-- locked objects) nor read one back (it holds no private key).
--
--   vmlua run --allow s3://acme-backups/vmlua examples/nightly_s3.lua \
--     'to=s3://acme-backups/vmlua?region=eu-central-1&object_lock=compliance' credentials=s3-backup
--
-- The config of the backup host names the recipients (age-keygen -y of the
-- site's key; the private key stays in the safe and on the restore host):
--   [encryption]
--   recipients = ["age1..."]
-- or give one on the command line: recipient=age1...
-- The restore host's config names the private key instead (identity =
-- "/etc/vmlua/backup.key", or --identity FILE): restore, verify's content
-- check, serve, mount and files need it. Prune runs there too, with
-- credentials that may delete (docs/security.md).
local vm = require "vm"
local backup = require "backup"
local script = require "script"

local a = script.args {
  to = { required = true, help = "an s3:// URL with object_lock=governance|compliance" },
  credentials = { help = "named credentials from the config (the backup account's keys)" },
  vms = { default = "powerstate:on", help = "which VMs: powerstate:on, name:web-*, any:, ..." },
  recipient = { help = "age public keys (age1...), comma-separated; default: the config's [encryption] recipients" },
  allow_empty = { type = "boolean", default = false, help = "a selection matching no VM is not a failure" },
}
-- The retention the sets are pruned with, elsewhere: it also says until
-- when each set is locked.
local RETENTION = { daily = 7, weekly = 4, monthly = 6 }

-- encrypt=true: to the config's recipients (the run fails if it has
-- none: a nightly run never writes an unencrypted set by mistake)
local encrypt = true
if a.recipient then
  local rs = {}
  for r in a.recipient:gmatch("[^,%s]+") do rs[#rs + 1] = r end
  encrypt = { recipients = rs }
end

local vms = vm.find(a.vms)
if #vms == 0 and not a.allow_empty then script.nothing_selected("no VM matches " .. a.vms .. ": nothing was backed up") end
local failed = 0
for _, v in ipairs(vms) do
  local ok, err = pcall(function()
    local set = v:backup { to = a.to, credentials = a.credentials, mode = "auto", policy = RETENTION, encrypt = encrypt }
    if set.dry_run then
      print(v.name .. ": " .. set.id .. " would be written encrypted, verified and locked (dry run)")
      return
    end
    -- on the backup host verify checks the stored bytes against the
    -- catalog; the catalog's authenticity and the content need the
    -- private key (a verify on the restore host checks them)
    local r = backup.verify { at = a.to, set = set.id, credentials = a.credentials }
    assert(r.ok, "verify of " .. set.id .. " failed")
    local how = r.authenticated and "authenticated" or "stored bytes checked"
    print(v.name .. ": " .. set.id .. " encrypted, verified (" .. how .. ") and locked")
  end)
  if not ok then
    failed = failed + 1
    print(v.name .. ": FAILED: " .. tostring(err))
  end
end
if failed > 0 then error({ code = "error", message = failed .. " VM(s) failed" }) end
