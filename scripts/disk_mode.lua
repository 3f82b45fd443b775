-- disk_mode.lua — the book's detectDiskMode.pl, ported.
--
-- Usage: vmlua run scripts/disk_mode.lua VM DISK
--        vmlua run --each SPEC scripts/disk_mode.lua disk=DISK
--   VM    a .vmx path ("[LocalDS_0] DB01/DB01.vmx") or a specifier (name:DB01, ...),
--         positional or as vm= (vmlua run --each sets it)
--   DISK  a disk id such as scsi0:1, positional or as disk=
--
-- Prints the disk's mode; warns when it is not "persistent" (only persistent
-- disks can be hot-backed-up with REDO logs). A VM that does not exist ends
-- the run with 6 (nothing_selected), as every selection matching nothing does.
local vm = require "vm"
local script = require "script"

-- User variables
local a = script.args {
  vm = { each = true, help = "the VM, instead of the first positional argument (vmlua run --each sets it)" },
  disk = { help = "the disk id, e.g. scsi0:1, instead of the second positional argument" },
  allow_empty = { type = "boolean", default = false, help = "a VM that does not exist is not a failure" },
}
local cfg, disk
if a.vm then
  cfg, disk = a.vm, a.disk or a[1]
else
  cfg, disk = a[1], a.disk or a[2]
end
if not (cfg and disk) then
  error({ code = "invalid_argument", message = "usage: disk_mode.lua VMX-PATH-OR-SPECIFIER DISK (e.g. scsi0:1)" })
end

-- Connect to the virtual machine
local v = vm.open(cfg)
if not v then
  script.nothing_selected("no VM matches " .. cfg .. ": no disk mode to show")
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
