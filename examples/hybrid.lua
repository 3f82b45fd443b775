-- hybrid.lua — the book's hybrid schedule (Table 7.3): a full VM image once a
-- week, the configuration every day. The guest's own file-level agent covers
-- the daily data; after a disaster restore the image, then the last file-level
-- backup on top of it.
--
-- Run every night:  vmlua run --allow DEST examples/hybrid.lua to=DEST [vms=SPEC] [image_day=0]
--   image_day  the day of the week for the image, 0 = Sunday (default 0)
--   weekday    pretend today is this day (for a test)
-- It backs up the VMs its vms= selects, all in one run: not a script for
-- vmlua run --each, which refuses it.
local vm = require "vm"
local backup = require "backup"
local script = require "script"

local a = script.args {
  to = { default = "nfs://nas.example.com/vmimages", help = "a granted transport URL" },
  vms = { default = "powerstate:on", help = "which VMs: powerstate:on, name:web-*, any:, ..." },
  image_day = { type = "number", default = 0, help = "the day of the week for the image, 0 = Sunday" },
  weekday = { type = "number", help = "pretend today is this day of the week (for a test)" },
  allow_empty = { type = "boolean", default = false, help = "a selection matching no VM is not a failure" },
}
local to = a.to
local today = a.weekday or tonumber(os.date("!%w"))
local images, configs, failed = 0, 0, {}

local vms = vm.find(a.vms)
if #vms == 0 then script.nothing_selected("no VM matches " .. a.vms .. ": nothing was backed up") end
for _, v in ipairs(vms) do
  local ok, err = pcall(function()
    if today == a.image_day then
      v:backup { to = to, compress = "zstd" }
      -- Table 7.3 keeps one week of images on disk (tape keeps more).
      backup.prune { at = to, vm = v.name, keep = 1 }
      images = images + 1
    end
    backup.vmx { vm = v, to = to } -- daily
    configs = configs + 1
  end)
  if not ok then failed[#failed + 1] = v.name .. ": " .. tostring(err) end
end
print(string.format("hybrid: %d image(s), %d configuration archive(s)", images, configs))
if #failed > 0 then error({ code = "error", message = table.concat(failed, "; ") }) end
