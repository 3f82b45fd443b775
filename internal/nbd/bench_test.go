package nbd

import (
	"os/exec"
	"testing"
)

// BenchmarkNbdcopyOfAnInMemoryExport is the server's own ceiling: nbdcopy
// to null: of a 64 MiB export held in memory (a third of it zeros), so
// that what a restore point's reads cost (bench figure 12) can be told
// from what the protocol costs.
func BenchmarkNbdcopyOfAnInMemoryExport(b *testing.B) {
	nbdcopy, err := exec.LookPath("nbdcopy")
	if err != nil {
		b.Fatal("nbdcopy is not installed: install Debian's libnbd-bin")
	}
	d := newDisk(64 << 20)
	addr := serve(b, &Server{Exports: []Export{{Name: "d", Size: int64(len(d.b)), Data: d, Map: d.Map}}})
	b.SetBytes(int64(len(d.b)))
	for b.Loop() {
		if out, err := exec.Command(nbdcopy, "nbd://"+addr+"/d", "null:").CombinedOutput(); err != nil {
			b.Fatalf("nbdcopy: %v\n%s", err, out)
		}
	}
}
