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
local vm = require "vm"
local backup = require "backup"
local transport = require "transport"

local to = arg.to or "smb://svc-vmbackup@fileserver.corp.example.com/VMBackups/vmlua"
local share = transport.open(to, { credentials = arg.credentials or "winshare" })

local failed = 0
for _, v in ipairs(vm.find(arg.vms or "powerstate:on")) do
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
