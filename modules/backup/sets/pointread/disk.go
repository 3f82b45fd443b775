package pointread

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vmlua/vmlua/internal/pcomp"
	"github.com/vmlua/vmlua/internal/spansum"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/transports"
)

// DefaultCache is the memory a Disk keeps verified stored spans and
// decoded frames in, when Options.CacheBytes is 0.
const DefaultCache = 64 << 20

// Options tune a Disk.
type Options struct {
	// CacheBytes bounds the memory of the verified spans and decoded
	// frames kept for later reads (default DefaultCache; at least two
	// spans' and two frames' worth are kept whatever it says).
	CacheBytes int64
	// Cache, when set, is shared with other Disks (the bound is then the
	// Cache's): CacheBytes is ignored.
	Cache *Cache
}

// Disk is one disk of a restore point, read at random: the flat image of
// the disk at that point, the chain of its layers applied on the fly. It
// is safe for concurrent use. Close it when done.
type Disk struct {
	// ID is the disk's id in the catalog ("scsi0:1"); Set the point's set.
	ID, Set string
	// Catalog is the disk's entry in the point's catalog.
	Catalog catalog.Disk
	size    int64
	layers  []*layer // the full first
	t       transports.Transport
	cache   *Cache
	ctx     context.Context
	cancel  context.CancelFunc
	stats   Stats
	// prefetching: frames being read ahead, by key
	mu          sync.Mutex
	prefetching map[key]bool
}

// Stats describe what opening a Disk cost.
type Stats struct {
	Layers      int           // layers of the chain (1 for a full)
	StoredBytes int64         // stored bytes read and checked
	Records     int           // records indexed
	Frames      int           // compressed frames indexed
	Took        time.Duration // wall time of the index
}

// Open opens disk id of the point whose catalog is cat (a complete set:
// a full, or any incremental, whose chain is read from t). It reads every
// layer of the chain once (Stats says what it cost), in parallel, to index
// where every byte of the image lies, checking every stored span against
// the catalog and every stream against its content digest as backup.verify
// does. A damaged layer does not fail Open: its damaged part, and what
// depends on it, reads as a *ReadError. ctx bounds Open and the Disk's
// reads until Close.
func Open(ctx context.Context, t transports.Transport, cat *catalog.Catalog, id string, o Options) (*Disk, error) {
	t0 := time.Now()
	chain := []*catalog.Catalog{cat}
	if cat.Incremental() {
		var err error
		if chain, err = sets.ChainOf(ctx, t, cat); err != nil {
			return nil, err
		}
	}
	ls, err := sets.LayersOf(chain, id)
	if err != nil {
		return nil, fmt.Errorf("set %s: %w", cat.ID, err)
	}
	d := &Disk{ID: id, Set: cat.ID, Catalog: ls[len(ls)-1].Disk, size: ls[len(ls)-1].Disk.Capacity, t: t, cache: o.Cache, prefetching: map[key]bool{}}
	if d.cache == nil {
		d.cache = NewCache(o.CacheBytes)
	}
	d.layers = make([]*layer, len(ls))
	errs := make([]error, len(ls))
	var wg sync.WaitGroup
	for i, sl := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.layers[i], errs[i] = indexLayer(ctx, t, sl)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("disk %s of %s: %w", id, cat.ID, err)
	}
	d.stats = Stats{Layers: len(ls), Took: time.Since(t0)}
	for _, l := range d.layers {
		d.stats.StoredBytes += l.size
		d.stats.Records += len(l.recs)
		d.stats.Frames += len(l.frames)
	}
	d.ctx, d.cancel = context.WithCancel(ctx)
	return d, nil
}

// Size is the image's size in bytes (the disk's capacity).
func (d *Disk) Size() int64 { return d.size }

// Stats says what Open read.
func (d *Disk) Stats() Stats { return d.stats }

// Damage describes the damaged layers Open found ("" when every layer is
// sound): reads of what depends on them fail.
func (d *Disk) Damage() string {
	var s string
	for _, l := range d.layers {
		if l.damage != "" {
			if s != "" {
				s += "; "
			}
			s += fmt.Sprintf("%s: %s (image bytes from %d on cannot be read from it)", l.path(), l.damage, l.known)
		}
	}
	return s
}

// Close ends the Disk's reads and read-ahead.
func (d *Disk) Close() error {
	d.cancel()
	return nil
}

