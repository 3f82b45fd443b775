-- host_config_restore.lua — restores an ESX host's configuration from a
-- backup host_config_backup.lua made (`vim-cmd hostsvc/firmware/restore_config`).
--
-- Usage:
--   vmlua run --allow SRC scripts/host_config_restore.lua from=SRC host=NAME [set=TIME|latest]
--       [maintenance=true] [force=true] [credentials=NAME]
--
--   from=SRC        the granted URL host_config_backup.lua wrote to (its to=)
--   host=NAME       the host to restore (its backups are SRC/host/NAME/)
--   set=ID          which backup: a set id (host/NAME/20260102T030405Z) or its time
--                   (20260102T030405Z), or latest (default: the newest complete set)
--   maintenance=true  put the host in maintenance mode first (its VMs must be off or moved);
--                   without it, a host not in maintenance mode is refused
--   force=true      apply a bundle of another build (the host was patched since) or host
--   credentials=N   named credentials from the config for SRC
--
-- The host reboots after a restore and stays in maintenance mode; take it out
-- with h:exit_maintenance() (or the vSphere client) once you have checked it.
-- A host that does not exist ends the run with 6 (nothing_selected). With
-- vmlua run --dry-run every check runs (maintenance mode as the dry run left
-- it, the build, the bundle's sha256) and nothing changes.
local host = require "host"
local transport = require "transport"
local script = require "script"

local a = script.args {
  from = { required = true, help = "the granted URL host_config_backup.lua wrote to (its to=)" },
  host = { required = true, help = "the host to restore (its backups are SRC/host/NAME/)" },
  set = { default = "latest", help = "a set id (host/NAME/TIME), its TIME, or latest" },
  maintenance = { type = "boolean", default = false, help = "put the host in maintenance mode first" },
  force = { type = "boolean", default = false, help = "apply a bundle of another build or host" },
  credentials = { help = "named credentials from the config for SRC" },
  allow_empty = { type = "boolean", default = false, help = "a host that does not exist is not a failure" },
}
local h = host.find("name:" .. a.host)[1]
if not h then
  script.nothing_selected("there is no host " .. a.host .. " (host.list() shows them): nothing was restored")
end
local src = transport.open(a.from, { credentials = a.credentials })
if not h.maintenance then
  if not a.maintenance then
    error({ code = "invalid_state", message = "host " .. h.name .. " is not in maintenance mode; a restore reboots it: move or power off its VMs and pass maintenance=true" })
  end
  h:enter_maintenance()
end
local set = a.set
if set ~= "latest" and not set:find("/") then set = "host/" .. h.name .. "/" .. set end
local m = h:restore_config(src, { set = set, force = a.force })
script.result { host = h.name, status = "ok", taken = m.taken, build = m.build, dry_run = m.dry_run == true }
if m.dry_run then
  print(string.format("%s: dry run: the configuration taken %s (build %s) would be restored; nothing changed", h.name, m.taken, m.build))
else
  print(string.format("%s: configuration taken %s restored (build %s); the host stays in maintenance mode", h.name, m.taken, m.build))
end
