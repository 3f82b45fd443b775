package runtime_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/runtime"
)

// TestNotGrantedSaysAGrantThatWorks: the --allow a not_granted error
// suggests is accepted and covers the URL refused, in every URL form.
func TestNotGrantedSaysAGrantThatWorks(t *testing.T) {
	for _, raw := range []string{
		"sftp://backup@nas/backups/db01",
		"scp://backup@nas:22/backups",
		"vmfs://LocalDS_0/backups",
		"vmfs://[LocalDS_0] backups/db01",
		"vmfs://[datastore 1] vm backups",
	} {
		var g runtime.Grants
		var e *runtime.Error
		if err := g.Check(raw); !errors.As(err, &e) || e.Code != runtime.CodeNotGranted {
			t.Fatalf("Check(%q) with no grants = %v, want not_granted", raw, err)
		}
		_, hint, ok := strings.Cut(e.Message, "--allow ")
		hint, _, _ = strings.Cut(hint, "' or in")
		if !ok || hint == "" {
			t.Fatalf("Check(%q): no --allow in %q", raw, e.Message)
		}
		if err := g.Allow(hint); err != nil {
			t.Errorf("Check(%q) suggests --allow %q, which is refused: %v", raw, hint, err)
			continue
		}
		if err := g.Check(raw); err != nil {
			t.Errorf("after --allow %q, Check(%q) = %v", hint, raw, err)
		}
	}
}

// TestGrantErrorsNeverShowAPassword: a URL refused because it does not
// parse or is malformed is quoted with its password masked, whatever
// step refused it.
func TestGrantErrorsNeverShowAPassword(t *testing.T) {
	var g runtime.Grants
	if err := g.Allow("sftp://backup@nas/backups"); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{
		"sftp://backup:s3cr3tpw@nas/backups/%zz",
		"sftp://backup:s3cr3tpw@nas/backups/a\\b",
		"sftp://backup:s3cr3tpw@nas/backups/../etc",
		"sftp://backup:s3cr3tpw@nas/backups\n",
		"sftp://backup:s3cr3tpw@[nas/backups",
	} {
		err := g.Check(raw)
		if err == nil {
			t.Errorf("%q: granted", raw)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3tpw") {
			t.Errorf("%q: the error shows the password: %v", raw, err)
		}
		if err := g.Allow(raw); err != nil && strings.Contains(err.Error(), "s3cr3tpw") {
			t.Errorf("%q: Allow's error shows the password: %v", raw, err)
		}
	}
}
