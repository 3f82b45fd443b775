-- disk_mode.lua — the book's detectDiskMode.pl, ported.
--
-- Usage: vmlua run scripts/disk_mode.lua VM DISK
--   VM    a .vmx path ("[LocalDS_0] DB01/DB01.vmx") or a specifier (name:DB01, ...)
--   DISK  a disk id such as scsi0:1
--
-- Prints the disk's mode; warns when it is not "persistent" (only persistent
-- disks can be hot-backed-up with REDO logs).
local vm = require "vm"

-- User variables
local cfg, disk = arg[1], arg[2]
if not (cfg and disk) then
  error({ code = "invalid_argument", message = "usage: disk_mode.lua VMX-PATH-OR-SPECIFIER DISK (e.g. scsi0:1)" })
end

-- Connect to the virtual machine
local v = vm.open(cfg)
if not v then
  error({ code = "not_found", message = "no VM matches " .. cfg })
end

-- Retrieve the mode of the disk in question
local mode = v:get_config(disk .. ".mode")
if mode == nil then
  error({ code = "not_found", message = "VM " .. v.name .. " has no disk " .. disk, vm = v.name, disk = disk })
end
if mode ~= "persistent" then
  print("Warning: " .. mode)
else
  print(mode)
end
