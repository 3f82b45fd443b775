// Package vm is the Lua module "vm": VM look-ups (by .vmx path or by
// vcbVmName-style specifiers), the VMX-key view of a VM's configuration,
// power operations, and the ESX hot-backup cycle in VmPerl's terms —
// add_redo (a snapshot), export (stream the frozen disk to a transport) and
// commit (remove a snapshot, merging its delta) — with the guarantee that
// every REDO a run adds is committed when the run ends, however it ends.
//
// The connection comes from the operator (--url, VMLUA_* variables or a
// config profile), never from the script. It is opened on first use, kept
// alive, re-established after a dropped session, and logged out at the end.
//
// Questions (question.go): [VM.Question] reads a VM's pending question and
// [Answer] answers one — the one place vmlua calls AnswerVM, for
// v:answer_question, the run's [QuestionPolicy] while a task waits, and the
// question module's watch and 'vmlua answer'.
package vm
