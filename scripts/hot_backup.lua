-- hot_backup.lua — the book's simpleBackup.pl (Code Listing 7.1), ported.
--
-- Usage: vmlua run --allow DEST scripts/hot_backup.lua VM [to=DEST]
--   VM    a .vmx path ("[LocalDS_0] DB01/DB01.vmx") or a specifier (name:DB01, uuid:..., moref:vm-42)
--   DEST  a granted transport URL (default file:///vmimages, as the book's $target)
--
-- For every present SCSI disk, one at a time: add a REDO log, export the
-- frozen disk, add a second REDO log, commit the first (level 1, the VM keeps
-- running on the second), commit the last (level 0). Independent disks cannot
-- be frozen and are skipped with a warning. Whatever happens, vmlua commits
-- any REDO this script leaves open when it ends.
local vm = require "vm"
local log = require "log"

-- User variables
local target = arg.to or "file:///vmimages"
local cfg = arg[1] or arg.vm
if not cfg then
  error({ code = "invalid_argument", message = "usage: hot_backup.lua VMX-PATH-OR-SPECIFIER [to=URL]" })
end
print(cfg)

-- Set up a connection to a virtual machine
local v = vm.open(cfg)
if not v then
  error({ code = "not_found", message = "no VM matches " .. cfg })
end

local exported = {}
-- No smooth way to return the number of scsi controllers:
-- cycle through all possibilities checking if it is present
for scsiController = 0, 3 do
  local presentScsiController = v:get_config("scsi" .. scsiController .. ".present")
  if presentScsiController and presentScsiController:lower() == "true" then
    -- Again, cycle through all possible scsi IDs
    for scsiID = 0, 15 do
      local disk = "scsi" .. scsiController .. ":" .. scsiID
      local presentScsiID = v:get_config(disk .. ".present")
      if presentScsiID and presentScsiID:lower() == "true" and v:get_config(disk .. ".deviceType") ~= "cdrom-image" then
        local mode = v:get_config(disk .. ".mode")
        if mode and mode:find("^independent") then
          log.warn("skipping a disk that cannot be frozen", { vm = v.name, disk = disk, mode = mode })
        else
          -- Add the first redo
          v:add_redo(disk)
          -- Do a backup (vmkfstools -e): stream the frozen disk to the target
          local res = v:export(disk, target)
          exported[#exported + 1] = res
          log.info("exported", { vm = v.name, disk = disk, file = res.path, bytes = res.bytes, spans_root = res.spans_root })
          -- Add a second redo
          v:add_redo(disk)
          -- First commit with same options as vmware-cmd
          v:commit(disk, 1, 0, 1)
          -- Commit final redo
          v:commit(disk, 0, 0, 1)
        end
      end
    end
  end
end
print(string.format("%s: %d disk(s) exported to %s", v.name, #exported, target))
