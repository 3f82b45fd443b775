package vfault_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/vfault"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// everyFaultType lists every fault type govmomi's vim25/types declares
// (every type whose pointer is a BaseMethodFault), read from its source:
// the faults any vSphere call may raise, not only those vmlua names.
func everyFaultType(t *testing.T) []reflect.Type {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/vmware/govmomi").Output()
	if err != nil {
		t.Fatalf("go list govmomi: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "vim25", "types", "types.go"))
	if err != nil {
		t.Fatal(err)
	}
	base := reflect.TypeOf((*types.BaseMethodFault)(nil)).Elem()
	lookup := types.TypeFunc()
	var faults []reflect.Type
	for _, m := range regexp.MustCompile(`(?m)^type ([A-Z]\w*) struct`).FindAllSubmatch(src, -1) {
		typ, ok := lookup(string(m[1]))
		if ok && typ.Kind() == reflect.Struct && reflect.PointerTo(typ).Implements(base) {
			faults = append(faults, typ)
		}
	}
	for _, extra := range []any{types.SystemErrorFault{}, types.InvalidPowerStateFault{}} { // types defined as others
		faults = append(faults, reflect.TypeOf(extra))
	}
	sort.Slice(faults, func(i, j int) bool { return faults[i].Name() < faults[j].Name() })
	if len(faults) < 500 {
		t.Fatalf("found %d fault types in govmomi's types.go; the pattern no longer matches its source", len(faults))
	}
	return faults
}

// forms are the ways a fault reaches vmlua: a failed task (as govmomi and
// the simulator leave it, the message being the Go type; as taskwait
// returns it), a SOAP fault without a message, a vim fault, and any of
// them wrapped with what was being done.
func forms(f types.BaseMethodFault) map[string]error {
	lmf := &types.LocalizedMethodFault{Fault: f, LocalizedMessage: fmt.Sprintf("%T", f)}
	sf := &soap.Fault{Code: "ServerFaultCode"}
	sf.Detail.Fault = f
	value := reflect.ValueOf(f).Elem().Interface() // a fault decoded as a value
	sv := &soap.Fault{Code: "ServerFaultCode"}
	sv.Detail.Fault = value
	out := map[string]error{
		"task.Error":         task.Error{LocalizedMethodFault: lmf},
		"taskwait's Task":    vfault.Task{Err: task.Error{LocalizedMethodFault: lmf}},
		"SOAP fault":         soap.WrapSoapFault(sf),
		"SOAP fault (value)": soap.WrapSoapFault(sv),
		"vim fault":          soap.WrapVimFault(f),
	}
	for name, err := range out {
		out["wrapped "+name] = fmt.Errorf("power on VM1: %w", err)
	}
	return out
}

// TestNoFaultIsPrintedAsAGoType: every fault type of govmomi, in every
// form it reaches vmlua, is printed by its meaning and what to do, never
// as a Go type (*types.InvalidState) or its bare type name.
func TestNoFaultIsPrintedAsAGoType(t *testing.T) {
	known, all := 0, everyFaultType(t)
	for _, typ := range all {
		f := reflect.New(typ).Interface().(types.BaseMethodFault)
		name := typ.Name()
		typeName := regexp.MustCompile(`\b` + name + `\b`)
		what, todo := vfault.Describe(f)
		if what == "" || todo == "" {
			t.Errorf("%s: Describe gives %q; %q, want a meaning and what to do", name, what, todo)
		}
		if !strings.HasPrefix(what, "vSphere refused it (") {
			known++
		}
		for form, err := range forms(f) {
			for _, msg := range []string{vfault.Text(err), errorText(err)} {
				if strings.Contains(msg, "types.") || typeName.MatchString(msg) || strings.Contains(msg, "ServerFaultCode") {
					t.Errorf("%s as a %s reads %q", name, form, msg)
				}
			}
			if vfault.Name(err) != strings.TrimPrefix(name, "") || !reflect.DeepEqual(reflect.TypeOf(vfault.Of(err)), reflect.PointerTo(typ)) {
				t.Errorf("%s as a %s: Of gives %T", name, form, vfault.Of(err))
			}
		}
	}
	t.Logf("%d fault types, %d with a meaning of their own or of their family; the others are spelt in words", len(all), known)
}

// errorText is what a plain %v shows: taskwait's Task reads human by
// itself; the others only through Text.
func errorText(err error) string {
	var tk vfault.Task
	if errors.As(err, &tk) {
		return err.Error()
	}
	return ""
}

// TestTextKeepsWhatWasBeingDoneAndTheServersWords: a wrapped fault keeps
// the words around it, and the server's own message when it says more
// than the type.
func TestTextKeepsWhatWasBeingDoneAndTheServersWords(t *testing.T) {
	lmf := &types.LocalizedMethodFault{Fault: &types.InvalidState{}, LocalizedMessage: "The operation is not allowed in the current state of the host."}
	err := fmt.Errorf("cannot register [ds] VM/VM.vmx: %w", task.Error{LocalizedMethodFault: lmf})
	got := vfault.Text(err)
	for _, want := range []string{"cannot register [ds] VM/VM.vmx: the object is in a state that does not allow it", "(vSphere: The operation is not allowed in the current state of the host)", "; check the VM and its host"} {
		if !strings.Contains(got, want) {
			t.Errorf("Text = %q, want it to hold %q", got, want)
		}
	}
	for _, tc := range []struct {
		fault types.BaseMethodFault
		want  string
	}{
		{&types.NoPermission{PrivilegeId: "VirtualMachine.State.CreateSnapshot"}, "lacks a privilege for it (privilege VirtualMachine.State.CreateSnapshot)"},
		{&types.FileNotFound{FileFault: types.FileFault{File: "[LocalDS_0] VM1/VM1.vmdk"}}, "a file is not on the datastore (file [LocalDS_0] VM1/VM1.vmdk)"},
		{&types.SystemError{Reason: "Undefined"}, "internal error (Undefined)"},
		{&types.InvalidPowerState{ExistingState: "poweredOn"}, "power state does not allow it (it is poweredOn)"},
		{&types.InvalidDatastorePath{DatastorePath: "[x] y"}, "the datastore path is not valid ([x] y)"},
		{&types.HostConfigFailed{}, "the host refused the configuration change"},
		{&types.ActiveVMsBlockingEVC{}, "vSphere refused it (active vms blocking evc)"},
		{&types.ActiveDirectoryFault{}, "vSphere refused it (active directory)"},
	} {
		if got := vfault.Text(soap.WrapVimFault(tc.fault)); !strings.Contains(got, tc.want) {
			t.Errorf("%T: %q, want %q", tc.fault, got, tc.want)
		}
	}
	if got := vfault.Text(errors.New("dial tcp: refused")); got != "dial tcp: refused" {
		t.Errorf("an error without a fault: %q", got)
	}
}
