package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	goruntime "runtime"
	"sync"

	"github.com/vmlua/vmlua/internal/dsread"
	"github.com/vmlua/vmlua/internal/spansum"
	"github.com/vmlua/vmlua/modules/backup/catalog"
)

// Image span digests (catalog.Disk.ImageSpans): what a disk's image holds
// per 4 MiB span, computed from the bytes a backup reads and the zeros
// between them, so that a later backup can tell which spans differ
// without the earlier image: a whole-disk read stores only the spans that
// differ from its parent's, and a verify_cbt full finds the changes
// changed block tracking missed.

// imageSpanSize is the span of ImageSpans: the set format's span.
const imageSpanSize = spansum.Size

// imageSpanDigest is a span's entry in ImageSpans.
func imageSpanDigest(sum [sha256.Size]byte, n int) string {
	if sum == zeroSpanSum(n) {
		return catalog.ImageSpanZero
	}
	return hex.EncodeToString(sum[:16])
}

var zeroSums sync.Map // span length -> [32]byte

// zeroSpanSum is the sha256 of n zero bytes (remembered per length).
func zeroSpanSum(n int) [sha256.Size]byte {
	if v, ok := zeroSums.Load(n); ok {
		return v.([sha256.Size]byte)
	}
	s := sha256.Sum256(make([]byte, n))
	zeroSums.Store(n, s)
	return s
}

// spanDigester follows a disk image written in order (data and zero
// runs) and digests each span. Plain, it copies a span's bytes into a
// buffer and hashes it on another goroutine (a span of zeros only is not
// hashed), so that no core caps the stream. With emit set (filter), a
// span's bytes go nowhere else: at its end the span is hashed at once and
// emit decides what to do with it.
type spanDigester struct {
	size  int64
	pos   int64 // image offset of what comes next
	idx   int   // the current span
	buf   []byte
	dirty bool // the current span has had data (buf is in use)
	out   []string
	emit  func(idx int, digest string, span []byte, zero bool) error

	wg   sync.WaitGroup
	sem  chan struct{}
	pool sync.Pool
}

func newSpanDigester(size int64, emit func(idx int, digest string, span []byte, zero bool) error) *spanDigester {
	n := int((size + imageSpanSize - 1) / imageSpanSize)
	d := &spanDigester{size: size, out: make([]string, n), emit: emit, sem: make(chan struct{}, max(goruntime.GOMAXPROCS(0), 1))}
	d.pool.New = func() any { return make([]byte, imageSpanSize) }
	return d
}

// spanEnd is the end of the current span.
func (d *spanDigester) spanEnd() int64 { return min(int64(d.idx+1)*imageSpanSize, d.size) }

// spanLen is the current span's length.
func (d *spanDigester) spanLen() int { return int(d.spanEnd() - int64(d.idx)*imageSpanSize) }

// Zero accounts for n zero bytes.
func (d *spanDigester) Zero(n int64) error {
	for n > 0 {
		if d.pos >= d.size {
			return fmt.Errorf("image span digest: %d bytes past the image's end", n)
		}
		k := min(n, d.spanEnd()-d.pos)
		if d.dirty {
			off := d.pos - int64(d.idx)*imageSpanSize
			clear(d.buf[off : off+k])
		}
		d.pos += k
		n -= k
		if err := d.maybeFinish(); err != nil {
			return err
		}
	}
	return nil
}

// Write accounts for data bytes.
func (d *spanDigester) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		if d.pos >= d.size {
			return total - len(p), fmt.Errorf("image span digest: %d bytes past the image's end", len(p))
		}
		start := int64(d.idx) * imageSpanSize
		if !d.dirty {
			d.buf = d.pool.Get().([]byte)
			clear(d.buf[:d.pos-start]) // the zeros before the first data
			d.dirty = true
		}
		k := int(min(int64(len(p)), d.spanEnd()-d.pos))
		copy(d.buf[d.pos-start:], p[:k])
		d.pos += int64(k)
		p = p[k:]
		if err := d.maybeFinish(); err != nil {
			return total - len(p), err
		}
	}
	return total, nil
}

// maybeFinish ends the current span when the image reached its end.
func (d *spanDigester) maybeFinish() error {
	if d.pos < d.spanEnd() {
		return nil
	}
	idx, n := d.idx, d.spanLen()
	d.idx++
	if !d.dirty {
		d.out[idx] = catalog.ImageSpanZero
		if d.emit != nil {
			return d.emit(idx, catalog.ImageSpanZero, nil, true)
		}
		return nil
	}
	buf := d.buf
	d.buf, d.dirty = nil, false
	if d.emit != nil {
		dg := imageSpanDigest(sha256.Sum256(buf[:n]), n)
		d.out[idx] = dg
		err := d.emit(idx, dg, buf[:n], dg == catalog.ImageSpanZero)
		d.pool.Put(buf) //nolint:staticcheck // a fixed-size buffer
		return err
	}
	d.sem <- struct{}{}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.out[idx] = imageSpanDigest(sha256.Sum256(buf[:n]), n)
		d.pool.Put(buf) //nolint:staticcheck // a fixed-size buffer
		<-d.sem
	}()
	return nil
}

// Digests waits for the hashing and returns every span's digest, or nil
// when the image was not followed to its end.
func (d *spanDigester) Digests() []string {
	d.wg.Wait()
	if d.pos != d.size {
		return nil
	}
	return d.out
}

// carriedSpans are an incremental's ImageSpans: its parent's, with the
// spans the changed areas touch unknown (nil when the parent has none).
func carriedSpans(parent []string, size int64, areas []dsread.Area) []string {
	n := int((size + imageSpanSize - 1) / imageSpanSize)
	if len(parent) != n {
		return nil
	}
	out := append([]string{}, parent...)
	for _, a := range areas {
		if a.End <= a.Off {
			continue
		}
		for i := a.Off / imageSpanSize; i <= (a.End-1)/imageSpanSize && int(i) < n; i++ {
			out[i] = catalog.ImageSpanUnknown
		}
	}
	return out
}
