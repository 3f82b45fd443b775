package vsim

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// TestGuestWriteDataLandsOnTheDiskAndInTheOracle: a write of given bytes
// lands on the disk, in the write log, and in ExpectedContent; an
// unaligned one is refused.
func TestGuestWriteDataLandsOnTheDiskAndInTheOracle(t *testing.T) {
	s, _ := startSim(t, Options{})
	if err := s.PauseGuest("VM1"); err != nil {
		t.Fatal(err)
	}
	p := bytes.Repeat([]byte("ext4 "), 2*GrainSize/5+1)[:2*GrainSize]
	seq, err := s.GuestWriteData("VM1", "scsi0:0", 3*GrainSize, p)
	if err != nil {
		t.Fatal(err)
	}
	log, _ := s.WriteLog("VM1")
	if w := log[len(log)-1]; w.Seq != seq || w.Offset != 3*GrainSize || !bytes.Equal(w.Data, p) {
		t.Fatalf("the log's last write is %+v", w)
	}
	want, size, err := s.ExpectedContent("VM1", "scsi0:0", seq)
	if err != nil {
		t.Fatal(err)
	}
	exp := make([]byte, size)
	if _, err := want.ReadAt(exp, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	vs, _ := s.vmByName("VM1")
	vs.mu.Lock()
	d := vs.diskByID("scsi0:0")
	got := make([]byte, d.capacity)
	_, err = d.readAt(len(d.layers)-1, got, 0)
	vs.mu.Unlock()
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if !bytes.Equal(got[3*GrainSize:5*GrainSize], p) || !bytes.Equal(got, exp) {
		t.Fatal("the disk does not hold the bytes written, or the oracle differs from the disk")
	}
	for _, c := range []struct {
		off int64
		n   int
	}{{100, GrainSize}, {0, 100}, {size, GrainSize}} {
		if _, err := s.GuestWriteData("VM1", "scsi0:0", c.off, make([]byte, c.n)); err == nil || !strings.Contains(err.Error(), "multiples") {
			t.Errorf("a write of %d bytes at %d: %v", c.n, c.off, err)
		}
	}
}
