package vsim

import (
	"fmt"
	"io"
	"sort"

	"github.com/vmware/govmomi/vim25/types"
)

// Test controls: the guest, its write log, and the content a disk must hold.

// PauseGuest stops the named VM's guest from writing; ResumeGuest restarts it.
func (s *Sim) PauseGuest(vmName string) error {
	return s.setGuest(vmName, func(vs *vmState) { vs.paused = true })
}

// ResumeGuest lets the named VM's guest write again.
func (s *Sim) ResumeGuest(vmName string) error {
	return s.setGuest(vmName, func(vs *vmState) { vs.paused = false })
}

// SetWriteRate sets the named VM's guest writes per second (0 stops it).
func (s *Sim) SetWriteRate(vmName string, perSecond float64) error {
	return s.setGuest(vmName, func(vs *vmState) { vs.rate = perSecond })
}

func (s *Sim) setGuest(vmName string, f func(*vmState)) error {
	vs, err := s.vmByName(vmName)
	if err != nil {
		return err
	}
	vs.mu.Lock()
	f(vs)
	vs.mu.Unlock()
	select {
	case vs.wake <- struct{}{}:
	default:
	}
	return nil
}

// GuestWrite makes the named VM's guest perform n writes now, whatever its
// power state, rate or pause, and returns the write count after them.
func (s *Sim) GuestWrite(vmName string, n int) (uint64, error) {
	vs, err := s.vmByName(vmName)
	if err != nil {
		return 0, err
	}
	for i := 0; i < n; i++ {
		if err := vs.writeOnceForced(); err != nil {
			return 0, err
		}
	}
	return s.WriteSeq(vmName)
}

func (vs *vmState) writeOnceForced() error {
	vs.mu.Lock()
	p := vs.paused
	vs.paused = false
	vs.mu.Unlock()
	err := vs.writeOnce()
	vs.mu.Lock()
	vs.paused = p
	vs.mu.Unlock()
	return err
}

// WriteSeq returns how many writes the named VM's guest has made.
func (s *Sim) WriteSeq(vmName string) (uint64, error) {
	vs, err := s.vmByName(vmName)
	if err != nil {
		return 0, err
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return vs.seq, nil
}

// WriteLog returns a copy of the named VM's guest write log.
func (s *Sim) WriteLog(vmName string) ([]Write, error) {
	vs, err := s.vmByName(vmName)
	if err != nil {
		return nil, err
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return append([]Write(nil), vs.log...), nil
}

// SnapshotSeq returns the guest's write count at the instant the snapshot
// was taken: ExpectedContent(vm, disk, SnapshotSeq(snap)) is what the disk
// held then (and what the snapshot's frozen chain must hold).
func (s *Sim) SnapshotSeq(snapshot types.ManagedObjectReference) (uint64, error) {
	vms := s.allVMs()
	for _, vs := range vms {
		vs.mu.Lock()
		k := vs.snapIndex(snapshot)
		var seq uint64
		if k >= 0 {
			seq = vs.snaps[k].seq
		}
		vs.mu.Unlock()
		if k >= 0 {
			return seq, nil
		}
	}
	return 0, fmt.Errorf("vsim: no snapshot %s", snapshot.Value)
}

// DiskInfo describes a simulated disk.
type DiskInfo struct {
	ID          string // "scsi0:1"
	Key         int32
	Capacity    int64
	Independent bool
	Chain       []string // datastore paths of the chain's descriptors, base first
}

// Disks lists the named VM's disks.
func (s *Sim) Disks(vmName string) ([]DiskInfo, error) {
	vs, err := s.vmByName(vmName)
	if err != nil {
		return nil, err
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	var out []DiskInfo
	for _, d := range vs.disks {
		di := DiskInfo{ID: d.id, Key: d.key, Capacity: d.capacity, Independent: d.independent}
		for _, l := range d.layers {
			di.Chain = append(di.Chain, l.dsPath)
		}
		out = append(out, di)
	}
	return out, nil
}

// ExpectedContent returns a reader of what disk diskID of the named VM holds
// after the guest's first seq writes, computed from the seeds and the write
// log alone (not from the disk files): the oracle for tests. It is only
// meaningful for disks whose initial image the simulator generated.
func (s *Sim) ExpectedContent(vmName, diskID string, seq uint64) (io.ReaderAt, int64, error) {
	vs, err := s.vmByName(vmName)
	if err != nil {
		return nil, 0, err
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	var d *disk
	for _, x := range vs.disks {
		if x.id == diskID {
			d = x
		}
	}
	if d == nil {
		return nil, 0, fmt.Errorf("vsim: %s has no disk %s", vmName, diskID)
	}
	if seq > vs.seq {
		return nil, 0, fmt.Errorf("vsim: %s: write %d has not happened yet (at %d)", vmName, seq, vs.seq)
	}
	var ws []Write
	for _, w := range vs.log {
		if w.Seq <= seq && w.Disk == diskID {
			ws = append(ws, w)
		}
	}
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].Seq < ws[j].Seq })
	return &expected{seed: d.seed, vmSeed: vs.seed, capacity: d.capacity, writes: ws}, d.capacity, nil
}

type expected struct {
	seed, vmSeed uint64
	capacity     int64
	writes       []Write
}

func (e *expected) ReadAt(p []byte, off int64) (int, error) {
	if off >= e.capacity {
		return 0, io.EOF
	}
	var err error
	if rem := e.capacity - off; int64(len(p)) > rem {
		p, err = p[:rem], io.EOF
	}
	initialContent(e.seed, off, p)
	end := off + int64(len(p))
	for _, w := range e.writes {
		lo, hi := max(w.Offset, off), min(w.Offset+w.Length, end)
		switch {
		case lo >= hi:
		case w.Data != nil:
			copy(p[lo-off:hi-off], w.Data[lo-w.Offset:hi-w.Offset])
		default:
			fillPattern(writeSeed(e.vmSeed, w.Seq), lo, p[lo-off:hi-off])
		}
	}
	return len(p), err
}
