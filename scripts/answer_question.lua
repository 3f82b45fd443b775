-- answer_question.lua — the book's detectQuestion.pl, ported.
--
-- Usage: vmlua run scripts/answer_question.lua [VM] [watch=SECONDS] [allow_empty=true]
--   VM     a .vmx path ("[LocalDS_0] DB01/DB01.vmx") or a specifier (name:DB01,
--          name:DB*, powerstate:on, any:), positional or as vm=; default any: —
--          every VM, where the book's script looked at one
--   watch  keep watching for new questions this many seconds (one
--          PropertyCollector filter for the whole inventory) instead of one pass
--   allow_empty=true  a selection that matches no VM is fine (default: exit 6)
--
-- A question with one choice is answered with it ("easy to answer it"); a
-- question with several is logged with its choices and left for a person.
-- Exit status: 0 no question is left; 7 (partial) a question is left for a
-- person, as 'vmlua answer --once' ends; 6 (nothing_selected) no VM matches.
-- For rules beyond that, see 'vmlua answer --rules' and docs/questions.md.
local vm = require "vm"
local question = require "question"
local log = require "log"
local script = require "script"

-- User variables
local a = script.args {
  vm = { each = true, help = "the VM(s), instead of the positional argument (vmlua run --each sets it)" },
  watch = { type = "number", help = "keep watching for new questions this many seconds" },
  allow_empty = { type = "boolean", default = false, help = "a selection matching no VM is not a failure" },
}
local cfg = a[1] or a.vm or "any:"

-- Which VMs: a .vmx path names one, as VmPerl's connect($cfg) did.
if cfg:sub(1, 1) == "[" then
  local v = vm.open(cfg)
  if not v then script.nothing_selected("no VM has the .vmx " .. cfg .. ": no question was looked for") end
  cfg = "moref:" .. v.moref
elseif cfg ~= "none:" and #vm.find(cfg) == 0 then
  script.nothing_selected("no VM matches " .. cfg .. ": no question was looked for")
end

if a.watch then
  -- The default rules are the book's: answer single-choice questions only.
  local res = question.watch { vms = cfg, timeout = a.watch }
  log.info("watch ended", { answered = res.answered, left = res.left })
  if res.left > 0 then
    script.status("partial")
  end
  return
end

-- Check for questions; an empty list if there are none.
local pending = question.pending { vms = cfg }
if #pending == 0 then
  print("No Questions")
end
local left = 0
for _, p in ipairs(pending) do
  local v, q = p.vm, p.question
  if #q.choices == 1 then
    -- There is only one choice, easy to answer it
    v:answer_question(q, 0)
    log.info("Question answered", { vm = v.name, question = q.id, text = q.text, choice = q.choices[1] })
  else
    log.warn("More than one choice", { vm = v.name, question = q.id, text = q.text, choices = table.concat(q.choices, ", ") })
    left = left + 1
  end
end
if left > 0 then
  print(string.format("%d question(s) left for a person (more than one choice; see the log)", left))
  script.status("partial")
end
