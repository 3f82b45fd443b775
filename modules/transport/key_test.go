package transport

import (
	"strings"
	"testing"

	"github.com/vmlua/vmlua/transports"
)

// TestTargetKey: per-target limits count the URLs of one server together,
// whatever names its scheme goes by and whichever vmfs form is written.
func TestTargetKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b string
		same bool
	}{
		{"two folders on one NAS are one target", "sftp://backup@nas/a", "sftp://backup@nas/b", true},
		{"an alias is its scheme", "scp://backup@nas/a", "sftp://backup@nas/b", true},
		{"host case does not matter", "smb://NAS/share", "cifs://nas/share/x", true},
		{"the bracketed vmfs form names its datastore", "vmfs://[LocalDS_0] a", "vmfs://[LocalDS_0] b", true},
		{"both vmfs forms are one datastore", "vmfs://[LocalDS_0] a", "vmfs://LocalDS_0/b", true},
		{"two hosts are two targets", "sftp://nas1/a", "sftp://nas2/a", false},
		{"two schemes on one host are two targets", "ftp://nas/a", "sftp://nas/a", false},
	} {
		if got := targetKey(tc.a) == targetKey(tc.b); got != tc.same {
			t.Errorf("%s: targetKey(%q) = %q, targetKey(%q) = %q", tc.name, tc.a, targetKey(tc.a), tc.b, targetKey(tc.b))
		}
	}
}

// TestSummaryListsTheRegistry: the module's summary (and so the docs) names
// every registered scheme and alias.
func TestSummaryListsTheRegistry(t *testing.T) {
	for _, s := range transports.Schemes() {
		for _, n := range append([]string{s.Name}, s.Aliases...) {
			if !strings.Contains(Module.Summary, n) {
				t.Errorf("the transport module's summary %q does not name %s", Module.Summary, n)
			}
		}
	}
}
