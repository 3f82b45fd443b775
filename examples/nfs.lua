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

local to = arg.to or "nfs://nas.example.com/export/vmbackups"

local failed = 0
for _, v in ipairs(vm.find(arg.vms or "powerstate:on")) do
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
