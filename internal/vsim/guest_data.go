package vsim

import "fmt"

// GuestWriteData makes the named VM's guest write p at byte off of its
// disk diskID now, whatever its power state, rate or pause: one write of
// its log, so changed block tracking reports it and ExpectedContent
// includes it. off and len(p) are multiples of GrainSize, as a guest's
// writes are. It returns the write count after it. It is how a test puts
// content made outside on a simulated disk: a file system made with
// mkfs.ext4 in an image, then the blocks a change to it touched.
func (s *Sim) GuestWriteData(vmName, diskID string, off int64, p []byte) (uint64, error) {
	vs, err := s.vmByName(vmName)
	if err != nil {
		return 0, err
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	d := vs.diskByID(diskID)
	switch {
	case d == nil:
		return 0, fmt.Errorf("vsim: %s has no disk %s", vmName, diskID)
	case off < 0 || off%GrainSize != 0 || len(p)%GrainSize != 0 || off+int64(len(p)) > d.capacity:
		return 0, fmt.Errorf("vsim: a write of %d bytes at %d to %s (%d bytes): offset and length must be multiples of %d inside the disk", len(p), off, diskID, d.capacity, GrainSize)
	case len(p) == 0:
		return vs.seq, nil
	}
	data := append([]byte(nil), p...)
	if err := d.write(off, data); err != nil {
		return 0, err
	}
	vs.seq++
	vs.log = append(vs.log, Write{Seq: vs.seq, Disk: diskID, Offset: off, Length: int64(len(data)), Data: data})
	return vs.seq, nil
}
