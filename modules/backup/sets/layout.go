package sets

import "strings"

// DirName is the folder of a VM's sets on a target: its name with path
// separators replaced.
func DirName(vmName string) string {
	return strings.NewReplacer("/", "_", "\\", "_", "%2f", "_", "%2F", "_").Replace(vmName)
}
