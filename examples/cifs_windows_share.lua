-- cifs_windows_share.lua — back up to a Windows share (CIFS/SMB 2-3) as a
-- domain account whose password is in the config, never in the script.
--
-- In /etc/vmlua/config.toml (chmod 600):
--   [credentials.winshare]
--   domain = "CORP"
--   user = "svc-vmbackup"
--   password_env = "WINSHARE_PASSWORD"     # or password_file = "/etc/vmlua/winshare.pass"
--   [grants]
--   allow = ["smb://svc-vmbackup@fileserver.corp.example.com/VMBackups/"]
--
-- Run:  vmlua run examples/cifs_windows_share.lua [vms=SPEC] [to=smb://...] [credentials=winshare]
-- The default share uses the credentials winshare; another to= uses none
-- unless credentials= names them (a file:// folder needs none).
local vm = require "vm"
local backup = require "backup"
local transport = require "transport"
local script = require "script"

local DEFAULT_TO, DEFAULT_CREDENTIALS = "smb://svc-vmbackup@fileserver.corp.example.com/VMBackups/vmlua", "winshare"
local a = script.args {
  to = { help = "the share (default " .. DEFAULT_TO .. ")" },
  vms = { default = "powerstate:on", help = "which VMs: powerstate:on, name:web-*, any:, ..." },
  credentials = { help = "named credentials from the config (default winshare for the default share)" },
  allow_empty = { type = "boolean", default = false, help = "a selection matching no VM is not a failure" },
}
local to = a.to or DEFAULT_TO
local share = transport.open(to, { credentials = a.credentials or (a.to == nil and DEFAULT_CREDENTIALS or nil) })

local vms = vm.find(a.vms)
if #vms == 0 then script.nothing_selected("no VM matches " .. a.vms .. ": nothing was backed up") end
local failed = 0
for _, v in ipairs(vms) do
  -- gzip: Windows admins can open the disk images with 7-Zip if they must
  local ok, set = pcall(v.backup, v, { to = share, compress = "gzip" })
  if ok then
    backup.prune { at = share, vm = v.name, keep = 3 }
    print(v.name .. " -> " .. set.id)
  else
    failed = failed + 1
    print(v.name .. " FAILED: " .. tostring(set))
  end
end
if failed > 0 then error({ code = "error", message = failed .. " backup(s) failed" }) end
