-- answer_question.lua — the book's detectQuestion.pl, ported.
--
-- Usage: vmlua run scripts/answer_question.lua [VM] [watch=SECONDS]
--   VM     a .vmx path ("[LocalDS_0] DB01/DB01.vmx") or a specifier (name:DB01,
--          name:DB*, powerstate:on, any:); default any: — every VM, where the
--          book's script looked at one
--   watch  keep watching for new questions this many seconds (one
--          PropertyCollector filter for the whole inventory) instead of one pass
--
-- A question with one choice is answered with it ("easy to answer it"); a
-- question with several is logged with its choices and left for a person.
-- For rules beyond that, see 'vmlua answer --rules' and docs/questions.md.
local question = require "question"
local log = require "log"

-- User variables
local cfg = arg[1] or arg.vm or "any:"
local watch = tonumber(arg.watch)

if watch then
  -- The default rules are the book's: answer single-choice questions only.
  local res = question.watch { vms = cfg, timeout = watch }
  log.info("watch ended", { answered = res.answered, left = res.left })
  return
end

-- Check for questions; an empty list if there are none.
local pending = question.pending { vms = cfg }
if #pending == 0 then
  print("No Questions")
end
for _, p in ipairs(pending) do
  local v, q = p.vm, p.question
  if #q.choices == 1 then
    -- There is only one choice, easy to answer it
    v:answer_question(q, 0)
    log.info("Question answered", { vm = v.name, question = q.id, text = q.text, choice = q.choices[1] })
  else
    log.warn("More than one choice", { vm = v.name, question = q.id, text = q.text, choices = table.concat(q.choices, ", ") })
  end
end
