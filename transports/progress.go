package transports

import (
	"context"
	"io"
)

// Progress is told how many bytes moved, as they move. Implementations must
// be safe for concurrent use when shared between uploads.
type Progress interface {
	Add(n int64)
}

// ProgressFunc adapts a function to Progress.
type ProgressFunc func(n int64)

// Add calls f(n).
func (f ProgressFunc) Add(n int64) { f(n) }

// ProgressReader counts the bytes read from r into p.
func ProgressReader(r io.Reader, p Progress) io.Reader { return &progressReader{r: r, p: p} }

type progressReader struct {
	r io.Reader
	p Progress
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if n > 0 {
		r.p.Add(int64(n))
	}
	return n, err
}

// WithProgress returns a Transport that counts every byte written through
// its Create writers into written and every byte read from its Open readers
// into read (either may be nil).
func WithProgress(t Transport, written, read Progress) Transport {
	return &progressTransport{Transport: t, written: written, read: read}
}

type progressTransport struct {
	Transport
	written, read Progress
}

func (p *progressTransport) Unwrap() Transport { return p.Transport }

func (p *progressTransport) Create(ctx context.Context, path string) (Writer, error) {
	w, err := p.Transport.Create(ctx, path)
	if err != nil || p.written == nil {
		return w, err
	}
	return &progressWriter{Writer: w, p: p.written}, nil
}

func (p *progressTransport) Open(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	r, err := p.Transport.Open(ctx, path, offset)
	if err != nil || p.read == nil {
		return r, err
	}
	return struct {
		io.Reader
		io.Closer
	}{ProgressReader(r, p.read), r}, nil
}

type progressWriter struct {
	Writer
	p Progress
}

func (w *progressWriter) Write(b []byte) (int, error) {
	n, err := w.Writer.Write(b)
	if n > 0 {
		w.p.Add(int64(n))
	}
	return n, err
}
