package dsread

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Reader is the bytes of a list of spans, one after the other, read by
// ReadSpans on a goroutine of its own. Close it: Close ends that goroutine
// and every GET.
type Reader struct {
	pr     *io.PipeReader
	cancel context.CancelFunc
	done   chan struct{}
}

var errReaderClosed = errors.New("dsread: the reader was closed")

// NewReader starts reading spans (as ReadSpans does: several GETs in
// flight, in order) and returns their bytes as a stream. Cancelling ctx
// fails the stream with ctx's error. When the datastore ignores ranges the
// stream goes on with plain GETs of whole files, one at a time.
func (c *Client) NewReader(ctx context.Context, spans []Span) *Reader {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	r := &Reader{pr: pr, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		next := 0 // spans handed on so far
		err := c.ReadSpans(ctx, spans, func(s Span, p []byte) error {
			if _, err := pw.Write(p); err != nil {
				return err
			}
			next++
			return nil
		})
		if errors.Is(err, ErrRangeIgnored) && ctx.Err() == nil {
			err = c.serial(ctx, spans[next:], pw)
		}
		pw.CloseWithError(err) // nil: io.EOF
	}()
	return r
}

// Read reads the next bytes of the spans.
func (r *Reader) Read(p []byte) (int, error) { return r.pr.Read(p) }

// Close stops the reading and returns once its goroutine has ended.
func (r *Reader) Close() error {
	r.cancel()
	r.pr.CloseWithError(errReaderClosed)
	<-r.done
	return nil
}

// serial writes the bytes of spans to w with one plain GET (no Range) per
// run of spans of one file, skipping what lies between them: the way to
// read a datastore that ignores ranges.
func (c *Client) serial(ctx context.Context, spans []Span, w io.Writer) error {
	buf := make([]byte, 1<<20)
	for len(spans) > 0 {
		file := spans[0].File
		k := 1
		for k < len(spans) && spans[k].File == file && spans[k].Off >= spans[k-1].Off+spans[k-1].N {
			k++
		}
		if err := c.copyFile(ctx, spans[:k], w, buf); err != nil {
			return err
		}
		spans = spans[k:]
	}
	return nil
}

// copyFile GETs the file of spans (all of one file, ascending, not
// overlapping) and writes their bytes to w, through buf.
func (c *Client) copyFile(ctx context.Context, spans []Span, w io.Writer, buf []byte) error {
	file := spans[0].File
	res, err := c.open(ctx, file, 0, 0, false)
	if err != nil {
		return fmt.Errorf("download %s: %w", file, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("download %s: %s", file, res.Status)
	}
	pos := int64(0)
	for _, s := range spans {
		if s.Off > pos {
			k, err := io.CopyN(io.Discard, res.Body, s.Off-pos)
			if err != nil {
				return shortRead(file, pos+k, err)
			}
			pos = s.Off
		}
		k, err := io.CopyBuffer(w, io.LimitReader(res.Body, s.N), buf)
		if err == nil && k < s.N {
			err = io.EOF
		}
		if err != nil {
			return shortRead(file, pos+k, err)
		}
		pos += s.N
	}
	return nil
}

func shortRead(file string, at int64, err error) error {
	if err == io.EOF {
		return fmt.Errorf("reading %s: the datastore's file ended at %d bytes", file, at)
	}
	return fmt.Errorf("reading %s at %d: %w", file, at, err)
}
