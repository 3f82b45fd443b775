package backup_test

import (
	"encoding/json"
	"fmt"
	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOldSetsStillVerifyAndRestore reads sets older vmlua wrote
// (testdata/oldsets: a version 1 full and a version 2 incremental of it;
// a version 3 full and incremental, with span digests and version 1
// streams) with today's code: each verifies, each restores, and every
// restored disk is what the guest had written at that set's freeze.
func TestOldSetsStillVerifyAndRestore(t *testing.T) {
	const src = "testdata/oldsets"
	var want map[string]map[string]string // set id -> disk id -> sha256
	b, err := os.ReadFile(filepath.Join(src, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 128 << 10})
	if err := os.CopyFS(e.Dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id      string
		version int
		mode    string
		format  string // of its disks
	}{
		{"DB01/20261203T135450Z", catalog.VersionFull, catalog.ModeFull, catalog.FormatSparse1},
		{"DB01/20261203T135451Z", catalog.VersionChain, catalog.ModeIncremental, catalog.FormatDelta1},
		{"DB01/20261204T155218Z", catalog.VersionSpans, catalog.ModeFull, catalog.FormatSparse1},
		{"DB01/20261204T155219Z", catalog.VersionSpans, catalog.ModeIncremental, catalog.FormatDelta1},
	} {
		t.Run(fmt.Sprintf("version %d %s", tc.version, tc.mode), func(t *testing.T) {
			cat := readCatalogAt(t, e.Dir, tc.id)
			if cat.Version != tc.version || cat.Mode != tc.mode {
				t.Fatalf("fixture %s is version %d mode %q, want %d %q", tc.id, cat.Version, cat.Mode, tc.version, tc.mode)
			}
			for _, f := range cat.Files {
				if spans := f.Spans != nil; f.SHA256 == "" && !spans || spans != (tc.version >= catalog.VersionSpans && f.Kind == catalog.KindDisk) {
					t.Fatalf("fixture %s: file %s is not a version %d file (sha256 %q, spans %v)", tc.id, f.Name, tc.version, f.SHA256, f.Spans)
				}
			}
			for _, d := range cat.Disks {
				if d.Format != tc.format {
					t.Fatalf("fixture %s: disk %s has format %s, want %s", tc.id, d.ID, d.Format, tc.format)
				}
			}
			name := fmt.Sprintf("DB01-v%d-%s", tc.version, tc.mode)
			err, recs := e.Run(t, `
				local backup = require "backup"
				local r = backup.verify{ at = arg.dest, set = arg.set }
				for _, p in ipairs(r.problems) do print("PROBLEM " .. p.file .. ": " .. p.problem) end
				assert(r.ok, "verify failed")
				backup.restore{ from = arg.dest, set = arg.set, datastore = "LocalDS_1", name = arg.name }
			`, simtest.RunOptions{Args: []string{"set=" + tc.id, "name=" + name}})
			if err != nil {
				t.Fatalf("verify and restore of %s: %v\n%s", tc.id, err, recs)
			}
			if len(want[tc.id]) != len(cat.Disks) {
				t.Fatalf("expected.json has %d disks for %s, the catalog %d", len(want[tc.id]), tc.id, len(cat.Disks))
			}
			for _, d := range cat.Disks {
				if got := e.DiskSHA(t, "[LocalDS_1] "+name+"/"+d.Descriptor); got != want[tc.id][d.ID] {
					t.Errorf("%s: restored disk %s has sha256 %s, the guest had %s", tc.id, d.ID, got, want[tc.id][d.ID])
				}
			}
		})
	}
	// and an altered byte in an old set is still found, by its file
	img := filepath.Join(e.Dir, "DB01", "20261203T135451Z", "DB01-flat.vmdk.vls.zst")
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(img, data, 0o640); err != nil {
		t.Fatal(err)
	}
	err, recs := e.Run(t, `
		local r = require("backup").verify{ at = arg.dest, set = "DB01/20261203T135451Z" }
		for _, p in ipairs(r.problems) do print("PROBLEM " .. p.file .. ": " .. p.problem) end
		assert(not r.ok, "verify passed a damaged set")
	`, simtest.RunOptions{})
	if err != nil || !strings.Contains(recs.String(), "PROBLEM DB01-flat.vmdk.vls.zst") {
		t.Errorf("verify of a damaged version 2 set: %v\n%s", err, recs)
	}
}
