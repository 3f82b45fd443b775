package backup_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vmlua/vmlua/internal/guestfs/guestfstest"
	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
)

// TestOpenPointReadsGuestFilesFromLua: backup.open_point lists the
// partitions and folders of a point's disk, reads a file, stats nil for
// what is not there, raises not_found and invalid_argument where it
// should, copies a folder as tar to a target, and closes.
func TestOpenPointReadsGuestFilesFromLua(t *testing.T) {
	d := guestfstest.New(t, "mbr", 16<<20,
		guestfstest.Part{FS: "ext4", Size: 8 << 20, Files: map[string]string{"etc/hostname": "lua-host\n", "etc/big": string(make([]byte, 3<<20))}},
		guestfstest.Part{FS: "vfat", Size: 4 << 20, Files: map[string]string{"boot.txt": "fat\n"}})
	e := simtest.Start(t, vsim.Options{Inventory: []vsim.VMSpec{{Name: "LUA1", Disks: []vsim.DiskSpec{{Size: 16 << 20}}}}})
	e.Sim.PauseGuest("LUA1")
	if _, err := e.Sim.GuestWriteData("LUA1", "scsi0:0", 0, d.Bytes()); err != nil {
		t.Fatal(err)
	}
	e.Backup(t, "LUA1", "full")
	err, recs := e.Run(t, `
local backup = require "backup"
local p = backup.open_point { from = arg.dest, vm = "LUA1" }
assert(p.vm == "LUA1" and p.set:find("^LUA1/") and #p.disks == 1 and p.disks[1].id == "scsi0:0", tostring(p))
local parts = p:partitions()
assert(#parts == 2 and parts[1].fs == "ext4" and parts[1].table == "mbr" and parts[2].fs == "fat12" and parts[2].readable, "partitions")
local names = {}
for _, e in ipairs(p:files("1:/etc")) do names[#names + 1] = e.name .. ":" .. e.type .. ":" .. e.size end
assert(table.concat(names, ",") == "big:file:3145728,hostname:file:9", table.concat(names, ","))
assert(p:read("1:/etc/hostname") == "lua-host\n")
assert(p:read("2:/boot.txt", { disk = "scsi0:0" }) == "fat\n")
assert(p:stat("1:/etc/nothing") == nil)
assert(p:stat("1:/etc").type == "folder")
local ok, err = pcall(p.read, p, "1:/etc/nothing")
assert(not ok and err.code == "not_found", tostring(err))
ok, err = pcall(p.read, p, "1:/etc/big")
assert(not ok and err.code == "invalid_argument", tostring(err))
ok, err = pcall(p.read, p, "/etc/hostname")
assert(not ok and err.code == "invalid_argument" and err.message:find("2 file systems"), tostring(err))
local c = p:copy("1:/etc", { to = arg.dest .. "/restored" })
assert(c.path == "etc.tar" and c.tar and c.bytes > 3145728, c.path)
p:close()
print("open_point ok")
`, simtest.RunOptions{})
	if err != nil || !simtest.Contains(recs.Printed(), "open_point ok") {
		t.Fatalf("%v\n%s", err, recs)
	}
	if st, err := os.Stat(filepath.Join(e.Dir, "restored", "etc.tar")); err != nil || st.Size() < 3<<20 {
		t.Fatalf("the copied tar: %v", err)
	}
}
