-- hot_backup.lua — the book's simpleBackup.pl (Code Listing 7.1), ported.
--
-- Usage: vmlua run --allow DEST scripts/hot_backup.lua VM [to=DEST] [credentials=NAME]
--   VM    a .vmx path ("[LocalDS_0] DB01/DB01.vmx") or a specifier (name:DB01, uuid:..., moref:vm-42)
--   DEST  a granted transport URL (default file:///vmimages, as the book's $target)
--   A VM that does not exist ends the run with 6 (nothing_selected), as every
--   selection matching nothing does (allow_empty=true: 0).
--
-- The target is opened (and its grant checked) before any disk is frozen, and
-- the REDO logs a killed vmlua run left on the VM are committed first
-- (vm.cleanup_orphans). Then for every present SCSI disk, one at a time: add a
-- REDO log, export the frozen disk, add a second REDO log, commit the first
-- (level 1, the VM keeps running on the second), commit the last (level 0).
-- Independent disks cannot be frozen and are skipped with a warning; the run
-- then exits 7 (partial). Whatever happens, vmlua commits any REDO this script
-- leaves open when it ends. With vmlua run --dry-run it walks the same cycle
-- and changes nothing.
local vm = require "vm"
local transport = require "transport"
local log = require "log"
local script = require "script"

-- User variables
local a = script.args {
  to = { default = "file:///vmimages", help = "a granted transport URL" },
  vm = { each = true, help = "the VM, instead of the positional argument (vmlua run --each sets it)" },
  credentials = { help = "named credentials from the config for to=" },
  allow_empty = { type = "boolean", default = false, help = "a VM that does not exist is not a failure" },
}
local target = a.to
local cfg = a[1] or a.vm
if not cfg then
  error({ code = "invalid_argument", message = "usage: hot_backup.lua VMX-PATH-OR-SPECIFIER [to=URL]" })
end
print(cfg)

-- Set up a connection to a virtual machine
local v = vm.open(cfg)
if not v then
  script.nothing_selected("no VM matches " .. cfg .. ": nothing was backed up")
end
-- The target first: a refused grant or a dead server must not cost a snapshot.
local dest = transport.open(target, { credentials = a.credentials })
vm.cleanup_orphans(v)

local exported, skipped, dry = {}, {}, false
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
          skipped[#skipped + 1] = disk
          script.result { vm = v.name, disk = disk, status = "skipped", message = mode .. ": cannot be frozen" }
        else
          -- Add the first redo
          v:add_redo(disk)
          -- Do a backup (vmkfstools -e): stream the frozen disk to the target
          local res = v:export(disk, dest)
          exported[#exported + 1] = res
          dry = dry or res.dry_run == true
          log.info(res.dry_run and "dry run: would export" or "exported", { vm = v.name, disk = disk, file = res.path, bytes = res.bytes, spans_root = res.spans_root })
          -- Add a second redo
          v:add_redo(disk)
          -- First commit with same options as vmware-cmd
          v:commit(disk, 1, 0, 1)
          -- Commit final redo
          v:commit(disk, 0, 0, 1)
          script.result { vm = v.name, disk = disk, status = "ok", file = res.path, bytes = res.bytes, sha256 = res.sha256, dry_run = res.dry_run == true }
        end
      end
    end
  end
end
print(string.format("%s: %d disk(s) %s to %s%s", v.name, #exported, dry and "would be exported (dry run)" or "exported", target,
  #skipped > 0 and (", " .. #skipped .. " skipped (" .. table.concat(skipped, ",") .. ": independent, not backed up)") or ""))
if #skipped > 0 then
  script.status("partial")
end
