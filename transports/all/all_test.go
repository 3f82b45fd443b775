package all_test

import (
	"testing"

	"github.com/vmlua/vmlua/transports"
	_ "github.com/vmlua/vmlua/transports/all"
)

// TestEveryShippedSchemeIsRegistered: the binary imports this package, so
// a transport missing here cannot be used from the CLI at all.
func TestEveryShippedSchemeIsRegistered(t *testing.T) {
	have := map[string]bool{}
	for _, s := range transports.Schemes() {
		have[s.Name] = true
		for _, a := range s.Aliases {
			have[a] = true
		}
	}
	for _, want := range []string{"file", "nfs", "smb", "cifs", "ftp", "ftps", "sftp", "scp", "vmfs"} {
		if !have[want] {
			t.Errorf("scheme %s is not registered by transports/all", want)
		}
	}
}
