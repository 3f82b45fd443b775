package backup_test

import (
	"context"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
)

// TestAnInterruptedBackupLogsNoErrorForTheCommitTheCleanupMakes: Ctrl-C
// while a backup holds its REDO log fails the backup; the REDO is
// committed by the run's cleanup, which succeeds, so no ERROR record may
// claim that committing failed, and no snapshot is left.
func TestAnInterruptedBackupLogsNoErrorForTheCommitTheCleanupMakes(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err, recs := e.Run(t, `
		local v = require("vm").open("name:VM1")
		v:backup{ to = arg.dest }
	`, simtest.RunOptions{Ctx: ctx, Hook: func(msg string, _ map[string]any) {
		if msg == "add_redo: disk frozen" {
			cancel() // as SIGINT does: the run's context ends
		}
	}})
	if err == nil {
		t.Fatalf("the interrupted backup succeeded\n%s", recs)
	}
	if len(recs.Find("cleanup done")) == 0 {
		t.Fatalf("the cleanup did not commit the REDO log:\n%s", recs)
	}
	for _, r := range recs.All() {
		if r["level"] == "ERROR" {
			t.Errorf("an ERROR record for a commit the cleanup then made: %v\n%s", r, recs)
		}
	}
	if s := e.Snapshots(t, "VM1"); len(s) != 0 {
		t.Errorf("snapshots left on VM1: %v", s)
	}
}
