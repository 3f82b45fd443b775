package vsim

import (
	"fmt"
	"io"
	"math/bits"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
)

// layer is one file of a disk chain: the flat base (bits == nil) or a REDO
// log / snapshot delta. A delta's data file is in the format ESXi writes
// (VMFSSPARSE or SESPARSE, delta_format.go); the bitmap of the grains it
// holds and where each lies in the file are kept in memory. The logical
// content of a delta is its parent's content overlaid with its grains.
type layer struct {
	dsPath   string // "[LocalDS_0] vm/vm-000001.vmdk": the descriptor, as in backings
	descFile string // local path of the descriptor
	dataFile string // local path of the flat or delta data
	f        *os.File
	bits     []uint64
	sp       *sparse // a delta's format and grain map
	cid      uint32
}

// readAt reads the layer's own bytes at off of the disk (flat: the file at
// off; delta: grains it holds, which the caller checked).
func (l *layer) readAt(p []byte, off int64) (int, error) {
	if l.sp != nil {
		if err := l.sp.readAt(l.f, p, off); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return l.f.ReadAt(p, off)
}

// writeAt writes p at off of the disk into the layer; a delta takes whole
// grains only, as a guest writes them.
func (l *layer) writeAt(p []byte, off int64) error {
	if l.sp == nil {
		_, err := l.f.WriteAt(p, off)
		return err
	}
	if off%GrainSize != 0 || len(p)%GrainSize != 0 {
		return fmt.Errorf("%s: a write of %d bytes at %d is not whole grains of %d bytes", l.dsPath, len(p), off, GrainSize)
	}
	for i := 0; i < len(p); i += GrainSize {
		if err := l.sp.putGrain(l.f, (off+int64(i))/GrainSize, p[i:i+GrainSize]); err != nil {
			return err
		}
	}
	return nil
}

func (l *layer) has(g int64) bool { return l.bits != nil && l.bits[g/64]&(1<<(g%64)) != 0 }
func (l *layer) set(g int64)      { l.bits[g/64] |= 1 << (g % 64) }

// disk is one virtual disk of a VM and its chain of layers, base first.
// All methods must be called with the owning VM's mu held.
type disk struct {
	id          string // "scsi0:1"
	key         int32
	capacity    int64
	seed        uint64
	independent bool
	mode        string
	dsName      string
	uuid        string
	adapter     string
	kind        dsKind // of its datastore (datastore_types.go)
	layers      []*layer
}

func (d *disk) top() *layer { return d.layers[len(d.layers)-1] }

func (d *disk) grains() int64 { return (d.capacity + GrainSize - 1) / GrainSize }

// write stores p at off in the top of the chain.
func (d *disk) write(off int64, p []byte) error {
	t := d.top()
	if err := t.writeAt(p, off); err != nil {
		return err
	}
	if t.bits != nil {
		for g := off / GrainSize; g*GrainSize < off+int64(len(p)); g++ {
			t.set(g)
		}
	}
	return nil
}

// source returns the index of the layer (<= level) that holds grain g.
func (d *disk) source(level int, g int64) int {
	for i := level; i > 0; i-- {
		if d.layers[i].has(g) {
			return i
		}
	}
	return 0
}

// readAt reads the logical content of the chain up to layers[level].
func (d *disk) readAt(level int, p []byte, off int64) (int, error) {
	if off >= d.capacity {
		return 0, io.EOF
	}
	var err error
	if rem := d.capacity - off; int64(len(p)) > rem {
		p = p[:rem]
		err = io.EOF
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		g := pos / GrainSize
		src := d.source(level, g)
		// extend the run while the same layer holds the following grains
		end := (g + 1) * GrainSize
		for end < pos+int64(len(p)-n) && d.source(level, end/GrainSize) == src {
			end += GrainSize
		}
		m := int(min(end-pos, int64(len(p)-n)))
		if _, rerr := d.layers[src].readAt(p[n:n+m], pos); rerr != nil && rerr != io.EOF {
			return n, rerr
		} else if rerr == io.EOF {
			// a base shorter than the disk reads as zeros past its end
			fi, _ := d.layers[src].f.Stat()
			if fi != nil && fi.Size() < pos+int64(m) {
				k := max(fi.Size()-pos, 0)
				clear(p[n+int(k) : n+m])
			}
		}
		n += m
	}
	return n, err
}

// allocated returns the grain-aligned areas that hold data in the chain up to
// level: the base's allocated blocks (by SEEK_DATA where possible) plus every
// delta grain.
func (d *disk) deltaGrains(level int) []int64 {
	var gs []int64
	for g := int64(0); g < d.grains(); g++ {
		for i := 1; i <= level; i++ {
			if d.layers[i].has(g) {
				gs = append(gs, g)
				break
			}
		}
	}
	return gs
}

// mergeCopy copies the grains of layers[k] into layers[k-1]; drop(k) then
// removes layers[k]. midway, if not nil, is called once half the grains are
// copied; an error it returns stops the copy, leaving the logical content of
// layers[k] (and above) intact; only level k-1 is half-updated.
func (d *disk) mergeCopy(k int, midway func() error) error {
	if k <= 0 || k >= len(d.layers) {
		return fmt.Errorf("disk %s: no layer %d to merge", d.id, k)
	}
	src, dst := d.layers[k], d.layers[k-1]
	var total int
	for _, w := range src.bits {
		total += bits.OnesCount64(w)
	}
	buf := make([]byte, 256*GrainSize)
	done := 0
	calledMidway := midway == nil
	n := d.grains()
	for g := int64(0); g < n; {
		if !src.has(g) {
			g++
			continue
		}
		e := g + 1
		for e < n && src.has(e) && e-g < int64(len(buf)/GrainSize) {
			e++
		}
		p := buf[:(e-g)*GrainSize]
		if _, err := src.readAt(p, g*GrainSize); err != nil && err != io.EOF {
			return err
		}
		if err := dst.writeAt(p, g*GrainSize); err != nil {
			return err
		}
		if dst.bits != nil {
			for x := g; x < e; x++ {
				dst.set(x)
			}
		}
		done += int(e - g)
		g = e
		if !calledMidway && done*2 >= total {
			calledMidway = true
			if err := midway(); err != nil {
				return err
			}
		}
	}
	if !calledMidway {
		if err := midway(); err != nil {
			return err
		}
	}
	return dst.f.Sync()
}

// drop removes layers[k] (after mergeCopy(k)) and its files; what sat above
// it is re-parented onto layers[k-1].
func (d *disk) drop(k int) {
	src := d.layers[k]
	src.f.Close()
	os.Remove(src.dataFile)
	os.Remove(src.descFile)
	d.layers = append(d.layers[:k], d.layers[k+1:]...)
	if k < len(d.layers) {
		d.writeDescriptor(k)
	}
}

// addDelta freezes the top of the chain and adds a new delta above it, in
// the same directory as the base, named like ESX does: base-00000N.vmdk and
// base-00000N-delta.vmdk.
func (d *disk) addDelta(localDir string) error {
	base := d.layers[0]
	stem := strings.TrimSuffix(path.Base(dsPathPath(base.dsPath)), ".vmdk")
	dsDir := path.Dir(dsPathPath(base.dsPath))
	format := deltaFormatFor(d.kind, d.capacity)
	for i := 1; ; i++ {
		name := fmt.Sprintf("%s-%06d.vmdk", stem, i)
		local := filepath.Join(localDir, filepath.FromSlash(dsDir), name)
		if _, err := os.Stat(local); err == nil {
			continue
		}
		l := &layer{
			dsPath:   fmt.Sprintf("[%s] %s", d.dsName, path.Join(dsDir, name)),
			descFile: local,
			dataFile: strings.TrimSuffix(local, ".vmdk") + format.suffix(),
			bits:     make([]uint64, (d.grains()+63)/64),
			cid:      uint32(splitmix(d.seed+uint64(len(d.layers))) >> 32),
		}
		f, err := os.OpenFile(l.dataFile, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		if l.sp, err = newSparse(f, format, d.capacity); err != nil {
			f.Close()
			os.Remove(l.dataFile)
			return err
		}
		l.f = f
		d.layers = append(d.layers, l)
		return d.writeDescriptor(len(d.layers) - 1)
	}
}

// writeDescriptor writes the VMDK text descriptor of layers[i].
func (d *disk) writeDescriptor(i int) error {
	l := d.layers[i]
	sectors := d.capacity / 512
	var b strings.Builder
	b.WriteString("# Disk DescriptorFile\nversion=1\nencoding=\"UTF-8\"\n")
	fmt.Fprintf(&b, "CID=%08x\n", l.cid)
	if i == 0 {
		b.WriteString("parentCID=ffffffff\ncreateType=\"vmfs\"\n\n# Extent description\n")
		extent := filepath.Base(l.dataFile)
		if d.kind.isObjectStore() {
			extent = objectURI(d.kind, d.dsName, extent)
		}
		fmt.Fprintf(&b, "RW %d VMFS %q\n", sectors, extent)
	} else {
		p := d.layers[i-1]
		createType, extentType, extent := "vmfsSparse", "VMFSSPARSE", filepath.Base(l.dataFile)
		if l.sp != nil && l.sp.format == formatSESparse {
			createType, extentType = "seSparse", "SESPARSE"
		}
		switch d.kind.summaryType {
		case "vsan": // vsanSparse objects (datastore_types.go)
			createType, extentType, extent = "vsanSparse", "VSANSPARSE", objectURI(d.kind, d.dsName, extent)
		case "VVOL":
			extent = objectURI(d.kind, d.dsName, extent)
		}
		fmt.Fprintf(&b, "parentCID=%08x\ncreateType=%q\n", p.cid, createType)
		parent := path.Base(dsPathPath(p.dsPath))
		if path.Dir(dsPathPath(p.dsPath)) != path.Dir(dsPathPath(l.dsPath)) || dsPathName(p.dsPath) != dsPathName(l.dsPath) {
			parent = p.dsPath
		}
		fmt.Fprintf(&b, "parentFileNameHint=%q\n\n# Extent description\n", parent)
		fmt.Fprintf(&b, "RW %d %s %q\n", sectors, extentType, extent)
	}
	b.WriteString("\n# The Disk Data Base\n#DDB\n\n")
	fmt.Fprintf(&b, "ddb.adapterType = %q\n", d.adapter)
	fmt.Fprintf(&b, "ddb.uuid = %q\n", d.uuid)
	b.WriteString("ddb.virtualHWVersion = \"13\"\n")
	return os.WriteFile(l.descFile, []byte(b.String()), 0o644)
}

func (d *disk) close() {
	for _, l := range d.layers {
		if l.f != nil {
			l.f.Close()
		}
	}
}

// dsPathPath returns the path part of "[ds] path".
func dsPathPath(p string) string {
	if i := strings.Index(p, "]"); i >= 0 {
		return strings.TrimSpace(p[i+1:])
	}
	return p
}

// dsPathName returns the datastore part of "[ds] path".
func dsPathName(p string) string {
	if strings.HasPrefix(p, "[") {
		if i := strings.Index(p, "]"); i >= 0 {
			return p[1:i]
		}
	}
	return ""
}

// chainReader is an io.ReadSeeker (and ReaderAt) over the logical content of
// a disk chain up to a level, taking the VM's lock per read so a guest can
// keep writing (to a higher layer) while it streams. Constant memory.
type chainReader struct {
	mu   *sync.Mutex
	d    *disk
	l    *layer // the layer whose content is read; its level is looked up per read
	off  int64
	size int64
}

func (r *chainReader) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	level := -1
	for i, l := range r.d.layers {
		if l == r.l {
			level = i
		}
	}
	if level < 0 {
		// merged away meanwhile: its content now lives in the layer below,
		// which is what ESX serves after a consolidation too.
		return 0, fmt.Errorf("disk %s: %s was consolidated during the read", r.d.id, r.l.dsPath)
	}
	return r.d.readAt(level, p, off)
}

func (r *chainReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if len(p) > 1<<20 {
		p = p[:1<<20]
	}
	n, err := r.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (r *chainReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	}
	if offset < 0 {
		return 0, fmt.Errorf("negative seek")
	}
	r.off = offset
	return offset, nil
}
