-- instant_recovery.lua — run a VM straight from its backup (instant
-- recovery), then move it to production storage while it runs.
--
-- 1. Serve the point:  vmlua serve nfs --scratch /srv/scratch TARGET DB01[@POINT]
--    prints  nfs://SERVER:PORT/EXPORT  FOLDER/NAME.vmx
-- 2. Start it:  vmlua run scripts/instant_recovery.lua url=nfs://SERVER:PORT/EXPORT vmx=FOLDER/NAME.vmx
--       [datastore=vmlua-recovery] [name=NEWNAME] [host=HOST] [power_on=true]
--    mounts the export on the host as an NFS datastore, registers the VM from
--    it and powers it on: it runs in seconds, its disks read from the set,
--    its writes kept in the scratch folder (never in the set).
-- 3. Later, move it:  vmlua run scripts/instant_recovery.lua vm=NAME to=PRODUCTION_DS
--       [datastore=vmlua-recovery] [host=HOST]
--    migrates the running VM's files to PRODUCTION_DS (RelocateVM_Task: its
--    disks with every write made since), then unmounts the NFS datastore;
--    stop vmlua serve nfs after that. Steps 2 and 3 run in one go when url=,
--    vmx= and to= are given together (a recovery test).
--
-- A real ESXi mounts NFS on port 2049 and finds MOUNT through a portmapper,
-- which vmlua serve nfs does not register with yet: today the flow runs on
-- the simulator (docs/restore-files.md).
-- With vmlua run --dry-run nothing is mounted, registered or moved.
local backup = require "backup"
local vm = require "vm"
local script = require "script"

local a = script.args {
  url = { help = "the export as vmlua serve nfs prints it: nfs://SERVER:PORT/EXPORT (starts the VM)" },
  vmx = { help = "the .vmx in the export, FOLDER/NAME.vmx as vmlua serve nfs prints it" },
  datastore = { default = "vmlua-recovery", help = "the name of the NFS datastore on the host" },
  name = { help = "the VM's name (default: the .vmx's displayName)" },
  host = { help = "the host to mount on and run the VM (default: the first host)" },
  power_on = { type = "boolean", default = true, help = "power the VM on once registered" },
  to = { help = "the production datastore to migrate the VM to, then unmount the NFS datastore" },
  vm = { help = "with to= alone: the recovered VM's name" },
}
local function usage(msg) error({ code = "invalid_argument", message = msg }) end
if not a.url and not a.to then
  usage("give url= and vmx= to start the VM from the export, and/or to= to migrate it to production storage")
end

local v
if a.url then
  if not a.vmx then usage("url= needs vmx=, the .vmx as vmlua serve nfs prints it (FOLDER/NAME.vmx)") end
  local ds = backup.mount_nfs { url = a.url, name = a.datastore, host = a.host }
  v = backup.register { vmx = "[" .. ds .. "] " .. a.vmx, name = a.name, host = a.host }
  if not v then
    print(string.format("dry run: %s would be mounted as datastore %s, %s registered and powered on", a.url, ds, a.vmx))
    return
  end
  if a.power_on then v:power_on() end
  print(string.format("VM %s runs from datastore %s (%s), power %s", v.name, ds, v.vmx, v.power))
end

if a.to then
  if not v then
    if not a.vm then usage("to= alone needs vm=, the recovered VM's name") end
    v = vm.open("name:" .. a.vm)
    if not v then script.nothing_selected("there is no VM named " .. a.vm) end
  end
  v:relocate { datastore = a.to }
  print(string.format("VM %s migrated to datastore %s (%s)", v.name, a.to, v.vmx or "dry run"))
  backup.unmount_datastore { name = a.datastore, host = a.host }
  print("datastore " .. a.datastore .. " unmounted: vmlua serve nfs can be stopped")
end
