-- test_restore_drill.lua — "did the backup really work?": restore the latest
-- set under another name, power it on, wait, check it, and put it away.
-- Backups are important; restores are critical (the book). Run it weekly.
--
-- Run:  vmlua run --allow SRC examples/test_restore_drill.lua from=SRC vm=NAME \
--         [datastore=DS] [wait=120] [credentials=NAME]
-- The copy is named NAME-drill; a copy a previous drill left (powered off) is
-- replaced. Its network adapters keep their names: put the drill on an isolated
-- port group in real life (edit the .vmx rule in your own copy of this file).
-- A VM with no set on the target ends the run with 6 (nothing_selected). With
-- vmlua run --dry-run the set is verified and the restore planned; nothing
-- is restored, powered on or removed.
local vm = require "vm"
local backup = require "backup"
local question = require "question"
local script = require "script"

local a = script.args {
  from = { required = true, help = "the target the sets are on (a granted URL)" },
  vm = { required = true, help = "the name of the VM whose latest set to drill" },
  datastore = { help = "restore the copy to this datastore (default: next to the original)" },
  wait = { type = "number", default = 120, help = "seconds to wait for the guest after power-on" },
  credentials = { help = "named credentials from the config for from=" },
  allow_empty = { type = "boolean", default = false, help = "a VM with no set on the target is not a failure" },
}
local from, name = a.from, a.vm
local drill = name .. "-drill"
local wait = a.wait

-- 0. Something to drill: a complete set of the VM.
local found = false
for _, s in ipairs(backup.list { at = from, vm = name, credentials = a.credentials }) do
  found = found or s.complete
end
if not found then
  script.nothing_selected("there is no complete set of VM " .. name .. " on " .. from .. ": nothing to drill")
end

-- 1. The set must verify before it is worth restoring.
local check = backup.verify { at = from, vm = name, set = "latest", credentials = a.credentials }
if not check.ok then error({ code = "verify", message = "latest set of " .. name .. " does not verify" }) end

-- 2. Restore under another name, next to the original (or on datastore=).
local v = backup.restore { from = from, vm = name, set = "latest", name = drill, datastore = a.datastore,
  on_conflict = "overwrite", credentials = a.credentials }
if not v then
  print(string.format("dry run: %s verified; it would be restored as %s, powered on, checked and removed", check.id, drill))
  return
end

-- 3. Power on, and wait for the guest: a copy asks "moved or copied?" at power-on.
v:power_on()
question.watch { vms = "name:" .. drill, timeout = wait, limit = 1,
  handler = function(_, q)
    for _, c in ipairs(q.choices) do if c:find("[Cc]opied") then return c end end
    return #q.choices == 1 and 0 or nil
  end }

-- 4. Check: running, not stuck on a question, its disks there.
v:refresh()
local problems = {}
if v.power ~= "on" then problems[#problems + 1] = "not running" end
if v:pending_question() then problems[#problems + 1] = "stuck on a question" end
if #v:disks() == 0 then problems[#problems + 1] = "no disks" end

-- 5. Power it off, so that it does not run next to the original.
v:power_off()
if #problems > 0 then
  error({ code = "error", message = "drill of " .. name .. " failed: " .. table.concat(problems, ", ") })
end
print(string.format("drill passed: %s restored as %s, powered on, checked, powered off", check.id, drill))

-- 6. Remove the copy, files and all: the drill leaves nothing behind.
v:destroy()
print("drill copy " .. drill .. " removed")
