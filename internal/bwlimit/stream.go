package bwlimit

import (
	"context"
	"io"
)

// chunk bounds the bytes one take covers, so that a big write is paced
// smoothly instead of waiting for all of it at once.
const chunk = 64 << 10

// Take takes n tokens from each bucket in turn (nil buckets are skipped):
// a stream limited per target and per run keeps to both.
func Take(ctx context.Context, n int, buckets ...*Bucket) error {
	for _, b := range buckets {
		if err := b.Take(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// NewWriter returns a writer that takes a token per byte from buckets
// before it writes to w; a wait ends with ctx.
func NewWriter(ctx context.Context, w io.Writer, buckets ...*Bucket) io.Writer {
	return &writer{ctx: ctx, w: w, bs: buckets}
}

type writer struct {
	ctx context.Context
	w   io.Writer
	bs  []*Bucket
}

func (w *writer) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n := min(len(p)-done, chunk)
		if err := Take(w.ctx, n, w.bs...); err != nil {
			return done, err
		}
		m, err := w.w.Write(p[done : done+n])
		done += m
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// NewReader returns a reader that takes a token per byte read from r
// from buckets, waiting after each read for those they lack.
func NewReader(ctx context.Context, r io.Reader, buckets ...*Bucket) io.Reader {
	return &reader{ctx: ctx, r: r, bs: buckets}
}

type reader struct {
	ctx context.Context
	r   io.Reader
	bs  []*Bucket
}

func (r *reader) Read(p []byte) (int, error) {
	if len(p) > chunk {
		p = p[:chunk]
	}
	n, err := r.r.Read(p)
	if terr := Take(r.ctx, n, r.bs...); terr != nil && err == nil {
		err = terr
	}
	return n, err
}
