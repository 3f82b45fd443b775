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
-- Run:  vmlua run examples/sftp_pinned_key.lua [to=sftp://...] [vms=SPEC] [keep=4] [credentials=nas-sftp]
-- The default server uses the credentials nas-sftp; another to= uses none
-- unless credentials= names them.
local vm = require "vm"
local backup = require "backup"
local script = require "script"

local DEFAULT_TO, DEFAULT_CREDENTIALS = "sftp://backup@nas.example.com/srv/backups", "nas-sftp"
local a = script.args {
  to = { help = "the SFTP folder (default " .. DEFAULT_TO .. ")" },
  vms = { default = "powerstate:on", help = "which VMs: powerstate:on, name:web-*, any:, ..." },
  keep = { type = "number", default = 4, help = "sets to keep per VM" },
  credentials = { help = "named credentials from the config (default nas-sftp for the default server)" },
  allow_empty = { type = "boolean", default = false, help = "a selection matching no VM is not a failure" },
}
local to = a.to or DEFAULT_TO
local cred = a.credentials or (a.to == nil and DEFAULT_CREDENTIALS or nil)
local keep = a.keep

local vms = vm.find(a.vms)
if #vms == 0 then script.nothing_selected("no VM matches " .. a.vms .. ": nothing was backed up") end
local failed = 0
for _, v in ipairs(vms) do
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
