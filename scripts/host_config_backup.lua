-- host_config_backup.lua — the book's ESX host configuration backup, on the
-- vSphere API: what `vim-cmd hostsvc/firmware/backup_config` does on each
-- host, for every host (or those named), into any transport, with rotation.
--
-- Usage:
--   vmlua run --allow DEST scripts/host_config_backup.lua to=DEST [hosts=any:] [keep=N] [credentials=NAME]
--
--   to=DEST        a granted transport URL; each host's configuration is a backup set
--                  DEST/host/<host>/<UTC time>/: configBundle-<host>.tgz, its sidecar
--                  configBundle-<host>.json (version, build, uuid, bytes, sha256) and
--                  catalog.json, written last (backup.list/verify/prune take host=<host>)
--   hosts=SPEC     which hosts: name:GLOB, moref:host-N or any: (default any:); host=NAME for one;
--                  a selection matching no host exits 6 (nothing_selected) unless allow_empty=true
--   keep=N         backups to keep per host (default: all of them); a host whose backup
--                  failed in this run keeps all of its backups
--   credentials=N  named credentials from the config for DEST
--
-- The script tries every host and fails at the end when any host failed.
local host = require "host"
local transport = require "transport"
local log = require "log"
local script = require "script"

local a = script.args {
  to = { required = true, help = "a granted transport URL; each host's sets go under DEST/host/<host>/" },
  hosts = { default = "any:", help = "which hosts: name:GLOB, moref:host-N or any:" },
  host = { help = "one host by name (the same as hosts=name:NAME)" },
  keep = { type = "number", help = "backups to keep per host (default: all of them)" },
  allow_empty = { type = "boolean", default = false, help = "a selection matching no host is not a failure" },
  credentials = { help = "named credentials from the config for DEST" },
}
if a.keep and a.keep < 1 then
  error({ code = "invalid_argument", message = "keep= takes a number of backups per host, at least 1" })
end

local dest = transport.open(a.to, { credentials = a.credentials })

local spec = a.host and ("name:" .. a.host) or a.hosts
local hosts = host.find(spec)
if #hosts == 0 then
  script.nothing_selected("no host matches " .. spec .. ": nothing was backed up (host.list() shows them)")
end
local failed, done, dry = {}, 0, false
for _, h in ipairs(hosts) do
  local ok, err = pcall(function()
    local set = h:backup { to = dest, keep = a.keep }
    done = done + 1
    dry = dry or set.dry_run == true
    script.result { host = h.name, status = "ok", set = set.id, build = set.host_config.build, dry_run = set.dry_run == true }
    print(string.format("%s: configuration %s set %s (build %s)", h.name,
      set.dry_run and "would be backed up as (dry run)" or "backed up as", set.id, set.host_config.build))
  end)
  if not ok then
    failed[#failed + 1] = h.name
    script.result { host = h.name, status = "failed", error = tostring(err) }
    log.error("host configuration backup failed", { host = h.name, error = tostring(err) })
  end
end

print(string.format("%d host(s): %d %s, %d failed", #hosts, done, dry and "would be backed up (dry run, nothing written)" or "backed up", #failed))
if #failed > 0 then
  error({ code = "error", message = #failed .. " host(s) failed: " .. table.concat(failed, ", ") })
end
