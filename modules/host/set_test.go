package host_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
)

// TestHostConfigurationSetsAreBackupSets: h:backup writes a set under
// host/ that backup.list, verify and prune handle like a VM's, and
// restore_config takes set="latest".
func TestHostConfigurationSetsAreBackupSets(t *testing.T) {
	e := simtest.Start(t, vsim.Options{})
	script := deq + `
local backup = require "backup"
local transport = require "transport"
local t = transport.open(arg.dest)
local before = h:config_summary()
local first = h:backup{ to = t }
assert(first.complete and first.host_config.build == h.build and first.path:find("^host/` + hostName + `/"), "bad catalog: " .. tostring(first.path))
for i = 1, 3 do h:backup{ to = t, keep = 2 } end
local sets = backup.list{ at = t, host = h.name }
assert(#sets == 2, "sets after keep=2: " .. #sets)
assert(sets[1].id ~= first.id, "the oldest set was not pruned")
local v = backup.verify{ at = t, host = h.name, set = "latest" }
assert(v.ok and v.files == 2, "verify: " .. tostring(v.problems[1] and v.problems[1].problem))
local p = backup.prune{ at = t, host = h.name, keep = 1 }
assert(#p.removed == 1 and #p.kept == 1, "prune keep=1")
print("damage " .. sets[2].id)
local v2 = backup.verify{ at = t, set = sets[2].id }
assert(not v2.ok, "a damaged set verified")
print("repair")
print("change the configuration")
h:enter_maintenance()
h:restore_config(t, { set = "latest" })
local ok, why = deq(before, h:config_summary())
assert(ok, "after the restore: " .. tostring(why))
local ok2, err = pcall(h.restore_config, h, t, { set = "host/other/20260101T000000Z" })
assert(not ok2 and err.code == "invalid_argument", tostring(err))
`
	var saved []byte
	var bundle string
	err, recs := e.Run(t, script, simtest.RunOptions{Hook: func(msg string, a map[string]any) {
		switch {
		case strings.HasPrefix(msg, "damage "):
			bundle = filepath.Join(e.Dir, strings.TrimPrefix(msg, "damage "), "configBundle-"+hostName+".tgz")
			b, err := os.ReadFile(bundle)
			if err != nil {
				t.Error(err)
				return
			}
			saved = append([]byte(nil), b...)
			b[10] ^= 0xff
			if err := os.WriteFile(bundle, b, 0o644); err != nil {
				t.Error(err)
			}
		case msg == "repair":
			if err := os.WriteFile(bundle, saved, 0o644); err != nil {
				t.Error(err)
			}
		case msg == "change the configuration":
			changeConfig(t, e)
		}
	}})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
}

// TestAHostSetCutMidDownloadIsRemoved: a download cut short leaves no set.
func TestAHostSetCutMidDownloadIsRemoved(t *testing.T) {
	e := simtest.Start(t, vsim.Options{})
	e.Sim.InjectDownloadFault(vsim.DownloadFault{Host: hostName, After: 64})
	err, recs := e.Run(t, deq+`
local backup = require "backup"
local ok, err = pcall(h.backup, h, { to = arg.dest })
assert(not ok and err.code == "transport", tostring(err))
assert(#backup.list{ at = arg.dest, host = h.name } == 0, "a set is listed")
`, simtest.RunOptions{})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	left, _ := filepath.Glob(filepath.Join(e.Dir, "host", hostName, "*"))
	for _, l := range left {
		if !strings.HasSuffix(l, ".vmlua-lock") {
			t.Errorf("left on the target: %s", l)
		}
	}
}
