package backup_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"

	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
)

// chainEnv backs DB01 up with mode= and remembers, per set, the guest's
// write count at the freeze.
type chainEnv struct {
	*simtest.Env
	frozen map[string]uint64 // set id -> write seq at the freeze
}

func (c *chainEnv) backup(t *testing.T, mode string) *catalog.Catalog {
	t.Helper()
	var seq uint64
	hook := func(msg string, a map[string]any) {
		if msg == "backup: disk frozen" && seq == 0 && a["vm"] == "DB01" {
			if ref, ok := c.SnapshotRef(t, "DB01", a["snapshot"].(string)); ok {
				seq, _ = c.Sim.SnapshotSeq(ref)
			}
		}
	}
	err, recs := c.Run(t, `
		local vm = require "vm"
		local set = vm.open("name:DB01"):backup{ to = arg.dest, mode = arg.mode, compress = "zstd" }
		assert(set.complete)
		assert(#vm.open("name:DB01"):snapshots() == 0, "a snapshot is left")
		print("SET " .. set.id)
	`, simtest.RunOptions{Args: []string{"mode=" + mode}, Hook: hook})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	cat := readCatalogAt(t, c.Dir, printed(recs, "SET "))
	if seq == 0 {
		t.Fatalf("no freeze was logged\n%s", recs)
	}
	c.frozen[cat.ID] = seq
	return cat
}

// restoreMatches restores a set under a new name and compares every disk
// with what the guest had written at that set's freeze.
func (c *chainEnv) restoreMatches(t *testing.T, cat *catalog.Catalog, name string) {
	t.Helper()
	err, recs := c.Run(t, `
		local backup = require "backup"
		backup.restore{ from = arg.dest, set = arg.set, datastore = "LocalDS_1", name = arg.name }
	`, simtest.RunOptions{Args: []string{"set=" + cat.ID, "name=" + name}})
	if err != nil {
		t.Fatalf("restore of %s: %v\n%s", cat.ID, err, recs)
	}
	for _, d := range cat.Disks {
		want, size, err := c.Sim.ExpectedContent("DB01", d.ID, c.frozen[cat.ID])
		if err != nil {
			t.Fatal(err)
		}
		if got := c.DiskSHA(t, "[LocalDS_1] "+name+"/"+d.Descriptor); got != simtest.ShaOf(t, want, size) {
			t.Errorf("%s (%s, depth %d): disk %s differs from the disk at its freeze", cat.ID, cat.Mode, cat.Depth, d.ID)
		}
	}
}

func (c *chainEnv) verify(t *testing.T, id string) (ok bool, problems string) {
	t.Helper()
	err, recs := c.Run(t, `
		local backup = require "backup"
		local r = backup.verify{ at = arg.dest, set = arg.set }
		for _, p in ipairs(r.problems) do print("PROBLEM " .. p.file .. ": " .. p.problem) end
		assert(r.ok, "verify failed")
	`, simtest.RunOptions{Args: []string{"set=" + id}})
	return err == nil, recs.String()
}

