package backup_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"

	"github.com/vmlua/vmlua/internal/pcomp"
	"github.com/vmlua/vmlua/internal/sparse"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
)

// imageSHA decodes a stored disk image and hashes the flat image.
func imageSHA(t *testing.T, p, compression string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dr, err := pcomp.NewReader(f, compression)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := sparse.NewReader(dr)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, sr); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// roundTrip backs up DB01 to dest, verifies, restores it under another
// name to another datastore, backs the restored VM up, and checks that
// every disk is the same and equals what the guest had written at the
// freeze.
func roundTrip(t *testing.T, e *simtest.Env, dest string, compress string, extra simtest.RunOptions) {
	t.Helper()
	var frozen uint64
	extra.Hook = func(msg string, a map[string]any) {
		if msg == "add_redo: disk frozen" && frozen == 0 && a["vm"] == "DB01" {
			ref, ok := e.SnapshotRef(t, "DB01", a["snapshot"].(string))
			if ok {
				frozen, _ = e.Sim.SnapshotSeq(ref)
			}
		}
	}
	extra.Args = append(extra.Args, "target="+dest, "compress="+compress)
	err, recs := e.Run(t, `
		local vm, backup = require "vm", require "backup"
		local target = arg.target
		if arg.cred or arg.ca_file then
			target = require("transport").open(arg.target, { credentials = arg.cred, ca_file = arg.ca_file })
		end
		local v = vm.open("name:DB01")
		local set = v:backup{ to = target, compress = arg.compress }
		local res = backup.verify{ at = target, set = set.id }
		assert(res.ok, "verify of the original set failed")
		local copy = backup.restore{ from = target, set = set.id, datastore = "LocalDS_1", name = "DB01-copy" }
		assert(copy.name == "DB01-copy", "restored as " .. tostring(copy.name))
		assert(copy.vmx == "[LocalDS_1] DB01-copy/DB01-copy.vmx", "vmx " .. copy.vmx)
		assert(#v:snapshots() == 0, "snapshot left on the original")
		local set2 = copy:backup{ to = target, compress = arg.compress }
		assert(#set2.disks == #set.disks, "the restored VM has " .. #set2.disks .. " disks")
		for i, d in ipairs(set.disks) do
			assert(set2.disks[i].id == d.id, "disk order")
			assert(set2.disks[i].sha256 == d.sha256, "disk " .. d.id .. " differs after the round trip")
		end
	`, extra)
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	if dest != "file://"+e.Dir {
		return
	}
	if err := e.Sim.PauseGuest("DB01"); err != nil {
		t.Fatal(err)
	}
	c, dir := readCatalog(t, e.Dir, "DB01")
	for _, d := range c.Disks {
		want, size, err := e.Sim.ExpectedContent("DB01", d.ID, frozen)
		if err != nil {
			t.Fatal(err)
		}
		if got := imageSHA(t, filepath.Join(dir, d.File), compress); got != simtest.ShaOf(t, want, size) {
			t.Errorf("%s: the stored image differs from the disk at the freeze (write %d)", d.ID, frozen)
		}
		if d.File != "" && compress != "none" && !strings.HasSuffix(d.File, pcomp.Ext(compress)) {
			t.Errorf("%s: stored as %s", d.ID, d.File)
		}
	}
}

func TestRestoreUnderAnotherNameIsByteExact(t *testing.T) {
	for _, compress := range []string{"zstd", "gzip", "none"} {
		t.Run(compress, func(t *testing.T) {
			e := simtest.Start(t, vsim.Options{WriteRate: 100, VMs: 1})
			roundTrip(t, e, "file://"+e.Dir, compress, simtest.RunOptions{})
		})
	}
}

// backupOnce backs up a VM and returns the set id.
func backupOnce(t *testing.T, e *simtest.Env, vmName string) string {
	t.Helper()
	err, recs := e.Run(t, fmt.Sprintf(`
		local vm = require "vm"
		local set = vm.open("name:%s"):backup{ to = arg.dest }
		assert(set.complete)
	`, vmName), simtest.RunOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	sets, _ := filepath.Glob(filepath.Join(e.Dir, vmName, "*", catalog.FileName))
	rel, _ := filepath.Rel(e.Dir, filepath.Dir(sets[len(sets)-1]))
	return filepath.ToSlash(rel)
}
