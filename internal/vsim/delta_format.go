package vsim

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// Snapshot deltas in the formats ESXi writes them, so that a tool reading
// a delta file over /folder (or qemu-img on the datastore's files) reads
// what it would read on ESXi:
//
//   - VMFSSPARSE ("-delta.vmdk", createType "vmfsSparse"): on VMFS 5 and
//     NFS, disks under 2 TB. A "COWD" sparse extent: a 2048-byte header
//     (magic "COWD", version 1, flags 3, capacity in sectors, grain size 1
//     sector, grain directory at sector 4, its entry count, the next free
//     sector; the rest zero), the grain directory (32-bit sector offsets
//     of grain tables), then grain tables (4096 32-bit sector offsets
//     each) and grains appended as they are first written. The simulator
//     writes 1-sector grains (qemu reads any grain size); 32-bit sector
//     numbers are the format's 2 TB limit.
//   - SESPARSE ("-sesparse.vmdk", createType "seSparse"): on VMFS 6, and
//     for disks of 2 TB or more. A const header (magic 0xcafebabe, version
//     2.1, grain size 8 sectors, grain tables of 64 sectors = 4096 64-bit
//     entries), a volatile header (magic 0xcafecafe, no journal to
//     replay), the grain directory (entry 0x1000000000000000 | table
//     number), the grain tables region, the free bitmap and back map
//     regions (left zero), and the grains region; an allocated grain's
//     entry is 0x3 in the top nibble, the low 12 bits of its cluster index
//     in bits 48..59 and the rest in bits 0..47.
//
// Both as qemu's block/vmdk.c reads them (vmdk_open_vmfs_sparse,
// vmdk_open_se_sparse, get_cluster_offset); the choice of format is
// VMware's (vSphere Storage documentation, "Snapshot Formats",
// GUID-88E5A594-DEBC-4662-812F-EA421591C70F: "SEsparse is a default format
// for all delta disks on the VMFS6 datastores. On VMFS5, SEsparse is used
// for virtual disks of the size 2 TB and larger"). The
// descriptor of a delta names its parent (parentFileNameHint) and the
// parent's CID (parentCID), which qemu checks. A VM's guest writes whole
// 4 KiB grains; the simulator keeps a map of the grains each delta holds
// to serve reads without walking the tables.

type deltaFormat int

const (
	formatFlat deltaFormat = iota
	formatVMFSSparse
	formatSESparse
)

// twoTB is where VMFSSPARSE's 32-bit sector numbers end.
const twoTB = 2 << 40

// deltaFormatFor is the format of a new delta of a disk of capacity bytes
// on a datastore of kind k.
func deltaFormatFor(k dsKind, capacity int64) deltaFormat {
	if capacity >= twoTB || (k.summaryType == "VMFS" && k.vmfsMajor >= 6) || k.isObjectStore() {
		return formatSESparse
	}
	return formatVMFSSparse
}

func (f deltaFormat) suffix() string {
	if f == formatSESparse {
		return "-sesparse.vmdk"
	}
	return "-delta.vmdk"
}

const (
	cowdGTEntries   = 4096 // per grain table
	cowdGDOffset    = 4    // sectors
	seGTEntries     = 4096
	seGTSectors     = 64
	seGrainSectors  = 8
	sectorSize      = 512
	grainSectors    = GrainSize / sectorSize
	seConstMagic    = 0xcafebabe
	seVolatileMagic = 0xcafecafe
)

// sparse is the on-disk state of a delta in a real format.
type sparse struct {
	format  deltaFormat
	sectors int64           // capacity in sectors
	goff    map[int64]int64 // grain (4 KiB) -> byte offset of its data
	gtOff   map[int64]int64 // grain table index -> byte offset of the table
	next    int64           // VMFSSPARSE: next free sector; SESPARSE: next cluster
	ngt     int64           // SESPARSE: grain tables allocated
	// SESPARSE regions, in sectors
	gdOff, gtsOff, grainsOff int64
}

func le32(p []byte, v uint32) { binary.LittleEndian.PutUint32(p, v) }
func le64(p []byte, v uint64) { binary.LittleEndian.PutUint64(p, v) }

