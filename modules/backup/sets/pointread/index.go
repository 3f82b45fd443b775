package pointread

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/maphash"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/vmlua/vmlua/internal/pcomp"
	"github.com/vmlua/vmlua/internal/spancrypt"
	"github.com/vmlua/vmlua/internal/spansum"
	"github.com/vmlua/vmlua/internal/sparse"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/transports"
)

// layer is the index of one stored layer of the disk (a file of a set of
// the chain): where each record of its stream lies, where each
// compressed frame lies, and the digest every stored span is checked
// against when it is read again. A goroutine builds it in order (index);
// what it has checked is published as it goes, so reads of the start of
// a disk do not wait for the end of its index.
type layer struct {
	set, file string // the file is set + "/" + file on the target
	algo      string // its compression
	// key is the data key of an encrypted file (nil: not encrypted);
	// stored its stored size (the catalog's); crypt decrypts its
	// checked stored bytes at random (Disk.encoded), made once
	key       []byte
	stored    int64
	cryptOnce sync.Once
	crypt     *spancrypt.ReaderAt
	cryptErr  error

	mu sync.Mutex
	// ref is the sha256 (hex) of every stored span (spansum.Size bytes):
	// the catalog's span digest, or for a file the catalog records by
	// one sha256 (sets before span digests), the spans computed by the
	// index once that sha256 matched (the index then publishes nothing
	// before its end).
	ref []string
	// quick is a keyed hash (quickSum) of every stored span the index
	// checked against ref so far, in order: a read of the span again
	// from the target is checked against it, not by another sha256.
	quick  []uint64
	size   int64 // stored bytes read so far (all of them once done)
	frames []pcomp.Frame
	recs   []sparse.Record // in image order, covering [0, known)
	// known is how much of the image the published records cover: the
	// image size once the layer is indexed and sound; less while the
	// index runs, or when it is damaged from there on (damage says how).
	known    int64
	done     bool
	damage   string
	took     time.Duration
	progress chan struct{} // closed and replaced at every publication
}

// current is the layer's view now.
func (l *layer) current() view {
	l.mu.Lock()
	defer l.mu.Unlock()
	return view{l, l.recs, l.frames, l.ref, l.quick, l.size, l.known, l.done, l.damage}
}

// path is the layer's file on the target.
func (l *layer) path() string { return l.set + "/" + l.file }

// view is what a reader sees of a layer: the published records and
// frames (appends never change the elements of an earlier view).
type view struct {
	l      *layer
	recs   []sparse.Record
	frames []pcomp.Frame
	ref    []string
	quick  []uint64
	size   int64
	known  int64
	done   bool
	damage string
}

// await returns the layer's view once it covers image byte off, or once
// its index ended (off may then lie in its damaged part).
func (l *layer) await(ctx context.Context, off int64) (view, error) {
	for {
		l.mu.Lock()
		v := view{l, l.recs, l.frames, l.ref, l.quick, l.size, l.known, l.done, l.damage}
		ch := l.progress
		l.mu.Unlock()
		if off < v.known || v.done {
			return v, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return v, fmt.Errorf("%s: %w", l.path(), context.Cause(ctx))
		}
	}
}

// wait returns once the layer's index ended.
func (l *layer) wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		done, ch := l.done, l.progress
		l.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// publish makes records, frames and the span digests visible to
// readers (under l.mu).
func (l *layer) publishLocked() {
	close(l.progress)
	l.progress = make(chan struct{})
}

// spanReader passes the stored bytes on while it checks them span by
// span (spansum.Size bytes): each span's sha256 against the catalog's
// as soon as the span is whole. ok is how many bytes are checked; a
// span that differs stops it with its error. Without a catalog span
// digest it computes the spans and the whole file's sha256 for the end.
type spanReader struct {
	r     io.Reader
	want  []string // the catalog's span digests; nil: none
	got   []string // every span's digest so far
	quick []uint64 // every span's quickSum so far
	span  hash.Hash
	qh    maphash.Hash // with quickSeed
	whole hash.Hash    // when want is nil
	n     int64        // bytes read
	ok    int64        // bytes checked
	eof   bool         // the end was read (and the last span checked)
	file  string
	err   error
}

