-- nfs.lua — back up to an NFS export (NFSv3 in user space: nothing is
-- mounted on this machine, no root needed). The book's first choice of
-- transport: simple and fast.
--
-- The export must let this machine write as the uid/gid the requests carry
-- (default 0; add ?uid=1000&gid=1000 to the URL for a squashed export).
-- Run:  vmlua run --allow nfs://nas.example.com/export/vmbackups examples/nfs.lua \
--         [to=nfs://nas.example.com/export/vmbackups] [vms=SPEC]
local vm = require "vm"
local backup = require "backup"
local script = require "script"

local a = script.args {
  to = { default = "nfs://nas.example.com/export/vmbackups", help = "the NFS export (a granted URL)" },
  vms = { default = "powerstate:on", help = "which VMs: powerstate:on, name:web-*, any:, ..." },
  allow_empty = { type = "boolean", default = false, help = "a selection matching no VM is not a failure" },
}
local to = a.to

local vms = vm.find(a.vms)
if #vms == 0 then script.nothing_selected("no VM matches " .. a.vms .. ": nothing was backed up") end
local failed = 0
for _, v in ipairs(vms) do
  local ok, set = pcall(v.backup, v, { to = to, compress = "zstd" })
  if ok then
    -- a week of dailies, a month of weeklies
    backup.prune { at = to, vm = v.name, policy = { daily = 7, weekly = 4 } }
    print(v.name .. " -> " .. set.id)
  else
    failed = failed + 1
    print(v.name .. " FAILED: " .. tostring(set))
  end
end
if failed > 0 then error({ code = "error", message = failed .. " backup(s) failed" }) end
