package vsim

import (
	"encoding/binary"
	"hash/fnv"
)

// Deterministic content. Every byte a simulated disk holds is a function of a
// seed: the initial image of a disk is derived from the disk's seed and the
// byte offset, and the bytes of guest write number n from the VM's seed and n.
// Tests can therefore compute what a disk must hold at any instant without
// reading it (see Sim.ExpectedContent).

const (
	// GrainSize is the unit of allocation of deltas and of guest writes.
	GrainSize = 4096
	// BlockSize is the unit in which the initial image is allocated or left
	// as a hole (unallocated).
	BlockSize = 64 * 1024
)

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func seedOf(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// fillPattern fills p with the pattern of seed as if p started at byte off of
// an infinite stream. off and len(p) need not be aligned.
func fillPattern(seed uint64, off int64, p []byte) {
	var w [8]byte
	for len(p) > 0 {
		word := off / 8
		binary.LittleEndian.PutUint64(w[:], splitmix(seed^uint64(word)*0x9e3779b97f4a7c15))
		n := copy(p, w[off%8:])
		p = p[n:]
		off += int64(n)
	}
}

// blockAllocated reports whether the initial image of a disk with the given
// seed has data in block blk; about one block in four is a hole.
func blockAllocated(seed uint64, blk int64) bool {
	return splitmix(seed^0x5bd1e995^uint64(blk))%4 != 0
}

// initialContent fills p with the initial image of a disk at offset off
// (zeros in unallocated blocks).
func initialContent(seed uint64, off int64, p []byte) {
	for len(p) > 0 {
		blk := off / BlockSize
		end := (blk + 1) * BlockSize
		n := int(min(int64(len(p)), end-off))
		if blockAllocated(seed, blk) {
			fillPattern(seed, off, p[:n])
		} else {
			clear(p[:n])
		}
		p = p[n:]
		off += int64(n)
	}
}

// Write is one guest write, as recorded in a VM's write log.
type Write struct {
	Seq    uint64 // 1-based, per VM
	Disk   string // "scsi0:1"
	Offset int64
	Length int64
	// Data is what a write of given bytes wrote (GuestWriteData); nil
	// for the guest's own writes, whose bytes are the pattern of Seq.
	Data []byte
}

// writeSeed is the pattern seed of the bytes of write seq of a VM.
func writeSeed(vmSeed, seq uint64) uint64 { return splitmix(vmSeed ^ (seq * 0xff51afd7ed558ccd)) }

// planWrite decides, deterministically, where guest write seq of a VM lands:
// which of ndisks disks (index), at which grain-aligned offset and how long.
func planWrite(vmSeed, seq uint64, capacities []int64) (disk int, off, length int64) {
	h := splitmix(vmSeed + seq)
	disk = int(h % uint64(len(capacities)))
	capacity := capacities[disk]
	grains := capacity / GrainSize
	if grains == 0 {
		return disk, 0, 0
	}
	h = splitmix(h)
	g := int64(h % uint64(grains))
	n := int64(1 + (h>>32)%16)
	if g+n > grains {
		n = grains - g
	}
	return disk, g * GrainSize, n * GrainSize
}