func (s *spanReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if rem := spansum.Size - s.n%spansum.Size; int64(len(p)) > rem {
		p = p[:rem] // stop at the span's end to check it
	}
	n, err := s.r.Read(p)
	s.span.Write(p[:n])
	s.qh.Write(p[:n])
	if s.whole != nil {
		s.whole.Write(p[:n])
	}
	s.n += int64(n)
	if s.n%spansum.Size == 0 && n > 0 {
		if e := s.endSpan(); e != nil {
			return n, e
		}
	}
	if err == io.EOF && !s.eof {
		s.eof = true
		if s.n%spansum.Size != 0 { // the last span, shorter
			if e := s.endSpan(); e != nil {
				return n, e
			}
		}
	}
	return n, err
}

// endSpan checks the span that ends at s.n.
func (s *spanReader) endSpan() error {
	i := len(s.got)
	sum := hex.EncodeToString(s.span.Sum(nil))
	s.span.Reset()
	s.got = append(s.got, sum)
	s.quick = append(s.quick, s.qh.Sum64())
	s.qh.Reset()
	if s.want == nil {
		return nil // checked at the end, by the whole file's sha256
	}
	if i >= len(s.want) || sum != s.want[i] {
		start := int64(i) * spansum.Size
		s.err = fmt.Errorf("%w: stored span %d (bytes %d to %d of %s) does not match the catalog", ErrDamaged, i, start, s.n-1, s.file)
		return s.err
	}
	s.ok = s.n
	return nil
}

// startIndex opens the stored file of sl and starts indexing it on a
// goroutine of its own (index); it fails only when the file cannot be
// opened.
func startIndex(ctx context.Context, t transports.Transport, sl sets.Layer) (*layer, error) {
	l := &layer{set: sl.Set, file: sl.File.Name, algo: sl.File.Compression, stored: sl.File.Size, progress: make(chan struct{})}
	key, err := sl.Key(ctx, t)
	if err != nil {
		return nil, err
	}
	l.key = key
	rc, err := t.Open(ctx, l.path(), 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.path(), err)
	}
	go func() {
		defer rc.Close()
		l.index(ctx, rc, sl)
	}()
	return l, nil
}