// ReadError is a read of a restore point that failed: the image offset it
// concerns and why (a damaged layer, a stored span that no longer matches
// the catalog, the target's error). Never are wrong bytes returned instead.
type ReadError struct {
	Disk   string // disk id
	Set    string // the point's set
	Offset int64  // image byte
	Err    error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("disk %s of %s, image byte %d: %v", e.Disk, e.Set, e.Offset, e.Err)
}

func (e *ReadError) Unwrap() error { return e.Err }

// ErrDamaged is wrapped by the ReadErrors of a damaged layer or span
// (the target's own errors are wrapped as they are).
var ErrDamaged = errors.New("the backup set is damaged")

// piece is where the image bytes at an offset come from: the layer and
// its record, up to end.
type piece struct {
	layer *layer
	rec   int
	end   int64
}

// resolve finds the layer that gives image byte off: the topmost whose
// record there does not leave it to the layer below; the piece ends
// where any record on the way ends.
func (d *Disk) resolve(off int64) (piece, error) {
	end := d.size
	for i := len(d.layers) - 1; i >= 0; i-- {
		l := d.layers[i]
		if off >= l.known {
			return piece{}, fmt.Errorf("%w: %s: %s", ErrDamaged, l.path(), l.damage)
		}
		k := l.find(off)
		r := l.recs[k]
		end = min(end, r.End())
		if r.Kind != 'U' {
			return piece{l, k, end}, nil
		}
	}
	return piece{}, fmt.Errorf("%w: the chain's bottom layer leaves byte %d unchanged", ErrDamaged, off)
}

// ReadAt reads the image at off (io.ReaderAt): every byte from a span
// checked against the catalog; a failure is a *ReadError naming the
// offset.
func (d *Disk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, &ReadError{d.ID, d.Set, off, errors.New("negative offset")}
	}
	if off >= d.size {
		return 0, io.EOF
	}
	var eof error
	if rem := d.size - off; int64(len(p)) > rem {
		p, eof = p[:rem], io.EOF
	}
	n := 0
	for n < len(p) {
		at := off + int64(n)
		pc, err := d.resolve(at)
		if err != nil {
			return n, &ReadError{d.ID, d.Set, at, err}
		}
		m := int(min(int64(len(p)-n), pc.end-at))
		r := pc.layer.recs[pc.rec]
		switch r.Kind {
		case 'Z':
			clear(p[n : n+m])
		case 'D':
			if err := d.readStream(pc.layer, r.Data+(at-r.Offset), p[n:n+m]); err != nil {
				return n, &ReadError{d.ID, d.Set, at, err}
			}
		}
		n += m
	}
	return n, eof
}

// Extent is a range of the image and whether it reads as zeros (a zero
// or unallocated area of the disk at that point).
type Extent struct {
	Offset, Len int64
	Zero        bool
}

// Map returns the extents of the image in [off, off+length), neighbours
// of one kind merged, without reading any data. A damaged part is a
// *ReadError.
func (d *Disk) Map(off, length int64) ([]Extent, error) {
	end := min(off+length, d.size)
	var out []Extent
	for at := off; at < end; {
		pc, err := d.resolve(at)
		if err != nil {
			return out, &ReadError{d.ID, d.Set, at, err}
		}
		e := Extent{Offset: at, Len: min(pc.end, end) - at, Zero: pc.layer.recs[pc.rec].Kind == 'Z'}
		if n := len(out); n > 0 && out[n-1].Zero == e.Zero {
			out[n-1].Len += e.Len
		} else {
			out = append(out, e)
		}
		at += e.Len
	}
	return out, nil
}

// readStream copies the decoded stream bytes of l at s into p.
func (d *Disk) readStream(l *layer, s int64, p []byte) error {
	for len(p) > 0 {
		fi := l.frameAt(s)
		if fi >= len(l.frames) {
			return fmt.Errorf("%w: %s: stream byte %d lies past its last frame", ErrDamaged, l.path(), s)
		}
		b, err := d.frame(l, fi)
		if err != nil {
			return err
		}
		f := l.frames[fi]
		k := copy(p, b[s-f.Decoded:])
		p, s = p[k:], s+int64(k)
		d.readAhead(l, fi)
	}
	return nil
}

// key names a cached span or frame.
type key struct {
	l     *layer
	frame bool
	i     int
}