// newSparse writes the header of an empty delta of capacity bytes to f.
func newSparse(f *os.File, format deltaFormat, capacity int64) (*sparse, error) {
	sp := &sparse{format: format, sectors: capacity / sectorSize, goff: map[int64]int64{}, gtOff: map[int64]int64{}}
	switch format {
	case formatVMFSSparse:
		if sp.sectors >= 1<<32 {
			return nil, fmt.Errorf("VMFSSPARSE cannot hold a disk of %d bytes (2 TB at most)", capacity)
		}
		nGD := (sp.sectors + cowdGTEntries - 1) / cowdGTEntries
		gdSectors := (nGD*4 + sectorSize - 1) / sectorSize
		sp.next = cowdGDOffset + gdSectors
		h := make([]byte, cowdGDOffset*sectorSize)
		copy(h, "COWD")
		le32(h[4:], 1)
		le32(h[8:], 3)
		le32(h[12:], uint32(sp.sectors))
		le32(h[16:], 1)
		le32(h[20:], cowdGDOffset)
		le32(h[24:], uint32(nGD))
		le32(h[28:], uint32(sp.next))
		if _, err := f.WriteAt(h, 0); err != nil {
			return nil, err
		}
		if err := f.Truncate(sp.next * sectorSize); err != nil {
			return nil, err
		}
	case formatSESparse:
		grains := (sp.sectors + seGrainSectors - 1) / seGrainSectors
		nGT := (grains + seGTEntries - 1) / seGTEntries
		roundSectors := func(bytes int64) int64 { return max(1, (bytes+sectorSize-1)/sectorSize) }
		sp.gdOff = 4
		gdSize := roundSectors(nGT * 8)
		sp.gtsOff = sp.gdOff + gdSize
		gtsSize := nGT * seGTSectors
		bitmapOff := sp.gtsOff + gtsSize
		bitmapSize := roundSectors((nGT + 7) / 8)
		backmapOff := bitmapOff + bitmapSize
		backmapSize := roundSectors(grains * 8)
		sp.grainsOff = (backmapOff + backmapSize + seGrainSectors - 1) / seGrainSectors * seGrainSectors
		h := make([]byte, 2*sectorSize)
		for i, v := range []uint64{
			seConstMagic, 0x0000000200000001, uint64(sp.sectors), seGrainSectors, seGTSectors, 0, 0, 0, 0, 0,
			1, 1, // volatile header
			2, 1, // journal header
			3, 1, // journal
			uint64(sp.gdOff), uint64(gdSize),
			uint64(sp.gtsOff), uint64(gtsSize),
			uint64(bitmapOff), uint64(bitmapSize),
			uint64(backmapOff), uint64(backmapSize),
			uint64(sp.grainsOff), uint64(grains * seGrainSectors),
		} {
			le64(h[i*8:], v)
		}
		le64(h[sectorSize:], seVolatileMagic)
		if _, err := f.WriteAt(h, 0); err != nil {
			return nil, err
		}
		if err := f.Truncate(sp.grainsOff * sectorSize); err != nil { // the regions are holes until written
			return nil, err
		}
	default:
		return nil, fmt.Errorf("not a sparse delta format: %d", format)
	}
	return sp, nil
}

// putGrain writes grain g (p holds GrainSize bytes), allocating it in the
// file on its first write.
func (sp *sparse) putGrain(f *os.File, g int64, p []byte) error {
	if off, ok := sp.goff[g]; ok {
		_, err := f.WriteAt(p, off)
		return err
	}
	switch sp.format {
	case formatVMFSSparse:
		sector := g * grainSectors
		gt := sector / cowdGTEntries
		gtOff, ok := sp.gtOff[gt]
		if !ok {
			gtOff = sp.next * sectorSize
			if _, err := f.WriteAt(make([]byte, cowdGTEntries*4), gtOff); err != nil {
				return err
			}
			var e [4]byte
			le32(e[:], uint32(sp.next))
			if _, err := f.WriteAt(e[:], cowdGDOffset*sectorSize+gt*4); err != nil {
				return err
			}
			sp.next += cowdGTEntries * 4 / sectorSize
			sp.gtOff[gt] = gtOff
		}
		data := sp.next
		if _, err := f.WriteAt(p, data*sectorSize); err != nil {
			return err
		}
		entries := make([]byte, grainSectors*4)
		for i := range grainSectors {
			le32(entries[i*4:], uint32(data+int64(i)))
		}
		if _, err := f.WriteAt(entries, gtOff+(sector%cowdGTEntries)*4); err != nil {
			return err
		}
		sp.next += grainSectors
		var fs [4]byte
		le32(fs[:], uint32(sp.next))
		if _, err := f.WriteAt(fs[:], 28); err != nil { // freeSector
			return err
		}
		sp.goff[g] = data * sectorSize
	case formatSESparse:
		gt := g / seGTEntries
		gtOff, ok := sp.gtOff[gt]
		if !ok {
			n := sp.ngt
			sp.ngt++
			gtOff = (sp.gtsOff + n*seGTSectors) * sectorSize
			var e [8]byte
			le64(e[:], 0x1000000000000000|uint64(n))
			if _, err := f.WriteAt(e[:], sp.gdOff*sectorSize+gt*8); err != nil {
				return err
			}
			le64(e[:], uint64(sp.ngt)) // volatile header: free_gt_number
			if _, err := f.WriteAt(e[:], sectorSize+8); err != nil {
				return err
			}
			sp.gtOff[gt] = gtOff
		}
		c := sp.next
		data := (sp.grainsOff + c*seGrainSectors) * sectorSize
		if _, err := f.WriteAt(p, data); err != nil {
			return err
		}
		var e [8]byte
		le64(e[:], 0x3000000000000000|uint64(c&0xfff)<<48|uint64(c>>12))
		if _, err := f.WriteAt(e[:], gtOff+(g%seGTEntries)*8); err != nil {
			return err
		}
		sp.next++
		sp.goff[g] = data
	}
	return nil
}

