// Package question is the "question" Lua module and its Go core: finding
// the questions VMs wait on (runtime.question) and answering them by rules.
//
// Lua:
//
//	local question = require "question"
//	for _, p in ipairs(question.pending{vms = "any:"}) do
//	  if #p.question.choices == 1 then p.vm:answer_question(p.question, 0) end
//	end
//	question.watch{vms = "name:DB*", timeout = 3600, handler = function(v, q)
//	  if q.message_ids[1] == "msg.uuid.altered" then return "I copied it" end
//	  return nil -- leave it for a person
//	end}
//	question.policy{ {text = "REDO log", choice = 0}, single_choice = "answer" }
//
// Go: [Pending] reads every pending question in one retrieval; [Watcher]
// calls a handler for each question as it appears, with one
// PropertyCollector filter over a container view and WaitForUpdatesEx,
// re-reading everything after a lost session; [Policy] (rules by message
// id or Lua text pattern, plus single_choice) decides, [Answerer] applies a
// policy and answers through vm.Answer, the one place vmlua calls AnswerVM
// (dry run, log line, error codes); [Install] makes a policy the run's
// vm.QuestionPolicy so the vm module's own operations continue past a
// question; [LoadRules] reads a rules file (a Lua chunk returning the
// policy table) in the run's sandbox. The command 'vmlua answer' is
// Watcher + Answerer; 'vmlua run --answer RULES.lua' is LoadRules +
// Install. Text patterns are Lua patterns translated to RE2, so matching is
// linear in the text whatever the rule.
package question
