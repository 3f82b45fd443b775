package vm_test

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// TestEveryFaultTheSimulatorRaisesIsPrintedByItsMeaning feeds the faults
// of govmomi's types that the simulator can raise — every fault type of
// its fault-injection rules, each as a refused call (a SOAP fault), and
// the same faults as a failed task (whose message is the fault's Go type,
// as vcsim's are) — through a script, and checks that the error it gets
// names the fault by its meaning and what to do, never as a Go type
// (*types.InvalidState) or its type name.
func TestEveryFaultTheSimulatorRaisesIsPrintedByItsMeaning(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 1 << 20, WriteRate: -1})
	faults := []types.BaseMethodFault{
		&types.InvalidState{}, &types.InvalidPowerState{}, &types.InvalidHostState{}, &types.FileNotFound{},
		&types.NoPermission{PrivilegeId: "VirtualMachine.Interact.PowerOn"}, &types.NotAuthenticated{}, &types.TaskInProgress{},
		&types.SystemError{Reason: "Undefined"}, &types.InsufficientResourcesFault{}, &types.ResourceInUse{}, &types.InvalidArgument{},
		&types.MethodNotFound{}, &types.ManagedObjectNotFound{}, &types.NoDiskSpace{}, &types.FileLocked{}, &types.RequestCanceled{},
	}
	types := []simulator.FaultType{
		simulator.FaultTypeGeneric, simulator.FaultTypeNotAuthenticated, simulator.FaultTypeNoPermission, simulator.FaultTypeInvalidArgument,
		simulator.FaultTypeMethodNotFound, simulator.FaultTypeManagedObjectNotFound, simulator.FaultTypeInvalidState,
		simulator.FaultTypeResourceInUse, simulator.FaultTypeInsufficientResourcesFault, simulator.FaultTypeNetworkFailure, simulator.FaultTypeTimeout,
	}
	type injection struct {
		name string
		arm  func()
		op   string // the Lua call that meets it
	}
	var cases []injection
	for _, ft := range types {
		cases = append(cases, injection{fmt.Sprintf("fault-injection type %d on PowerOnVM_Task", ft), func() {
			e.Sim.AddFaultRule(&simulator.FaultInjectionRule{MethodName: "PowerOnVM_Task", ObjectType: "*", ObjectName: "*",
				FaultType: ft, Message: " ", Probability: 1, Enabled: true, MaxCount: 1})
		}, `if v.power ~= "off" then v:power_off() end; v:power_on()`})
	}
	for _, f := range faults {
		cases = append(cases, injection{fmt.Sprintf("%T on PowerOnVM_Task", f), func() {
			e.Sim.AddFaultRule(&simulator.FaultInjectionRule{MethodName: "PowerOnVM_Task", ObjectType: "*", ObjectName: "*",
				FaultType: simulator.FaultTypeCustom, Fault: f, Message: " ", Probability: 1, Enabled: true, MaxCount: 1})
		}, `if v.power ~= "off" then v:power_off() end; v:power_on()`})
		cases = append(cases, injection{fmt.Sprintf("%T as a failed CreateSnapshot task", f), func() {
			e.Sim.InjectTaskFault(vsim.TaskFault{Method: "CreateSnapshot_Task", VM: "VM1", Fault: f})
		}, `v:add_redo("scsi0:0")`})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.arm()
			err, recs := e.Run(t, `local v = require("vm").open("name:VM1"); `+c.op, simtest.RunOptions{})
			if err == nil {
				t.Fatalf("the injected fault did not reach the script\n%s", recs)
			}
			msg := err.Error()
			if strings.Contains(msg, "types.") || strings.Contains(msg, "ServerFaultCode") || !strings.Contains(msg, "; ") {
				t.Errorf("%s", msg)
			}
			for _, f := range faults {
				if name := reflect.TypeOf(f).Elem().Name(); regexp.MustCompile(`\b` + name + `\b`).MatchString(msg) {
					t.Errorf("the message names the fault type %s: %s", name, msg)
				}
			}
		})
	}
	// the simulator's own refusal: power on a VM whose host is in maintenance mode
	if err, recs := e.Run(t, `
		local v = require("vm").open("name:VM1")
		if v.power ~= "off" then v:power_off() end
		require("host").find("name:" .. v.host)[1]:enter_maintenance()
		v:power_on()`, simtest.RunOptions{}); err == nil || strings.Contains(err.Error(), "types.") || !strings.Contains(err.Error(), "could not power on: the object is in a state that does not allow it") {
		t.Errorf("power on with the host in maintenance mode: %v\n%s", err, recs)
	}
}
