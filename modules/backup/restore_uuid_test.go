package backup_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
)

// TestARestoredVMPowersOnAnsweringWhetherItWasMovedOrCopied: the restored
// VM's files are not where its .vmx was made, so its first power-on asks
// msg.uuid.altered (the simulator asks as ESXi does); restore with
// power_on answers it as an admin would: I Copied It beside the original
// (a new uuid: the two must not share one), I Moved It in its place (the
// original overwritten: the VM keeps its uuid). It used to fail with a
// question error and undo the restore.
func TestARestoredVMPowersOnAnsweringWhetherItWasMovedOrCopied(t *testing.T) {
	cases := []struct {
		name, restoreAs, extra string
		later                  bool // powered on by the script, v:power_on(), on the VM restore returned
		sameUUID               bool
		choice                 string
	}{
		{name: "beside the original: copied, a new uuid", restoreAs: "VM1-r", choice: "button.uuid.copiedTheVM"},
		{name: "in its place: moved, the same uuid", restoreAs: "VM1", extra: `on_conflict = "overwrite", datastore = "LocalDS_1"`, sameUUID: true, choice: "button.uuid.movedTheVM"},
		{name: "powered on later by the script: answered the same", restoreAs: "VM1-r", later: true, choice: "button.uuid.copiedTheVM"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newHostSite(t)
			err, recs := s.Run(t, `
				local v = require("vm").open("name:VM1")
				print(v.uuid)
				v:power_off()
			`, simtest.RunOptions{})
			if err != nil {
				t.Fatalf("%v\n%s", err, recs)
			}
			orig := recs.Printed()[0]
			err, recs = s.Run(t, `
				local later = arg.later == "true"
				local v = require("backup").restore{ from = arg.dest, set = arg.set, name = arg.name, power_on = not later, `+tc.extra+` }
				if later then v:power_on() end
				print(v.power, v.uuid)
			`, simtest.RunOptions{Args: []string{"set=" + s.set, "name=" + tc.restoreAs, fmt.Sprintf("later=%v", tc.later)}})
			if err != nil {
				t.Fatalf("restore: %v\n%s", err, recs)
			}
			got := strings.Split(recs.Printed()[0], "\t")
			if got[0] != "on" || (got[1] == orig) != tc.sameUUID {
				t.Fatalf("restored VM power %s uuid %s (original %s), want on and the same uuid: %v\n%s", got[0], got[1], orig, tc.sameUUID, recs)
			}
			ans := recs.Find("answered a question")
			if len(ans) != 1 || ans[0]["choice"] != tc.choice || !strings.HasPrefix(ans[0]["by"].(string), "restore: ") {
				t.Fatalf("answers %v, want one %s by the restore\n%s", ans, tc.choice, recs)
			}
		})
	}
}
