package backup_test

import (
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
)

// TestLayeredMergeOnlyWhenTheREDOLogsHoldMuch: with layered=true (the
// default) a second REDO takes the writes while the first merges only when
// the first holds more than 16 MiB; one that holds less merges directly,
// the second REDO's job done without two more snapshot operations. Either
// way the set restores byte-exact and no snapshot is left.
func TestLayeredMergeOnlyWhenTheREDOLogsHoldMuch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		writes  int // guest writes between the freeze and the merge (4-64 KiB each)
		freezes int // snapshots the backup makes
		direct  bool
	}{
		{"a REDO log holding little merges directly", 0, 1, true},
		{"REDO logs holding about 30 MiB each are layered", 2000, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := simtest.Start(t, vsim.Options{WriteRate: 0.001, VMs: 1, DiskSize: 64 << 20})
			c := &chainEnv{Env: e, frozen: map[string]uint64{}}
			freezes, wrote := 0, false
			err, recs := e.Run(t, `
				local vm = require "vm"
				local set = vm.open("name:DB01"):backup{ to = arg.dest }
				assert(#vm.open("name:DB01"):snapshots() == 0, "a snapshot is left")
				print("SET " .. set.id)
			`, simtest.RunOptions{Hook: func(msg string, a map[string]any) {
				switch msg {
				case "add_redo: disk frozen":
					freezes++
				case "backup: disk frozen":
					if ref, ok := e.SnapshotRef(t, "DB01", a["snapshot"].(string)); ok {
						seq, _ := e.Sim.SnapshotSeq(ref)
						c.frozen["pending"] = seq
					}
				case "backup: disk stored":
					if !wrote && tc.writes > 0 {
						wrote = true
						if _, err := e.Sim.GuestWrite("DB01", tc.writes); err != nil {
							t.Error(err)
						}
					}
				}
			}})
			if err != nil {
				t.Fatalf("%v\n%s", err, recs)
			}
			if freezes != tc.freezes || (len(recs.Find("backup: the REDO logs hold little; merged directly, without a second REDO")) == 1) != tc.direct {
				t.Errorf("%d snapshots made (want %d), merged directly: %v (want %v)\n%s", freezes, tc.freezes, !tc.direct, tc.direct, recs)
			}
			cat := readCatalogAt(t, e.Dir, printed(recs, "SET "))
			c.frozen[cat.ID] = c.frozen["pending"]
			c.restoreMatches(t, cat, "R")
		})
	}
}