// index reads the stored file once, in order: it decodes its frames and
// records (pcomp.FrameReader, sparse.Reader.NextRecord), checks every
// stored span against the catalog as soon as it is whole and publishes
// the records and frames that come from checked spans only; at the end it
// checks the stream's trailer against the disk's content digest. A
// damaged layer is published up to the damage.
func (l *layer) index(ctx context.Context, rc io.Reader, sl sets.Layer) {
	t0 := time.Now()
	sr := &spanReader{r: rc, span: sha256.New(), file: l.file}
	sr.qh.SetSeed(quickSeed)
	if sl.File.Spans != nil {
		sr.want = sl.File.Spans.SHA256
		l.mu.Lock()
		l.ref = sr.want
		l.mu.Unlock()
	} else {
		sr.whole = sha256.New()
	}
	var fr *pcomp.FrameReader
	var err error
	// an encrypted file's frames lie in its decrypted bytes: a frame is
	// checked once the stored spans of its encrypted spans are
	storedEnd := func(end int64) int64 { return end }
	if l.key != nil {
		storedEnd = spancrypt.StoredEnd
		var dr *spancrypt.Reader
		if dr, err = spancrypt.NewReader(sr, l.key, l.file); err == nil {
			fr, err = pcomp.NewFrameReader(dr, l.algo)
		}
	} else {
		fr, err = pcomp.NewFrameReader(sr, l.algo)
	}
	var pending []sparse.Record
	trusted, n := int64(0), 0 // decoded stream bytes from checked spans; their frames
	// publish moves the pending records whose bytes come from checked
	// stored spans to the layer
	publish := func(all bool) {
		frames := fr.Frames()
		for n < len(frames) && (all || storedEnd(frames[n].Stored+frames[n].StoredLen) <= sr.ok) {
			trusted = frames[n].Decoded + frames[n].DecodedLen
			n++
		}
		k := 0
		for k < len(pending) && (all || recordEnd(pending[k]) <= trusted) {
			k++
		}
		if k == 0 && n == len(l.frames) {
			return
		}
		l.mu.Lock()
		if n > len(l.frames) {
			l.frames = append(l.frames, frames[len(l.frames):n]...)
		}
		l.recs = append(l.recs, pending[:k]...)
		l.quick = append(l.quick, sr.quick[len(l.quick):int(min((sr.ok+spansum.Size-1)/spansum.Size, int64(len(sr.quick))))]...)
		if len(l.recs) > 0 {
			l.known = l.recs[len(l.recs)-1].End()
		}
		l.size = sr.n
		l.publishLocked()
		l.mu.Unlock()
		pending = pending[k:]
	}
	parseErr, trailer := func() (error, string) {
		if err != nil {
			return err, ""
		}
		r, err := sparse.NewLayerReader(fr)
		if err != nil {
			return err, ""
		}
		defer r.Close()
		if p := sets.StreamProblem(r, sl.Disk); p != "" {
			return errors.New(p), ""
		}
		for {
			if err := ctx.Err(); err != nil {
				return err, ""
			}
			rec, err := r.NextRecord()
			if err == io.EOF {
				// the rest of the decoded stream: an encrypted file's
				// last span is authenticated at its end
				if _, err := io.Copy(io.Discard, fr); err != nil {
					return err, ""
				}
				return nil, r.Sum()
			}
			if err != nil {
				return err, ""
			}
			pending = append(pending, rec)
			if sr.want != nil {
				publish(false)
			}
		}
	}()
	// the rest of the stored file: its last span is checked at its end,
	// and after a stream that stops decoding, the span that differs is
	// named
	if sr.err == nil && ctx.Err() == nil {
		if _, err := io.Copy(io.Discard, sr); err != nil && parseErr == nil {
			parseErr = err
		}
	}
	why := ""
	switch {
	case ctx.Err() != nil:
		why = "its index was stopped: " + context.Cause(ctx).Error()
	case sr.err != nil:
		why = sr.err.Error()
	case parseErr != nil:
		why = "the image cannot be decoded: " + parseErr.Error()
	case sr.n != sl.File.Size:
		why = fmt.Sprintf("%s has %d bytes, the catalog says %d", l.file, sr.n, sl.File.Size)
	case sr.whole != nil && hex.EncodeToString(sr.whole.Sum(nil)) != sl.File.SHA256:
		why = fmt.Sprintf("%s does not match the catalog's sha256", l.file)
	case sl.Disk.ContentSHA256 != "" && trailer != sl.Disk.ContentSHA256:
		why = "the image's content digest differs from the catalog's"
	}
	// a damaged span or a stream that stops decoding is localized: what
	// was read from checked spans before it stands; a digest of the whole
	// file or stream that differs is not: nothing of the layer stands
	localized := sr.want != nil && (sr.err != nil || parseErr != nil)
	switch {
	case why == "":
		if sr.whole != nil {
			l.mu.Lock()
			l.ref = sr.got // the whole file matched: its spans are the reference
			l.mu.Unlock()
			sr.ok = sr.n
		}
		publish(true)
	case localized:
		publish(false)
	}
	l.mu.Lock()
	l.done, l.took, l.size = true, time.Since(t0), sr.n
	if why != "" {
		l.damage = why
		if !localized {
			l.recs, l.known = nil, 0
		}
	}
	l.publishLocked()
	l.mu.Unlock()
}

// quickSeed keys quickSum, the hash a span read again is checked with:
// random per process and never shown, so that bytes changed on the target
// cannot be made to match it.
var quickSeed = maphash.MakeSeed()

// quickSum is the keyed hash of a stored span that the index checked
// against the catalog's sha256: a span read again for a read is checked
// against it, at memory speed, instead of by a second sha256 (the
// catalog's digest stays the reference; this only tells that the bytes
// are the ones checked).
func quickSum(b []byte) uint64 { return maphash.Bytes(quickSeed, b) }

// recordEnd is the stream offset after a record's bytes.
func recordEnd(r sparse.Record) int64 {
	if r.Kind == 'D' {
		return r.Data + r.Len
	}
	return r.Data
}

// find returns the index of the record that holds image byte off (off <
// known).
func (v view) find(off int64) int {
	return sort.Search(len(v.recs), func(i int) bool { return v.recs[i].End() > off })
}

// frameAt returns the index of the frame that holds stream byte s.
func (v view) frameAt(s int64) int {
	return sort.Search(len(v.frames), func(i int) bool { return v.frames[i].Decoded+v.frames[i].DecodedLen > s })
}
