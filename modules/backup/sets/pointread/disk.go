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
	"github.com/vmlua/vmlua/internal/spancrypt"
	"github.com/vmlua/vmlua/internal/spansum"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/transports"
)

// DefaultCache is the memory a Disk keeps verified stored spans and
// decoded frames in, when Options.CacheBytes is 0.
const DefaultCache = 64 << 20

// storedSpans is how many stored spans of compressed layers a Disk keeps
// besides its Cache, for the frames that start in them.
const storedSpans = 4

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
	// stored keeps the last stored spans of compressed layers, which
	// only the decoding of their frames needs (a frame's stored bytes
	// may start in the span the frame before ends in): the cache holds
	// what reads use, the decoded frames (and the spans of uncompressed
	// layers, which are their frames).
	stored  *Cache
	ctx     context.Context
	cancel  context.CancelCauseFunc
	started time.Time
	// prefetching: frames being read ahead, by key
	mu          sync.Mutex
	prefetching map[key]bool
}

// Stats describe what indexing a Disk cost (so far, until Wait
// returned).
type Stats struct {
	Layers      int           // layers of the chain (1 for a full)
	StoredBytes int64         // stored bytes read and checked
	Records     int           // records indexed
	Frames      int           // compressed frames indexed
	Took        time.Duration // wall time of the index (of its slowest layer)
	Done        bool          // every layer is indexed
}

// errClosed ends a Disk's index and reads.
var errClosed = errors.New("the restore point was closed")

// Open opens disk id of the point whose catalog is cat (a complete set:
// a full, or any incremental, whose chain is read from t) and returns at
// once: every layer of the chain is read once, all at once, in the
// background, to index where every byte of the image lies, checking every
// stored span against the catalog and every stream against its content
// digest as backup.verify does (Wait waits for the end, Stats says what
// it cost). A read waits only until the index covers its bytes. A damaged
// layer does not fail Open: its damaged part, and what depends on it,
// reads as a *ReadError. ctx bounds the Disk's index and reads until
// Close.
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
	d := &Disk{ID: id, Set: cat.ID, Catalog: ls[len(ls)-1].Disk, size: ls[len(ls)-1].Disk.Capacity, t: t, cache: o.Cache, prefetching: map[key]bool{}, started: t0}
	if d.cache == nil {
		d.cache = NewCache(o.CacheBytes)
	}
	d.stored = NewCache(storedSpans * spansum.Size)
	d.ctx, d.cancel = context.WithCancelCause(ctx)
	for _, sl := range ls {
		l, err := startIndex(d.ctx, t, sl)
		if err != nil {
			d.cancel(errClosed)
			return nil, fmt.Errorf("disk %s of %s: %w", id, cat.ID, err)
		}
		d.layers = append(d.layers, l)
	}
	return d, nil
}

// Size is the image's size in bytes (the disk's capacity).
func (d *Disk) Size() int64 { return d.size }

// Stats says what the index read so far.
func (d *Disk) Stats() Stats {
	st := Stats{Layers: len(d.layers), Done: true}
	for _, l := range d.layers {
		l.mu.Lock()
		st.StoredBytes += l.size
		st.Records += len(l.recs)
		st.Frames += len(l.frames)
		st.Took = max(st.Took, l.took)
		st.Done = st.Done && l.done
		l.mu.Unlock()
	}
	if !st.Done {
		st.Took = time.Since(d.started)
	}
	return st
}

// Wait waits until every layer is indexed (or ctx ends) and returns
// what it cost.
func (d *Disk) Wait(ctx context.Context) (Stats, error) {
	for _, l := range d.layers {
		if err := l.wait(ctx); err != nil {
			return d.Stats(), err
		}
	}
	return d.Stats(), nil
}

// Damage describes the damaged layers the index found so far ("" when
// none): reads of what depends on them fail.
func (d *Disk) Damage() string {
	var s string
	for _, l := range d.layers {
		l.mu.Lock()
		dmg, known := l.damage, l.known
		l.mu.Unlock()
		if dmg != "" {
			if s != "" {
				s += "; "
			}
			s += fmt.Sprintf("%s: %s (image bytes from %d on cannot be read from it)", l.path(), dmg, known)
		}
	}
	return s
}

