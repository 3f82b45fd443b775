package vsim

import (
	"fmt"
)

// The questions ESXi asks, as it asks them: message id, text and choices
// (label = the button's message key, summary = what a person reads; the
// choice's key is its index, which AnswerVM takes).
//
// Sources:
//   - msg.uuid.altered: VMware KB 1541 "Changing or keeping a UUID for a
//     moved virtual machine" (Broadcom KB 320246): choices Cancel / I moved
//     it / I copied it; the text and the labels as `vim-cmd vmsvc/message`
//     prints them on ESXi: "0. button.uuid.cancel (Cancel) 1.
//     button.uuid.movedTheVM (I Moved It) 2. button.uuid.copiedTheVM (I
//     Copied It) [default]"; Ansible's vmware.vmware collection answers it
//     by label (question msg.uuid.altered, response
//     button.uuid.copiedTheVM) and sends the matching key.
//   - msg.hbacommon.outofspace: the text hostd shows ("There is no more
//     space for virtual disk 'X-000001.vmdk'. You might be able to continue
//     this session by freeing disk space on the relevant volume, and
//     clicking Retry. Click Cancel to terminate this session."); VMware KB
//     1007849 (the ESX 3/4 wording: "...clicking Retry. Otherwise, click
//     Abort to terminate this session"); key 0 Retry, key 1 Cancel (a
//     pyVmomi tool's PowerOffVM_Task override: "key 1 is always Cancel").
//   - msg.cdromdisconnect.locked: key 0 Yes (disconnect anyway), key 1 No
//     (Terraform's vSphere provider answers "0" to disconnect, CloudStack's
//     ANSWER_YES is "0").
//   - msg.hbacommon.corruptredo: VMware KB 1006585 ("The redolog of
//     X-000001.vmdk has been detected to be corrupt. The virtual machine
//     needs to be powered off. If the problem still persists, you need to
//     discard the redolog"), an error with the one choice OK.

// Message ids of the questions the simulator asks as ESXi does.
const (
	MsgUUIDAltered      = "msg.uuid.altered"
	MsgOutOfSpace       = "msg.hbacommon.outofspace"
	MsgCDROMLocked      = "msg.cdromdisconnect.locked"
	MsgCorruptRedo      = "msg.hbacommon.corruptredo"
	uuidAlteredCancel   = 0
	uuidAlteredMoved    = 1
	uuidAlteredCopied   = 2
	outOfSpaceRetry     = 0
	outOfSpaceCancel    = 1
	uuidAlteredQuestion = "This virtual machine might have been moved or copied.\n" +
		"In order to configure certain management and networking features, VMware ESX needs to know if this virtual machine was moved or copied.\n\n" +
		"If you don't know, answer \"I Copied It\"."
)

// esxiQuestion is one of ESXi's questions.
type esxiQuestion struct {
	text         func(file string) string
	choices      []Choice
	defaultIndex int
}

var esxiQuestions = map[string]esxiQuestion{
	MsgUUIDAltered: {
		text: func(string) string { return uuidAlteredQuestion },
		choices: []Choice{
			{"button.uuid.cancel", "Cancel"},
			{"button.uuid.movedTheVM", "I Moved It"},
			{"button.uuid.copiedTheVM", "I Copied It"},
		},
		defaultIndex: uuidAlteredCopied,
	},
	MsgOutOfSpace: {
		text: func(file string) string {
			return fmt.Sprintf("There is no more space for virtual disk '%s'. You might be able to continue this session by freeing disk space on the relevant volume, and clicking Retry. Click Cancel to terminate this session.", file)
		},
		choices: []Choice{{"button.retry", "Retry"}, {"button.cancel", "Cancel"}},
	},
	MsgCDROMLocked: {
		text: func(string) string {
			return "The guest operating system has locked the CD-ROM door and is probably using the CD-ROM, which can prevent the guest from recognizing media changes. If possible, eject the CD-ROM from inside the guest before disconnecting.\nDisconnect anyway and override the lock?"
		},
		choices: []Choice{{"button.yes", "Yes"}, {"button.no", "No"}},
	},
	MsgCorruptRedo: {
		text: func(file string) string {
			return fmt.Sprintf("The redolog of %s has been detected to be corrupt. The virtual machine needs to be powered off. If the problem still persists, you need to discard the redolog.", file)
		},
		choices: []Choice{{"button.ok", "OK"}},
	},
}

// AskESXi raises one of ESXi's questions (MsgCDROMLocked, MsgCorruptRedo,
// ... ; file is the disk file its text names, when it names one) on the
// named VM, for a test of what answers it: the simulator raises
// MsgUUIDAltered and MsgOutOfSpace itself (uuid_question.go,
// datastore_space.go); the others only through AskESXi.
func (s *Sim) AskESXi(vmName, msgID, file string) (*Question, error) {
	vs, err := s.vmByName(vmName)
	if err != nil {
		return nil, err
	}
	return s.askESXi(vs, msgID, file)
}

func (s *Sim) askESXi(vs *vmState, msgID, file string) (*Question, error) {
	eq, ok := esxiQuestions[msgID]
	if !ok {
		return nil, fmt.Errorf("vsim: no ESXi question %q", msgID)
	}
	return s.raise(vs, eq.text(file), eq.choices, eq.defaultIndex, msgID)
}
