-- answer_rules.lua — the rules vmlua ships for the questions ESXi asks
-- most, answered as an admin would answer them unattended.
--
--   vmlua answer --rules scripts/answer_rules.lua            (a daemon)
--   vmlua answer --rules scripts/answer_rules.lua --once     (one pass, from cron)
--   vmlua run --answer scripts/answer_rules.lua nightly.lua  (a run's own questions)
--
-- Rules match ESXi's message ids (never the text, which is localized and
-- changes between releases) and answer by the choice's label, the key of
-- the button (button.uuid.copiedTheVM), which does not change either; a
-- summary ("I Copied It") or a 0-based index works too. Every answer and
-- every question left is logged with the VM, the question and the choice.
-- Questions these rules do not know are left for a person (logged as a
-- warning), except single-choice ones (see single_choice below).
-- docs/questions.md says more; copy this file to adapt it.
return {
  -- A question with one choice is a message to acknowledge ("OK"): the
  -- VM waits until someone does, and nothing else can be chosen. Answering
  -- it is what the book's detectQuestion.pl did and what every operator
  -- does; the answer is logged with the message's text.
  single_choice = "answer",

  -- "This virtual machine might have been moved or copied." (a VM whose
  -- files are not where its .vmx was made: restored by another tool,
  -- copied by hand, registered from a replica). ESXi's own advice is "If
  -- you don't know, answer I Copied It", and unattended nobody knows: a
  -- copy that keeps the uuid shares its BIOS uuid (and its generated MAC
  -- addresses) with the original, which confuses vCenter, every tool that
  -- finds VMs by uuid (vmlua's uuid: too) and the network. Copied gives
  -- the VM a new uuid; a VM that was really moved loses only its old one.
  -- (vmlua's own restores answer this themselves, knowing which it was.)
  -- A site whose only moves are replica failovers should answer
  -- "button.uuid.movedTheVM" instead.
  { name = "moved or copied", message_id = "msg.uuid.altered", choice = "button.uuid.copiedTheVM" },

  -- "There is no more space for virtual disk 'X-000001.vmdk' ... Retry ...
  -- Cancel". Retry alone asks again at once while the datastore is full,
  -- and Cancel powers the VM off hard (its guest loses what it had not
  -- written). Left, the VM waits, stopped but intact, until a person frees
  -- space and answers Retry: it then runs on where it stopped. The warning
  -- in the log is the alert. (A backup whose own REDO log filled the
  -- datastore frees the space and answers Retry itself.)
  { name = "datastore full", message_id = "msg.hbacommon.outofspace", leave = true },

  -- "The guest operating system has locked the CD-ROM door ... Disconnect
  -- anyway and override the lock?" Someone asked to disconnect or change
  -- the CD-ROM (an ISO unmounted before a backup, a template's media
  -- removed) and the reconfiguration waits on this question. Yes does what
  -- was asked, as ejecting the media by hand would; No leaves the task
  -- hanging until a person comes.
  { name = "CD-ROM locked by the guest", message_id = "msg.cdromdisconnect.locked", choice = "button.yes" },

  -- "The redolog of X-000001.vmdk has been detected to be corrupt. The
  -- virtual machine needs to be powered off." Its only choice is OK: the
  -- VM powers off either way, and until it is acknowledged the VM can be
  -- neither consolidated nor restarted. Acknowledged here, by name, so that
  -- it is answered even with single_choice = "leave"; the log line is the
  -- alert (VMware KB 1006585 says what to do next).
  { name = "REDO log corrupt", message_id = "msg.hbacommon.corruptredo", choice = "button.ok" },
}