// Close ends the Disk's index, reads and read-ahead.
func (d *Disk) Close() error {
	d.cancel(errClosed)
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

// piece is where the image bytes at an offset come from: the layer (as
// seen then) and its record, up to end.
type piece struct {
	v   view
	rec int
	end int64
}

// resolve finds the layer that gives image byte off: the topmost whose
// record there does not leave it to the layer below; the piece ends
// where any record on the way ends. It waits for the index of each layer
// on the way to cover off.
func (d *Disk) resolve(off int64) (piece, error) {
	end := d.size
	for i := len(d.layers) - 1; i >= 0; i-- {
		v, err := d.layers[i].await(d.ctx, off)
		if err != nil {
			return piece{}, err
		}
		if off >= v.known {
			return piece{}, fmt.Errorf("%w: %s: %s", ErrDamaged, v.l.path(), v.damage)
		}
		k := v.find(off)
		r := v.recs[k]
		end = min(end, r.End())
		if r.Kind != 'U' {
			return piece{v, k, end}, nil
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
		r := pc.v.recs[pc.rec]
		switch r.Kind {
		case 'Z':
			clear(p[n : n+m])
		case 'D':
			if err := d.readStream(pc.v, r.Data+(at-r.Offset), p[n:n+m]); err != nil {
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
// *ReadError (after the extents before it). While the index runs, it
// returns the extents it covers, at least one: they may end before
// off+length.
func (d *Disk) Map(off, length int64) ([]Extent, error) {
	end := min(off+length, d.size)
	var out []Extent
	for at := off; at < end; {
		if len(out) > 0 && !d.indexed(at) {
			break // the rest is not indexed yet: what is known now
		}
		pc, err := d.resolve(at)
		if err != nil {
			return out, &ReadError{d.ID, d.Set, at, err}
		}
		e := Extent{Offset: at, Len: min(pc.end, end) - at, Zero: pc.v.recs[pc.rec].Kind == 'Z'}
		if n := len(out); n > 0 && out[n-1].Zero == e.Zero {
			out[n-1].Len += e.Len
		} else {
			out = append(out, e)
		}
		at += e.Len
	}
	return out, nil
}

// indexed reports whether every layer's index covers image byte off
// (or ended) now.
func (d *Disk) indexed(off int64) bool {
	for _, l := range d.layers {
		l.mu.Lock()
		ok := off < l.known || l.done
		l.mu.Unlock()
		if !ok {
			return false
		}
	}
	return true
}

// readStream copies the decoded stream bytes of a layer at s into p.
func (d *Disk) readStream(v view, s int64, p []byte) error {
	for len(p) > 0 {
		fi := v.frameAt(s)
		if fi >= len(v.frames) {
			return fmt.Errorf("%w: %s: stream byte %d lies past its last frame", ErrDamaged, v.l.path(), s)
		}
		b, release, err := d.frame(v, fi)
		if err != nil {
			release()
			return err
		}
		f := v.frames[fi]
		k := copy(p, b[s-f.Decoded:])
		release()
		p, s = p[k:], s+int64(k)
		d.readAhead(v, fi)
	}
	return nil
}

// key names a cached span or frame.
type key struct {
	l     *layer
	frame bool
	i     int
}

// frame returns the decoded bytes of frame fi of a layer, and the
// function to call once done with them.
func (d *Disk) frame(v view, fi int) ([]byte, func(), error) {
	l, f := v.l, v.frames[fi]
	if (l.algo == pcomp.None || l.algo == "") && l.key == nil {
		// stored bytes are the stream: a frame is a slice of one span
		// (frames and spans are both 4 MiB from 0)
		si := int(f.Stored / spansum.Size)
		b, release, err := d.span(v, si)
		if err != nil {
			return nil, release, err
		}
		lo := f.Stored - int64(si)*spansum.Size
		if lo+f.StoredLen > int64(len(b)) {
			return nil, release, fmt.Errorf("%w: %s: a frame crosses a span", ErrDamaged, l.path())
		}
		return b[lo : lo+f.StoredLen], release, nil
	}
	return d.cache.get(d.ctx, key{l, true, fi}, func() ([]byte, error) {
		stored, release, err := d.encoded(v, f.Stored, f.StoredLen)
		defer release()
		if err != nil {
			return nil, err
		}
		out, err := pcomp.DecodeFrame(l.algo, stored, getBuf(f.DecodedLen)[:0])
		if err != nil || int64(len(out)) != f.DecodedLen {
			putBuf(out)
			return nil, fmt.Errorf("%w: %s: the frame at stored byte %d decodes to %d bytes, not %d (%v)", ErrDamaged, l.path(), f.Stored, len(out), f.DecodedLen, err)
		}
		return out, nil
	})
}

// encoded returns the encoded (compressed) bytes [off, off+n) of a layer:
// its stored bytes, or for an encrypted file those of its decrypted
// bytes, from verified stored spans; and the function to call once done
// with them.
func (d *Disk) encoded(v view, off, n int64) ([]byte, func(), error) {
	l := v.l
	if l.key == nil {
		return d.storedRange(v, off, n)
	}
	l.cryptOnce.Do(func() {
		l.crypt, l.cryptErr = spancrypt.NewReaderAt(func(off, n int64) ([]byte, error) {
			b, release, err := d.storedRange(l.current(), off, n)
			defer release()
			if err != nil {
				return nil, err
			}
			return append([]byte(nil), b...), nil // the cache may reuse b once released
		}, l.stored, l.key, l.file)
	})
	if l.cryptErr != nil {
		return nil, noRelease, fmt.Errorf("%w: %s: %v", ErrDamaged, l.path(), l.cryptErr)
	}
	b, err := l.crypt.Range(off, n)
	if err != nil {
		return nil, noRelease, fmt.Errorf("%w: %s: %v", ErrDamaged, l.path(), err)
	}
	return b, noRelease, nil
}

// storedRange returns the stored bytes [off, off+n) of a layer, from
// verified spans, and the function to call once done with them.
func (d *Disk) storedRange(v view, off, n int64) ([]byte, func(), error) {
	l := v.l
	first, last := int(off/spansum.Size), int((off+n-1)/spansum.Size)
	if first == last {
		b, release, err := d.span(v, first)
		if err != nil {
			return nil, release, err
		}
		lo := off - int64(first)*spansum.Size
		if lo+n > int64(len(b)) {
			return nil, release, fmt.Errorf("%w: %s: stored bytes %d to %d lie past its end", ErrDamaged, l.path(), off, off+n-1)
		}
		return b[lo : lo+n], release, nil
	}
	out := getBuf(n)[:0]
	done := func() { putBuf(out) }
	for si := first; si <= last; si++ {
		b, release, err := d.span(v, si)
		if err != nil {
			release()
			return nil, done, err
		}
		base := int64(si) * spansum.Size
		lo, hi := max(off, base)-base, min(off+n, base+int64(len(b)))-base
		if lo > hi {
			release()
			return nil, done, fmt.Errorf("%w: %s: stored bytes %d to %d lie past its end", ErrDamaged, l.path(), off, off+n-1)
		}
		out = append(out, b[lo:hi]...)
		release()
	}
	if int64(len(out)) != n {
		return nil, done, fmt.Errorf("%w: %s: stored bytes %d to %d lie past its end", ErrDamaged, l.path(), off, off+n-1)
	}
	return out, done, nil
}

// span returns stored span si of a layer, read from the target and
// checked (against what the index saw of it, else against the catalog's
// digest), and the function to call once done with it.
func (d *Disk) span(v view, si int) ([]byte, func(), error) {
	l := v.l
	c := d.cache
	if l.algo != pcomp.None && l.algo != "" {
		c = d.stored
	}
	return c.get(d.ctx, key{l, false, si}, func() ([]byte, error) {
		if si >= len(v.ref) {
			return nil, fmt.Errorf("%w: %s has no span %d", ErrDamaged, l.path(), si)
		}
		off := int64(si) * spansum.Size
		n := min(spansum.Size, v.size-off)
		rc, err := d.t.Open(d.ctx, l.path(), off)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.path(), err)
		}
		defer rc.Close()
		b := getBuf(n)
		if _, err := io.ReadFull(rc, b); err != nil {
			putBuf(b)
			return nil, fmt.Errorf("%s: reading stored bytes %d to %d: %w", l.path(), off, off+n-1, err)
		}
		// a span the index checked is checked against what it saw (its
		// quickSum); one the view does not hold yet by its sha256
		var same bool
		if si < len(v.quick) {
			same = quickSum(b) == v.quick[si]
		} else {
			sum := sha256.Sum256(b)
			same = hex.EncodeToString(sum[:]) == v.ref[si]
		}
		if !same {
			putBuf(b)
			return nil, fmt.Errorf("%w: %s: stored span %d (bytes %d to %d) no longer matches the catalog (changed since it was opened?): run vmlua verify", ErrDamaged, l.path(), si, off, off+n-1)
		}
		return b, nil
	})
}

// readAhead decodes the frame after fi in the background when the read
// is sequential (fi-1 was decoded too) and it is not cached yet, so that
// a sequential reader finds it decoded.
func (d *Disk) readAhead(v view, fi int) {
	next := fi + 1
	l := v.l
	if next >= len(v.frames) || l.algo == pcomp.None || l.algo == "" {
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
		_, release, _ := d.frame(v, next) // an error is reported to the read that needs it
		release()
		d.mu.Lock()
		delete(d.prefetching, k)
		d.mu.Unlock()
	}()
}

// noRelease is the release function of bytes no cache holds.
func noRelease() {}
