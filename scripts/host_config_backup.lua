-- host_config_backup.lua — the book's ESX host configuration backup, on the
-- vSphere API: what `vim-cmd hostsvc/firmware/backup_config` does on each
-- host, for every host (or those named), into any transport, with rotation.
--
-- Usage:
--   vmlua run --allow DEST scripts/host_config_backup.lua to=DEST [hosts=any:] [keep=N] [credentials=NAME]
--
--   to=DEST        a granted transport URL; each host's bundle lands as
--                  DEST/host/<host>/<UTC time>/configBundle-<host>.tgz with its sidecar
--                  configBundle-<host>.json (version, build, uuid, bytes, sha256), written last
--   hosts=SPEC     which hosts: name:GLOB, moref:host-N or any: (default any:)
--   keep=N         backups to keep per host (default: all of them); a host whose backup
--                  failed in this run keeps all of its backups
--   credentials=N  named credentials from the config for DEST
--
-- The script tries every host and fails at the end when any host failed.
local host = require "host"
local transport = require "transport"
local log = require "log"

if not arg.to then
  error({ code = "invalid_argument", message = "usage: host_config_backup.lua to=URL [hosts=any:] [keep=N] [credentials=NAME]" })
end
local keep = tonumber(arg.keep)
if arg.keep and not (keep and keep >= 1) then
  error({ code = "invalid_argument", message = "keep= takes a number of backups per host, at least 1" })
end

local dest = transport.open(arg.to, { credentials = arg.credentials })

-- A backup folder: the UTC time, with -N when one of that second exists.
local function new_folder(dir)
  local ts = os.date("!%Y%m%dT%H%M%SZ")
  local name, n = ts, 0
  while dest:stat(dir .. "/" .. name) do
    n = n + 1
    name = ts .. "-" .. n
  end
  return dir .. "/" .. name
end

-- Keep the newest `keep` complete backups of a host (folders with a sidecar).
local function rotate(dir, name)
  local folders = {}
  for _, e in ipairs(dest:list(dir)) do
    if e.dir and e.name:find("^%d+T%d+Z") then folders[#folders + 1] = e.name end
  end
  local function key(n) return n:match("^(%d+T%d+Z)"), tonumber(n:match("Z%-(%d+)$") or "0") end
  table.sort(folders, function(a, b)
    local ta, na = key(a)
    local tb, nb = key(b)
    if ta ~= tb then return ta < tb end
    return na < nb
  end)
  for i = 1, #folders - keep do
    local f = dir .. "/" .. folders[i]
    for _, e in ipairs(dest:list(f)) do dest:remove(f .. "/" .. e.name) end
    dest:remove(f)
    log.info("removed an old host configuration backup", { host = name, folder = f })
  end
end

local hosts = host.find(arg.hosts or arg.host or "any:")
local failed, done = {}, 0
for _, h in ipairs(hosts) do
  local ok, err = pcall(function()
    local dir = "host/" .. h.name
    local folder = new_folder(dir)
    dest:mkdir(folder)
    local ok, err = pcall(h.backup_config, h, dest, { name = folder .. "/configBundle-" .. h.name .. ".tgz" })
    if not ok then
      pcall(dest.remove, dest, folder) -- the failed backup left nothing in it
      error(err)
    end
    done = done + 1
    print(string.format("%s: configuration backed up to %s (%d bytes, build %s)", h.name, folder, err.bytes, err.build))
    if keep then rotate(dir, h.name) end
  end)
  if not ok then
    failed[#failed + 1] = h.name
    log.error("host configuration backup failed", { host = h.name, error = tostring(err) })
  end
end

print(string.format("%d host(s): %d backed up, %d failed", #hosts, done, #failed))
if #failed > 0 then
  error({ code = "error", message = #failed .. " host(s) failed: " .. table.concat(failed, ", ") })
end
