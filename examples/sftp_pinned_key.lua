-- sftp_pinned_key.lua — back up over SFTP to a server whose host key is
-- pinned in the config: a changed key (a new server, or a man in the middle)
-- fails the run with code "auth" instead of trusting it.
--
-- In the config:
--   [credentials.nas-sftp]
--   user = "backup"
--   key_file = "/etc/vmlua/id_ed25519"
--   host_key = "SHA256:2m5Ck...="     # ssh-keyscan nas | ssh-keygen -lf -   (or known_hosts = "...")
--   [grants]
--   allow = ["sftp://backup@nas.example.com/srv/backups/"]
--
-- Run:  vmlua run examples/sftp_pinned_key.lua [to=sftp://...] [vms=SPEC] [keep=4]
local vm = require "vm"
local backup = require "backup"

local to = arg.to or "sftp://backup@nas.example.com/srv/backups"
local cred = arg.credentials or "nas-sftp"
local keep = tonumber(arg.keep or "4")

local failed = 0
for _, v in ipairs(vm.find(arg.vms or "powerstate:on")) do
  local ok, set = pcall(v.backup, v, { to = to, credentials = cred })
  if ok then
    backup.prune { at = to, vm = v.name, keep = keep, credentials = cred }
    print(v.name .. " -> " .. set.id)
  else
    failed = failed + 1
    print(v.name .. " FAILED: " .. tostring(set))
  end
end
if failed > 0 then error({ code = "error", message = failed .. " backup(s) failed" }) end
