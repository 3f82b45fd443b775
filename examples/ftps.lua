-- ftps.lua — back up over FTP with explicit TLS (AUTH TLS; data protected too).
-- The server's certificate is checked against the system roots, or against
-- ca_file for a private CA or a self-signed certificate.
--
-- In the config:   [credentials.ftpbackup]  user = "backup"  password_env = "FTP_PASSWORD"
-- Run:  vmlua run --allow ftps://backup@ftp.example.com/ examples/ftps.lua \
--         [to=ftps://backup@ftp.example.com/vm] [ca_file=/etc/vmlua/ftp-ca.pem] [vms=SPEC]
-- Plain ftp:// works the same, but sends the password in clear: its credentials
-- must say allow_plaintext = true.
local vm = require "vm"
local backup = require "backup"
local transport = require "transport"

local to = arg.to or "ftps://backup@ftp.example.com/vm"
local t = transport.open(to, { credentials = arg.credentials or "ftpbackup", ca_file = arg.ca_file })

local failed = 0
for _, v in ipairs(vm.find(arg.vms or "powerstate:on")) do
  local ok, err = pcall(function()
    local set = v:backup { to = t, compress = "zstd" }
    local check = backup.verify { at = t, set = set.id } -- re-read it over the wire
    if not check.ok then error({ code = "verify", message = set.id .. " does not verify" }) end
    backup.prune { at = t, vm = v.name, keep = 4 }
    print(set.id .. " verified")
  end)
  if not ok then failed = failed + 1; print(v.name .. " FAILED: " .. tostring(err)) end
end
if failed > 0 then error({ code = "error", message = failed .. " backup(s) failed" }) end
