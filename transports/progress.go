package transports

import (
	"io"
)

// Progress is told how many bytes moved, as they move. Implementations must
// be safe for concurrent use when shared between uploads. A run's
// runtime.Tracker is one.
//
// Counting is done in one place, by the two wrappers below: ProgressWriter
// around what bytes are written to, ProgressReader around what they are
// read from. UploadOptions.Progress applies ProgressWriter to the target's
// writer, so it counts the bytes the target accepted.
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

// ProgressWriter counts the bytes w accepts into p (on a failed write, the
// part it accepted).
func ProgressWriter(w io.Writer, p Progress) io.Writer { return &progressWriter{w: w, p: p} }

type progressWriter struct {
	w io.Writer
	p Progress
}

func (w *progressWriter) Write(b []byte) (int, error) {
	n, err := w.w.Write(b)
	if n > 0 {
		w.p.Add(int64(n))
	}
	return n, err
}

// withProgress is a transport's Writer whose writes ProgressWriter counts.
func withProgress(w Writer, p Progress) Writer {
	return struct {
		io.Writer
		finisher
	}{ProgressWriter(w, p), w}
}

// finisher is the rest of Writer.
type finisher interface {
	Close() error
	Abort() error
}
