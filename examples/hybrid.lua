-- hybrid.lua — the book's hybrid schedule (Table 7.3): a full VM image once a
-- week, the configuration every day. The guest's own file-level agent covers
-- the daily data; after a disaster restore the image, then the last file-level
-- backup on top of it.
--
-- Run every night:  vmlua run --allow DEST examples/hybrid.lua to=DEST [vms=SPEC] [image_day=0]
--   image_day  the day of the week for the image, 0 = Sunday (default 0)
--   weekday    pretend today is this day (for a test)
local vm = require "vm"
local backup = require "backup"

local to = arg.to or "nfs://nas.example.com/vmimages"
local image_day = arg.image_day or "0"
local today = arg.weekday or os.date("!%w")
local images, configs, failed = 0, 0, {}

for _, v in ipairs(vm.find(arg.vms or "powerstate:on")) do
  local ok, err = pcall(function()
    if today == image_day then
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
