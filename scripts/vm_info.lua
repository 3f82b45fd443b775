-- vm_info.lua — vcbVmName: find VMs by specifier and print what identifies them.
--
-- Usage: vmlua run scripts/vm_info.lua [SPEC]
--   SPEC  a specifier, as vcbVmName -s took it (default any:):
--           any:                   every VM
--           name:DB01, name:web-*  by display name (glob)
--           uuid:..., ipaddr:..., moref:vm-42
--           powerstate:on|off|suspended
--           folder:/DC0/vm/prod, folder:prod/web   in a VM folder and below it
--           cluster:C, host:H, pool:prod, datastore:DS, tag:Backup:gold
--         or a .vmx path: "[LocalDS_0] DB01/DB01.vmx"; terms given as several
--         arguments (or separated by spaces) must all match, and a comma before a
--         term starts an alternative: folder:prod powerstate:on, tag:gold
--         (docs/lua-api.md, "Selecting VMs"; scripts/inventory.lua lists the
--         folders and pools)
--
-- Prints one line per VM, fields separated by tabs, each as key:value so that
-- any of them can be passed on as a specifier (moref:vm-42, uuid:...):
--   moref:vm-42  name:DB01  uuid:...  ipaddr:10.0.0.5  power:on  host:esx1  vmx:[LocalDS_0] DB01/DB01.vmx
-- A specifier that matches nothing ends the run with 6 (nothing_selected),
-- unless allow_empty=true (none: asks for nothing and succeeds).
local vm = require "vm"
local script = require "script"

local a = script.args {
  spec = { help = "a specifier or a .vmx path, instead of the positional argument" },
  allow_empty = { type = "boolean", default = false, help = "a specifier matching no VM is not a failure" },
}
-- every positional argument is a term: `vm_info.lua folder:prod powerstate:on`
local terms = {}
for i = 1, #a do terms[i] = a[i] end
local spec = (#terms > 0 and table.concat(terms, " ")) or a.spec or "any:"

local vms
if spec:sub(1, 1) == "[" then
  -- a datastore path names one VM, as VmPerl's connect($cfg) did
  local v = vm.open(spec)
  vms = { v }
else
  vms = vm.find(spec)
end

if #vms == 0 and spec ~= "none:" then
  script.nothing_selected("no VM matches " .. spec .. " (try any: to list every VM)")
end

for _, v in ipairs(vms) do
  print(table.concat({
    "moref:" .. v.moref,
    "name:" .. v.name,
    "uuid:" .. v.uuid,
    "ipaddr:" .. (v.ip or "-"),
    "power:" .. v.power,
    "host:" .. v.host,
    "vmx:" .. v.vmx,
  }, "\t"))
end