// frame returns the decoded bytes of frame fi of l.
func (d *Disk) frame(l *layer, fi int) ([]byte, error) {
	f := l.frames[fi]
	if l.algo == pcomp.None || l.algo == "" {
		// stored bytes are the stream: a frame is a slice of one span
		// (frames and spans are both 4 MiB from 0)
		si := int(f.Stored / spansum.Size)
		b, err := d.span(l, si)
		if err != nil {
			return nil, err
		}
		lo := f.Stored - int64(si)*spansum.Size
		if lo+f.StoredLen > int64(len(b)) {
			return nil, fmt.Errorf("%w: %s: a frame crosses a span", ErrDamaged, l.path())
		}
		return b[lo : lo+f.StoredLen], nil
	}
	return d.cache.get(d.ctx, key{l, true, fi}, func() ([]byte, error) {
		stored, err := d.storedRange(l, f.Stored, f.StoredLen)
		if err != nil {
			return nil, err
		}
		out, err := pcomp.DecodeFrame(l.algo, stored, make([]byte, 0, f.DecodedLen))
		if err != nil || int64(len(out)) != f.DecodedLen {
			return nil, fmt.Errorf("%w: %s: the frame at stored byte %d decodes to %d bytes, not %d (%v)", ErrDamaged, l.path(), f.Stored, len(out), f.DecodedLen, err)
		}
		return out, nil
	})
}

// storedRange returns the stored bytes [off, off+n) of l, from verified
// spans.
func (d *Disk) storedRange(l *layer, off, n int64) ([]byte, error) {
	first, last := int(off/spansum.Size), int((off+n-1)/spansum.Size)
	if first == last {
		b, err := d.span(l, first)
		if err != nil {
			return nil, err
		}
		lo := off - int64(first)*spansum.Size
		if lo+n > int64(len(b)) {
			return nil, fmt.Errorf("%w: %s: stored bytes %d to %d lie past its end", ErrDamaged, l.path(), off, off+n-1)
		}
		return b[lo : lo+n], nil
	}
	out := make([]byte, 0, n)
	for si := first; si <= last; si++ {
		b, err := d.span(l, si)
		if err != nil {
			return nil, err
		}
		base := int64(si) * spansum.Size
		lo, hi := max(off, base)-base, min(off+n, base+int64(len(b)))-base
		if lo > hi {
			return nil, fmt.Errorf("%w: %s: stored bytes %d to %d lie past its end", ErrDamaged, l.path(), off, off+n-1)
		}
		out = append(out, b[lo:hi]...)
	}
	if int64(len(out)) != n {
		return nil, fmt.Errorf("%w: %s: stored bytes %d to %d lie past its end", ErrDamaged, l.path(), off, off+n-1)
	}
	return out, nil
}

// span returns stored span si of l, read from the target and checked
// against its digest.
func (d *Disk) span(l *layer, si int) ([]byte, error) {
	return d.cache.get(d.ctx, key{l, false, si}, func() ([]byte, error) {
		if si >= len(l.ref) {
			return nil, fmt.Errorf("%w: %s has no span %d", ErrDamaged, l.path(), si)
		}
		off := int64(si) * spansum.Size
		n := min(spansum.Size, l.size-off)
		rc, err := d.t.Open(d.ctx, l.path(), off)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.path(), err)
		}
		defer rc.Close()
		b := make([]byte, n)
		if _, err := io.ReadFull(rc, b); err != nil {
			return nil, fmt.Errorf("%s: reading stored bytes %d to %d: %w", l.path(), off, off+n-1, err)
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != l.ref[si] {
			return nil, fmt.Errorf("%w: %s: stored span %d (bytes %d to %d) no longer matches the catalog (changed since it was opened?): run vmlua verify", ErrDamaged, l.path(), si, off, off+n-1)
		}
		return b, nil
	})
}

// readAhead decodes the frame after fi in the background when the read
// is sequential (fi-1 was decoded too) and it is not cached yet, so that
// a sequential reader finds it decoded.
func (d *Disk) readAhead(l *layer, fi int) {
	next := fi + 1
	if next >= len(l.frames) || l.algo == pcomp.None || l.algo == "" {
		return
	}
	k := key{l, true, next}
	if fi > 0 && !d.cache.has(key{l, true, fi - 1}) || d.cache.has(k) {
		return
	}
	d.mu.Lock()
	busy := d.prefetching[k] || len(d.prefetching) >= 2
	if !busy {
		d.prefetching[k] = true
	}
	d.mu.Unlock()
	if busy {
		return
	}
	go func() {
		d.frame(l, next) // an error is reported to the read that needs it
		d.mu.Lock()
		delete(d.prefetching, k)
		d.mu.Unlock()
	}()
}
