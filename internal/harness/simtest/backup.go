package simtest

import (
	"io"
	"strings"
	"testing"
	"time"
)

// Backup backs the VM up into Dir as a script does (v:backup{to=arg.dest,
// mode=mode}, zstd) and returns the set's id and the guest's write count
// then. It pauses the VM's guest first (and leaves it paused: GuestWrite
// and GuestWriteData still write), so that ExpectedContent(vmName, disk,
// seq) is what the set holds.
func (e *Env) Backup(t testing.TB, vmName, mode string) (id string, seq uint64) {
	t.Helper()
	if err := e.Sim.PauseGuest(vmName); err != nil {
		t.Fatal(err)
	}
	seq, err := e.Sim.WriteSeq(vmName)
	if err != nil {
		t.Fatal(err)
	}
	err, recs := e.Run(t, `
		local set = require("vm").open("name:" .. arg.vm):backup{ to = arg.dest, mode = arg.mode, compress = "zstd" }
		assert(set.complete)
		print("SET " .. set.id)
	`, RunOptions{Args: []string{"vm=" + vmName, "mode=" + mode}, Timeout: 30 * time.Minute}) // big disks in ./bench
	if err != nil {
		t.Fatalf("backup of %s (%s): %v\n%s", vmName, mode, err, recs)
	}
	for _, l := range recs.Printed() {
		if rest, ok := strings.CutPrefix(l, "SET "); ok {
			return rest, seq
		}
	}
	t.Fatalf("backup of %s printed no set id\n%s", vmName, recs)
	return "", 0
}

// Expected returns what the VM's disk held after the guest's first seq
// writes (ExpectedContent, read whole).
func (e *Env) Expected(t testing.TB, vmName, disk string, seq uint64) []byte {
	t.Helper()
	r, size, err := e.Sim.ExpectedContent(vmName, disk, seq)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, size)
	if _, err := r.ReadAt(b, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return b
}
