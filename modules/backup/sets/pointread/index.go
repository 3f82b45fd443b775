package pointread

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/vmlua/vmlua/internal/pcomp"
	"github.com/vmlua/vmlua/internal/spansum"
	"github.com/vmlua/vmlua/internal/sparse"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/transports"
)

// layer is the index of one stored layer of the disk (a file of a set of
// the chain): where each record of its stream lies, where each
// compressed frame lies, and the digest every stored span is checked
// against when it is read again.
type layer struct {
	set, file string // the file is set + "/" + file on the target
	algo      string // its compression
	size      int64  // stored bytes
	// ref is the sha256 (hex) of every stored span (spansum.Size bytes):
	// the catalog's span digest, or for a file the catalog records by
	// one sha256 (sets before span digests), the spans computed at open
	// once that sha256 matched.
	ref    []string
	frames []pcomp.Frame
	recs   []sparse.Record // in image order, covering [0, known)
	// known is how much of the image the records cover: the image size
	// when the layer is sound; less when it is damaged from there on, and
	// damage then says how.
	known  int64
	damage string
}

// path is the layer's file on the target.
func (l *layer) path() string { return l.set + "/" + l.file }

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// indexLayer reads the stored file of l whole, once: it decodes its
// frames and records (every record's place in the image and in the
// stream, every frame's place in the stored file), checks every stored
// span against the catalog and the stream's trailer against the disk's
// content digest. A layer whose file cannot be opened is an error; one
// that is damaged is indexed up to the damage (known, damage).
func indexLayer(ctx context.Context, t transports.Transport, sl sets.Layer) (*layer, error) {
	l := &layer{set: sl.Set, file: sl.File.Name, algo: sl.File.Compression}
	rc, err := t.Open(ctx, l.path(), 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.path(), err)
	}
	defer rc.Close()
	cr := &countReader{r: rc}
	sp := spansum.New()
	whole := sha256.New()
	var hw io.Writer = sp
	if sl.File.Spans == nil {
		hw = io.MultiWriter(sp, whole)
	}
	tee := io.TeeReader(cr, hw)
	fr, err := pcomp.NewFrameReader(tee, l.algo)
	if err != nil {
		sp.Sum()
		return nil, fmt.Errorf("%s: %w", l.path(), err)
	}
	// parse: the records as far as the stream can be read
	parseErr, trailerSum := func() (error, string) {
		sr, err := sparse.NewLayerReader(fr)
		if err != nil {
			return err, ""
		}
		defer sr.Close()
		if p := sets.StreamProblem(sr, sl.Disk); p != "" {
			return errors.New(p), ""
		}
		for {
			if err := ctx.Err(); err != nil {
				return err, ""
			}
			rec, err := sr.NextRecord()
			if err == io.EOF {
				return nil, sr.Sum()
			}
			if err != nil {
				return err, ""
			}
			l.recs = append(l.recs, rec)
		}
	}()
	if err := ctx.Err(); err != nil {
		sp.Sum()
		return nil, err
	}
	// the rest of the stored bytes, hashed to say which span is damaged
	_, readErr := io.Copy(io.Discard, tee)
	got := sp.Sum()
	if readErr != nil {
		return nil, fmt.Errorf("%s: %w", l.path(), readErr)
	}
	l.size = cr.n
	l.frames = fr.Frames()

	// which stored bytes are as the catalog says
	trusted := l.size // stored bytes before the first damaged span
	var why string
	switch f := sl.File; {
	case f.Spans != nil:
		l.ref = f.Spans.SHA256
		for i := range max(len(got.Spans), len(l.ref)) {
			if i >= len(got.Spans) || i >= len(l.ref) || got.Spans[i] != l.ref[i] {
				trusted = int64(i) * spansum.Size
				why = fmt.Sprintf("stored span %d (bytes %d to %d of %s) does not match the catalog", i, trusted, min(trusted+spansum.Size, max(l.size, f.Size))-1, l.file)
				break
			}
		}
		if why == "" && l.size != f.Size {
			trusted = min(l.size, f.Size)
			why = fmt.Sprintf("%s has %d bytes, the catalog says %d", l.file, l.size, f.Size)
		}
	case l.size != f.Size || hex.EncodeToString(whole.Sum(nil)) != f.SHA256:
		trusted = 0 // one digest for the whole file: no part of it can be trusted
		why = fmt.Sprintf("%s does not match the catalog's size and sha256", l.file)
	default:
		l.ref = got.Spans
	}
	// the decoded stream bytes that come from trusted stored bytes only
	stream := int64(0)
	for _, fm := range l.frames {
		if fm.Stored+fm.StoredLen > trusted {
			break
		}
		stream = fm.Decoded + fm.DecodedLen
	}
	switch {
	case why == "" && parseErr == nil && sl.Disk.ContentSHA256 != "" && trailerSum != sl.Disk.ContentSHA256:
		why, stream = "the image's content digest differs from the catalog's", 0
	case why == "" && parseErr != nil:
		why = "the image cannot be decoded: " + parseErr.Error()
	}
	if why == "" {
		l.known = sl.Disk.Capacity
		return l, nil
	}
	// keep the records read whole from trusted bytes
	n := sort.Search(len(l.recs), func(i int) bool {
		r := l.recs[i]
		end := r.Data
		if r.Kind == 'D' {
			end += r.Len
		}
		return end > stream
	})
	l.recs = l.recs[:n]
	if n > 0 {
		l.known = l.recs[n-1].End()
	}
	l.damage = why
	return l, nil
}

// find returns the index of the record that holds image byte off (off <
// known).
func (l *layer) find(off int64) int {
	return sort.Search(len(l.recs), func(i int) bool { return l.recs[i].End() > off })
}

// frameAt returns the index of the frame that holds stream byte s.
func (l *layer) frameAt(s int64) int {
	return sort.Search(len(l.frames), func(i int) bool { return l.frames[i].Decoded+l.frames[i].DecodedLen > s })
}
