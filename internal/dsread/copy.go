package dsread

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Copy writes the bytes of spans to w, one after the other, read by
// ReadSpans: w gets whole spans, up to 8 MiB a Write, while the next spans
// are being fetched. When the datastore ignores ranges it goes on with
// plain GETs of whole files, one at a time, and w gets writes of up to
// 1 MiB. The first error (of a GET, of w, or of ctx) ends it; every
// goroutine it starts has ended when it returns.
func (c *Client) Copy(ctx context.Context, w io.Writer, spans []Span) error {
	next := 0 // spans written so far
	err := c.ReadSpans(ctx, spans, func(s Span, p []byte) error {
		if _, err := w.Write(p); err != nil {
			return err
		}
		next++
		return nil
	})
	if errors.Is(err, ErrRangeIgnored) && ctx.Err() == nil {
		err = c.serial(ctx, spans[next:], w)
	}
	return err
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
// overlapping) and writes their bytes to w, through buf. The GET is
// retried as every datastore request is until its answer starts; once
// bytes went to w, a failure ends it.
func (c *Client) copyFile(ctx context.Context, spans []Span, w io.Writer, buf []byte) error {
	file := spans[0].File
	err := c.request(ctx, file, nil, func(res *http.Response) error {
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("download %s: %s", file, res.Status)
		}
		if size := fileSize(res); size >= 0 && size < spans[0].Size {
			return shortFile(file, size, spans[0].Size)
		}
		pos := int64(0)
		for _, s := range spans {
			if s.Off > pos {
				k, err := io.CopyN(io.Discard, res.Body, s.Off-pos)
				if err != nil {
					return shortRead(s, pos+k, err)
				}
				pos = s.Off
			}
			k, err := io.CopyBuffer(w, io.LimitReader(res.Body, s.N), buf)
			if err == nil && k < s.N {
				err = io.EOF
			}
			if err != nil {
				return shortRead(s, pos+k, err)
			}
			pos += s.N
		}
		return nil
	})
	var se *StatusError
	if errors.As(err, &se) {
		return fmt.Errorf("download %w", err)
	}
	return err
}

// OwnedWriter takes buffers it may keep using after WriteOwned returns,
// until it calls release (exactly once, from any goroutine, also on
// failure): transports.AtomicWriter, which hashes spans in parallel.
type OwnedWriter interface {
	WriteOwned(p []byte, release func()) error
}

// CopyOwned is Copy to a writer that keeps each span's buffer until it is
// done with it (see ReadSpansOwned): w gets whole spans.
func (c *Client) CopyOwned(ctx context.Context, w OwnedWriter, spans []Span) error {
	next := 0 // spans written so far
	err := c.ReadSpansOwned(ctx, spans, func(s Span, p []byte, release func()) error {
		if err := w.WriteOwned(p, release); err != nil {
			return err
		}
		next++
		return nil
	})
	if errors.Is(err, ErrRangeIgnored) && ctx.Err() == nil {
		err = c.serial(ctx, spans[next:], syncWriter{w})
	}
	return err
}

// syncWriter writes to an OwnedWriter and waits for the release.
type syncWriter struct{ w OwnedWriter }

func (s syncWriter) Write(p []byte) (int, error) {
	done := make(chan struct{})
	err := s.w.WriteOwned(p, func() { close(done) })
	<-done
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// shortRead is the error of a whole-file GET of s's file that stopped at
// byte at: the file is shorter than its extent, or the read failed.
func shortRead(s Span, at int64, err error) error {
	if err == io.EOF {
		return shortFile(s.File, at, s.Size)
	}
	return fmt.Errorf("reading %s at %d: %w", s.File, at, err)
}
