-- test_restore_drill.lua — "did the backup really work?": restore the latest
-- set under another name, power it on, wait, check it, and put it away.
-- Backups are important; restores are critical (the book). Run it weekly.
--
-- Run:  vmlua run --allow SRC examples/test_restore_drill.lua from=SRC vm=NAME \
--         [datastore=DS] [wait=120] [credentials=NAME]
-- The copy is named NAME-drill; a copy a previous drill left (powered off) is
-- replaced. Its network adapters keep their names: put the drill on an isolated
-- port group in real life (edit the .vmx rule in your own copy of this file).
local vm = require "vm"
local backup = require "backup"
local question = require "question"

local from, name = arg.from, arg.vm
if not (from and name) then
  error({ code = "invalid_argument", message = "usage: test_restore_drill.lua from=URL vm=NAME [datastore=DS] [wait=SECONDS]" })
end
local drill = name .. "-drill"
local wait = tonumber(arg.wait or "120")

-- 1. The set must verify before it is worth restoring.
local check = backup.verify { at = from, vm = name, set = "latest", credentials = arg.credentials }
if not check.ok then error({ code = "verify", message = "latest set of " .. name .. " does not verify" }) end

-- 2. Restore under another name, next to the original (or on datastore=).
local v = backup.restore { from = from, vm = name, set = "latest", name = drill, datastore = arg.datastore,
  on_conflict = "overwrite", credentials = arg.credentials }

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
