-- vmfs_datastore.lua — a dedicated backup datastore on the same vSphere, the
-- book's `vmkfstools -e DISK -d vmfs`: each frozen disk is copied on the server
-- (CopyVirtualDisk), not streamed through this machine, and lands as a disk a
-- VM can use at once — the fastest restore there is. No credentials: the run's
-- own vSphere session reaches the datastore.
--
-- Run:  vmlua run --allow vmfs://BackupDS/vmlua examples/vmfs_datastore.lua \
--         [to=vmfs://BackupDS/vmlua] [vms=SPEC] [keep=2]
-- Layout: <to>/<vm>/<UTC time>/<disk>.vmdk (+ the configuration archive in <to>/<vm>/vmx/).
-- Keep the backup datastore on other spindles (another LUN, another array) than
-- the VMs it protects, or it protects them from nothing but mistakes.
local vm = require "vm"
local backup = require "backup"
local transport = require "transport"
local script = require "script"

local a = script.args {
  to = { default = "vmfs://BackupDS/vmlua", help = "the backup datastore folder (a granted vmfs:// URL)" },
  vms = { default = "powerstate:on", help = "which VMs: powerstate:on, name:web-*, any:, ..." },
  keep = { type = "number", default = 2, help = "runs to keep per VM (datastore space is dear)" },
  allow_empty = { type = "boolean", default = false, help = "a selection matching no VM is not a failure" },
}
local to, keep = a.to, a.keep
local vms = vm.find(a.vms) -- connects to vSphere first
if #vms == 0 then script.nothing_selected("no VM matches " .. a.vms .. ": nothing was backed up") end
local t = transport.open(to) -- then the datastore, through that session

-- Remove all but the newest `keep` dated folders of a VM.
local function rotate(name)
  local runs = {}
  for _, e in ipairs(t:list(name)) do
    if e.dir and e.name:find("^%d+T%d+Z$") then runs[#runs + 1] = e.name end
  end
  for i = 1, #runs - keep do -- list() is sorted by name, i.e. by time
    local dir = name .. "/" .. runs[i]
    for _, f in ipairs(t:list(dir)) do t:remove(dir .. "/" .. f.name) end
    t:remove(dir)
  end
end

local failed = 0
for _, v in ipairs(vms) do
  local ok, err = pcall(function()
    local dir = v.name .. "/" .. os.date("!%Y%m%dT%H%M%SZ")
    t:mkdir(dir)
    local n = 0
    for _, d in ipairs(v:disks()) do
      if not (d.mode:find("^independent") or d.rdm) then
        v:add_redo(d.id)                  -- freeze
        v:export(d.id, to .. "/" .. dir)  -- server-side copy of the frozen base
        v:add_redo(d.id)                  -- a second REDO takes the writes ...
        v:commit(d.id, 1, 0, 1)           -- ... while the first merges
        v:commit(d.id, 0, 0, 1)           -- then the small last one
        n = n + 1
      end
    end
    backup.vmx { vm = v, to = t }
    rotate(v.name)
    print(string.format("%s -> %s/%s (%d disk(s))", v.name, to, dir, n))
  end)
  if not ok then failed = failed + 1; print(v.name .. " FAILED: " .. tostring(err)) end
end
if failed > 0 then error({ code = "error", message = failed .. " backup(s) failed" }) end