// readGrains reads len(p) bytes at byte off of the disk from grains this
// delta holds (the caller checked that it holds every grain of the span).
func (sp *sparse) readAt(f *os.File, p []byte, off int64) error {
	for len(p) > 0 {
		g := off / GrainSize
		in := off % GrainSize
		n := int(min(int64(len(p)), GrainSize-in))
		// extend while the next grains follow in the file
		start := sp.goff[g] + in
		for n < len(p) {
			ng := g + int64(n+int(in))/GrainSize
			o, ok := sp.goff[ng]
			if !ok || o != start+int64(n) {
				break
			}
			n += int(min(int64(len(p)-n), GrainSize))
		}
		if _, err := f.ReadAt(p[:n], start); err != nil && err != io.EOF {
			return err
		}
		p = p[n:]
		off += int64(n)
	}
	return nil
}

// openSparse reads the tables of an existing delta file (one a VM's
// registered .vmx leads to): where each 4 KiB grain it holds lies. It
// reads the files this simulator writes; a VMFSSPARSE file whose grains
// are not whole 4 KiB runs is refused.
func openSparse(f *os.File, capacity int64) (*sparse, error) {
	var h [sectorSize]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return nil, fmt.Errorf("read the delta's header: %w", err)
	}
	le := binary.LittleEndian
	sp := &sparse{sectors: capacity / sectorSize, goff: map[int64]int64{}, gtOff: map[int64]int64{}}
	switch {
	case string(h[:4]) == "COWD":
		sp.format = formatVMFSSparse
		if gs := le.Uint32(h[16:]); gs != 1 {
			return nil, fmt.Errorf("VMFSSPARSE grain of %d sectors: only 1 is read", gs)
		}
		gdOff, nGD := int64(le.Uint32(h[20:])), int64(le.Uint32(h[24:]))
		sp.next = int64(le.Uint32(h[28:]))
		gd := make([]byte, nGD*4)
		if _, err := f.ReadAt(gd, gdOff*sectorSize); err != nil {
			return nil, fmt.Errorf("read the grain directory: %w", err)
		}
		gt := make([]byte, cowdGTEntries*4)
		for t := int64(0); t < nGD; t++ {
			at := int64(le.Uint32(gd[t*4:]))
			if at == 0 {
				continue
			}
			sp.gtOff[t] = at * sectorSize
			if _, err := f.ReadAt(gt, at*sectorSize); err != nil {
				return nil, fmt.Errorf("read grain table %d: %w", t, err)
			}
			for j := int64(0); j < cowdGTEntries; j += grainSectors {
				first := int64(le.Uint32(gt[j*4:]))
				if first == 0 {
					continue
				}
				for k := int64(1); k < grainSectors; k++ {
					if int64(le.Uint32(gt[(j+k)*4:])) != first+k {
						return nil, fmt.Errorf("VMFSSPARSE sector %d is not part of a whole 4 KiB grain", t*cowdGTEntries+j+k)
					}
				}
				sp.goff[(t*cowdGTEntries+j)/grainSectors] = first * sectorSize
			}
		}
	case le.Uint64(h[0:]) == seConstMagic:
		sp.format = formatSESparse
		sp.gdOff, sp.gtsOff, sp.grainsOff = int64(le.Uint64(h[16*8:])), int64(le.Uint64(h[18*8:])), int64(le.Uint64(h[24*8:]))
		gdSize := int64(le.Uint64(h[17*8:]))
		gd := make([]byte, gdSize*sectorSize)
		if _, err := f.ReadAt(gd, sp.gdOff*sectorSize); err != nil {
			return nil, fmt.Errorf("read the grain directory: %w", err)
		}
		gt := make([]byte, seGTEntries*8)
		for t := int64(0); t < int64(len(gd))/8; t++ {
			e := le.Uint64(gd[t*8:])
			if e == 0 {
				continue
			}
			if e>>60 != 1 {
				return nil, fmt.Errorf("SESPARSE grain directory entry %d is %#x", t, e)
			}
			n := int64(e & 0xffffffff)
			sp.ngt = max(sp.ngt, n+1)
			sp.gtOff[t] = (sp.gtsOff + n*seGTSectors) * sectorSize
			if _, err := f.ReadAt(gt, sp.gtOff[t]); err != nil {
				return nil, fmt.Errorf("read grain table %d: %w", t, err)
			}
			for j := int64(0); j < seGTEntries; j++ {
				g := le.Uint64(gt[j*8:])
				switch g >> 60 {
				case 0:
					continue
				case 3:
					c := int64((g&0x0fff000000000000)>>48 | (g&0x0000ffffffffffff)<<12)
					sp.goff[t*seGTEntries+j] = (sp.grainsOff + c*seGrainSectors) * sectorSize
					sp.next = max(sp.next, c+1)
				default:
					return nil, fmt.Errorf("SESPARSE grain entry %#x (unmapped or zeroed grains are not read)", g)
				}
			}
		}
	default:
		return nil, fmt.Errorf("not a VMFSSPARSE or SESPARSE delta (magic %q)", h[:4])
	}
	return sp, nil
}