func TestIncrementalChains(t *testing.T) {
	e := simtest.Start(t, vsim.Options{WriteRate: 50, VMs: 1, DiskSize: 4 << 20})
	c := &chainEnv{Env: e, frozen: map[string]uint64{}}
	var sets []*catalog.Catalog
	for i := 0; i < 6; i++ {
		if _, err := e.Sim.GuestWrite("DB01", 40); err != nil {
			t.Fatal(err)
		}
		sets = append(sets, c.backup(t, "incremental"))
	}

	t.Run("the first run enables tracking and makes a full, then each set is an incremental of the one before", func(t *testing.T) {
		if sets[0].Mode != catalog.ModeFull || sets[0].FullReason == "" {
			t.Errorf("first set: mode %q, full_reason %q", sets[0].Mode, sets[0].FullReason)
		}
		for i, s := range sets[1:] {
			if s.Mode != catalog.ModeIncremental || s.Parent != sets[i].ID || s.Depth != i+1 || s.Version != catalog.VersionContentSpans {
				t.Errorf("set %d: mode %q parent %q depth %d version %d", i+1, s.Mode, s.Parent, s.Depth, s.Version)
			}
			for _, d := range s.Disks {
				if d.Format != catalog.FormatDelta2 || d.ChangeID == "" || d.BaseChangeID == "" || d.ChangedBytes <= 0 || d.ChangedBytes >= d.Capacity {
					t.Errorf("set %d disk %s: format %s change %q base %q changed %d", i+1, d.ID, d.Format, d.ChangeID, d.BaseChangeID, d.ChangedBytes)
				}
			}
		}
	})
	t.Run("every point of the chain restores byte-exact", func(t *testing.T) {
		for i, s := range sets {
			c.restoreMatches(t, s, fmt.Sprintf("P%d", i))
		}
	})
	t.Run("verify checks the whole chain", func(t *testing.T) {
		if ok, recs := c.verify(t, sets[5].ID); !ok {
			t.Fatalf("verify of the last point failed:\n%s", recs)
		}
	})
	t.Run("synthesize merges a chain into a full of the same point", func(t *testing.T) {
		err, recs := c.Run(t, `
			local backup = require "backup"
			local s = backup.synthesize{ at = arg.dest, set = arg.set }
			assert(s.mode == "synthetic" and s.synthesized_from == arg.set and s.parent == nil, "synthetic set")
			assert(backup.verify{ at = arg.dest, set = s.id }.ok, "verify of the synthetic set")
			print("SYNTH " .. s.id)
		`, simtest.RunOptions{Args: []string{"set=" + sets[5].ID}})
		if err != nil {
			t.Fatalf("%v\n%s", err, recs)
		}
		syn := readCatalogAt(t, e.Dir, printed(recs, "SYNTH "))
		c.frozen[syn.ID] = c.frozen[sets[5].ID]
		c.restoreMatches(t, syn, "S5")
		// the synthetic set is removed again so that the chain stays the newest
		if err := os.RemoveAll(filepath.Join(e.Dir, syn.ID)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("prune keeps the chain of a kept incremental", func(t *testing.T) {
		err, recs := c.Run(t, `
			local backup = require "backup"
			local r = backup.prune{ at = arg.dest, vm = "DB01", keep = 1, dry_run = true }
			assert(#r.removed == 0, #r.removed .. " sets would be removed")
			assert(#r.kept == 6, #r.kept .. " kept")
		`, simtest.RunOptions{})
		if err != nil {
			t.Fatalf("%v\n%s", err, recs)
		}
	})
	t.Run("verify catches a corrupt extent in the middle of a chain", func(t *testing.T) {
		mid := sets[3]
		p := filepath.Join(e.Dir, mid.ID, mid.Disks[0].File)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		orig := append([]byte{}, b...)
		b[len(b)/2] ^= 0x40
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ok, recs := c.verify(t, sets[5].ID)
		if ok || !strings.Contains(recs, mid.ID+"/"+mid.Disks[0].File) {
			t.Errorf("verify of the last point does not name the damaged layer %s/%s:\n%s", mid.ID, mid.Disks[0].File, recs)
		}
		if err := os.WriteFile(p, orig, 0o644); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a deleted parent forces a full", func(t *testing.T) {
		if err := os.RemoveAll(filepath.Join(e.Dir, sets[4].ID)); err != nil {
			t.Fatal(err)
		}
		s := c.backup(t, "incremental")
		if s.Mode != catalog.ModeFull || !strings.Contains(s.FullReason, sets[4].ID) {
			t.Errorf("after deleting %s: mode %q, parent %q, full_reason %q; sets %v", sets[4].ID, s.Mode, s.Parent, s.FullReason, c.frozen)
		}
		sets = append(sets, s)
	})
	t.Run("a resized disk forces a full", func(t *testing.T) {
		last := sets[len(sets)-1]
		p := filepath.Join(e.Dir, last.ID, catalog.FileName)
		var raw map[string]any
		b, _ := os.ReadFile(p)
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		// as if the disk had been smaller when this set was made
		raw["disks"].([]any)[0].(map[string]any)["capacity"] = float64(last.Disks[0].Capacity - 1<<20)
		b, _ = json.Marshal(raw)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		s := c.backup(t, "incremental")
		if s.Mode != catalog.ModeFull || !strings.Contains(s.FullReason, "resized") {
			t.Errorf("mode %q, full_reason %q", s.Mode, s.FullReason)
		}
	})
	t.Run("auto makes a full once the chain reaches chain_max", func(t *testing.T) {
		s1 := c.backup(t, "auto") // on the full just made: incremental
		if s1.Mode != catalog.ModeIncremental {
			t.Errorf("auto on a fresh full: %q (%s)", s1.Mode, s1.FullReason)
		}
		err, recs := c.Run(t, `
			local vm = require "vm"
			local s = vm.open("name:DB01"):backup{ to = arg.dest, mode = "auto", chain_max = 2 }
			assert(s.mode == "full" and s.full_reason:find("chain_max"), "mode " .. s.mode)
		`, simtest.RunOptions{})
		if err != nil {
			t.Fatalf("%v\n%s", err, recs)
		}
	})
}

// printed returns what the script printed after prefix (its last such line).
func printed(recs *simtest.Records, prefix string) string {
	var out string
	for _, r := range strings.Split(recs.String(), "\n") {
		if i := strings.Index(r, prefix); i >= 0 {
			out = strings.SplitN(r[i+len(prefix):], `"`, 2)[0]
		}
	}
	return out
}
