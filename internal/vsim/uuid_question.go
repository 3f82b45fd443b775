package vsim

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"

	"github.com/vmlua/vmlua/internal/vmxfmt"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// A moved or copied VM's first power-on asks msg.uuid.altered, as ESXi
// does (esxi_questions.go for the question's sources): the .vmx records
// uuid.location, a hash of the path of the .vmx, next to uuid.bios; a
// power-on where the recorded location differs from the VM's path (its
// files were copied or moved: a restore, a copy by hand, RegisterVM of
// another folder) stops on the question, unless the .vmx says what to do
// (uuid.action = "keep" or "create", KB 1541's "Always Keep" / "Always
// Create"). "I Moved It" keeps uuid.bios, "I Copied It" (ESXi's default)
// gives the VM a new one; both record the new location, so the next
// power-on does not ask; Cancel fails the power-on and the question comes
// back on the next one. The power-on task runs until it is answered.
//
// Real ESXi hashes the host's identifier into uuid.location too (KB 1541);
// the simulator hashes the datastore path alone, so registering the same
// files on another host does not ask.

// uuidLocation is the uuid.location of a .vmx at vmxPath ("[ds] dir/x.vmx").
func uuidLocation(vmxPath string) string {
	h := sha256.Sum256([]byte("vmlua-sim uuid.location " + vmxPath))
	return vmxfmt.UUID(hex.EncodeToString(h[:16]))
}

// readUUIDKeys reads uuid.location and uuid.action from the VM's .vmx as
// it is on the datastore (before the simulator rewrites it).
func (s *Sim) readUUIDKeys(vmxPath string) (location, action string) {
	local, err := s.dsLocal(vmxPath)
	if err != nil {
		return "", ""
	}
	f, err := os.Open(local)
	if err != nil {
		return "", ""
	}
	defer f.Close()
	kv, err := ParseVMX(f)
	if err != nil {
		return "", ""
	}
	return kv["uuid.location"], kv["uuid.action"]
}

// uuidAltered reports whether powering the VM on must ask msg.uuid.altered
// (vs.mu held).
func (vs *vmState) uuidAltered(vmxPath string) bool {
	if vs.uuidLocation == "" || vmxfmt.SameUUID(vs.uuidLocation, uuidLocation(vmxPath)) {
		return false
	}
	switch strings.ToLower(vs.uuidAction) {
	case "keep", "create":
		return false
	}
	return true
}

func (w *vmWrapper) PowerOnVMTask(ctx *simulator.Context, req *types.PowerOnVM_Task) soap.HasFault {
	s, vm := w.s, w.VirtualMachine
	if vm.Config.Template {
		return w.VirtualMachine.PowerOnVMTask(ctx, req)
	}
	ref := s.runTask(ctx, vm, "powerOn", func(tctx *simulator.Context, _ *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		vs, err := s.adopt(vm.Self, false)
		if err != nil {
			return nil, &types.NotFound{}
		}
		if f := s.answerUUIDAltered(tctx, vm, vs); f != nil {
			return nil, f
		}
		var res soap.HasFault
		tctx.WithLock(vm, func() { res = vm.PowerOnVMTask(tctx, req) })
		body := res.(*methods.PowerOnVM_TaskBody)
		if body.Fault_ != nil {
			return nil, body.Fault_.VimFault().(types.BaseMethodFault)
		}
		return nil, s.waitTask(s.ctx, body.Res.Returnval)
	})
	return &methods.PowerOnVM_TaskBody{Res: &types.PowerOnVM_TaskResponse{Returnval: ref}}
}

// answerUUIDAltered asks msg.uuid.altered when the VM was moved or copied
// and applies the answer; nil when the power-on goes on.
func (s *Sim) answerUUIDAltered(ctx *simulator.Context, vm *simulator.VirtualMachine, vs *vmState) types.BaseMethodFault {
	var vmxPath string
	ctx.WithLock(vm, func() { vmxPath = vm.Config.Files.VmPathName })
	vs.mu.Lock()
	altered := vs.uuidAltered(vmxPath)
	action := strings.ToLower(vs.uuidAction)
	vs.mu.Unlock()
	choice := -1
	switch {
	case altered:
		q, err := s.askESXi(vs, MsgUUIDAltered, "")
		if err != nil {
			return withMessage(&types.InvalidState{}, err.Error())
		}
		if choice, err = q.Wait(s.ctx); err != nil {
			return &types.RequestCanceled{}
		}
		if choice == uuidAlteredCancel {
			return withMessage(&types.InvalidState{}, "the power-on was canceled: the question whether the virtual machine was moved or copied was answered Cancel")
		}
	case action == "create":
		vs.mu.Lock()
		moved := vs.uuidLocation != "" && !vmxfmt.SameUUID(vs.uuidLocation, uuidLocation(vmxPath))
		vs.mu.Unlock()
		if moved {
			choice = uuidAlteredCopied
		}
	}
	if choice == uuidAlteredCopied {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		u := vmxfmt.ParseUUID(hex.EncodeToString(b))
		ctx.WithLock(vm, func() {
			ctx.Update(vm, []types.PropertyChange{{Name: "config.uuid", Val: u}, {Name: "summary.config.uuid", Val: u}})
		})
		s.logf("vsim: %s: copied: new uuid.bios %s", vs.name, u)
	}
	vs.mu.Lock()
	vs.uuidLocation = uuidLocation(vmxPath)
	vs.mu.Unlock()
	if err := s.writeVMX(vs); err != nil {
		s.logf("vsim: %s: write vmx: %v", vs.name, err)
	}
	return nil
}
