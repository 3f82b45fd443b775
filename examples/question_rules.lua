-- question_rules.lua — rules for pending VM questions, to copy and adapt.
--
-- Use with:  vmlua answer --rules examples/question_rules.lua      (a daemon)
--            vmlua answer --rules examples/question_rules.lua --once
--            vmlua run --answer examples/question_rules.lua nightly.lua
-- or in a script, pass the same table to question.policy{...}.
--
-- The file returns a table. Its list part holds the rules, tried in order;
-- the first that matches a question decides it. A rule matches on
--   message_id = "..."  one of the question's message ids, exactly
--   text = "..."        a Lua pattern found in the question's text
-- (both must match when both are given) and says
--   choice = N          the 0-based index of the choice (VmPerl's answer_question($q, 0))
--   choice = "Label"    the choice's label or summary (case-insensitive): ESXi's
--                       labels are button keys ("button.uuid.movedTheVM"),
--                       its summaries what a person reads ("I Moved It")
--   leave = true        leave the question for a person (logged as a warning)
-- single_choice = "answer" answers a question no rule matched when it has
-- only one choice (the book's detectQuestion.pl); "leave" leaves it too.
-- Every question left, and every answer, is logged with the VM, question id,
-- text and choice. Patterns are Lua patterns without %b, %f and back references.
return {
  single_choice = "answer",

  -- A VM whose files were moved or copied: say it was moved, so its UUID
  -- (and MAC addresses) stay the same. Say "I Copied It" for clones instead.
  { name = "uuid altered", message_id = "msg.uuid.altered", choice = "I Moved It" },

  -- Our own REDO-depth question (vmlua's simulator, like ESX 2): acknowledge it.
  { name = "REDO depth", message_id = "msg.vmlua.redo.maxDepth", choice = 0 },

  -- A full datastore: never retry blindly; a person must free space first.
  { name = "datastore full", message_id = "msg.hbacommon.outofspace", leave = true },

  -- CD-ROM lock on a guest that refuses to eject: override the lock.
  { name = "cdrom locked", message_id = "msg.cdromdisconnect.locked", choice = "Yes" },

  -- scripts/answer_rules.lua is the shipped set, each answer explained.
}
