package scripts_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/runtime"
)

// TestVMXBackupTakesItsVMsAsThePositionalArgument: vmx_backup.lua
// name:DB01 archives DB01 only, as the other shipped scripts take their
// first argument (it used to ignore it and archive every VM); a .vmx path
// works too; VMs given twice (SPEC and vms=, or two SPECs) are refused.
func TestVMXBackupTakesItsVMsAsThePositionalArgument(t *testing.T) {
	env := simtest.Start(t, vsim.Options{DiskSize: 1 << 20})
	dir := t.TempDir()
	o := simtest.Site{Endpoint: env.Endpoint, Allow: []string{"file://" + dir + "/"}}
	for _, tc := range []struct {
		name string
		args []string
		code string   // the error code, for a refusal
		want string   // printed (or in the error)
		dirs []string // the VMs archived
	}{
		{"a specifier", []string{"name:DB01"}, "", "1 VM(s): 1 archived", []string{"DB01"}},
		{"a .vmx path", []string{"[LocalDS_0] VM1/VM1.vmx"}, "", "1 VM(s): 1 archived", []string{"VM1"}},
		{"vms= as before", []string{"vms=name:VM2"}, "", "1 VM(s): 1 archived", []string{"VM2"}},
		{"a specifier and vms=", []string{"name:DB01", "vms=any:"}, runtime.CodeInvalidArg, "give the VMs once: name:DB01 and any:", nil},
		{"two specifiers", []string{"name:DB01", "name:VM1"}, runtime.CodeInvalidArg, "takes one SPEC", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			to := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			lines, err := o.Run(t, "vmx_backup.lua", append(tc.args, "to=file://"+to)...)
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("%v\n%s", err, strings.Join(lines, "\n"))
			case tc.code != "" && (simtest.Code(err) != tc.code || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %s saying %q", err, tc.code, tc.want)
			case tc.code == "" && !simtest.Contains(lines, tc.want):
				t.Errorf("printed %q, want %q", lines, tc.want)
			}
			var got []string
			for _, p := range simtest.Glob(t, filepath.Join(to, "*", "vmx", "*.tar.gz")) {
				rel, _ := filepath.Rel(to, p)
				got = append(got, strings.Split(rel, string(filepath.Separator))[0])
			}
			if strings.Join(got, ",") != strings.Join(tc.dirs, ",") {
				t.Errorf("archived %v, want %v", got, tc.dirs)
			}
		})
	}
}
