-- ftps.lua — back up over FTP with explicit TLS (AUTH TLS; data protected too).
-- The server's certificate is checked against the system roots, or against
-- ca_file for a private CA or a self-signed certificate.
--
-- In the config:   [credentials.ftpbackup]  user = "backup"  password_env = "FTP_PASSWORD"
-- Run:  vmlua run --allow ftps://backup@ftp.example.com/ examples/ftps.lua \
--         [to=ftps://backup@ftp.example.com/vm] [ca_file=/etc/vmlua/ftp-ca.pem] [vms=SPEC]
-- Plain ftp:// works the same, but sends the password in clear: its credentials
-- must say allow_plaintext = true. The default server uses the credentials
-- ftpbackup; another to= uses none unless credentials= names them.
local vm = require "vm"
local backup = require "backup"
local transport = require "transport"
local script = require "script"

local DEFAULT_TO, DEFAULT_CREDENTIALS = "ftps://backup@ftp.example.com/vm", "ftpbackup"
local a = script.args {
  to = { help = "the FTPS folder (default " .. DEFAULT_TO .. ")" },
  ca_file = { help = "the CA (or self-signed) certificate the server's is checked against" },
  vms = { default = "powerstate:on", help = "which VMs: powerstate:on, name:web-*, any:, ..." },
  credentials = { help = "named credentials from the config (default ftpbackup for the default server)" },
  allow_empty = { type = "boolean", default = false, help = "a selection matching no VM is not a failure" },
}
local to = a.to or DEFAULT_TO
local t = transport.open(to, { credentials = a.credentials or (a.to == nil and DEFAULT_CREDENTIALS or nil), ca_file = a.ca_file })

local vms = vm.find(a.vms)
if #vms == 0 then script.nothing_selected("no VM matches " .. a.vms .. ": nothing was backed up") end
local failed = 0
for _, v in ipairs(vms) do
  local ok, err = pcall(function()
    local set = v:backup { to = t, compress = "zstd" }
    if set.dry_run then -- vmlua run --dry-run: a plan, nothing to verify
      print(set.id .. " would be written and verified (dry run)")
      return
    end
    local check = backup.verify { at = t, set = set.id } -- re-read it over the wire
    if not check.ok then error({ code = "verify", message = set.id .. " does not verify" }) end
    backup.prune { at = t, vm = v.name, keep = 4 }
    print(set.id .. " verified")
  end)
  if not ok then failed = failed + 1; print(v.name .. " FAILED: " .. tostring(err)) end
end
if failed > 0 then error({ code = "error", message = failed .. " backup(s) failed" }) end
