package sets

import (
	"io"

	"github.com/vmlua/vmlua/runtime"
)

// TrackReader counts the bytes read from R on the progress tracker Tr.
type TrackReader struct {
	R  io.Reader
	Tr runtime.Tracker
}

func (t *TrackReader) Read(p []byte) (int, error) {
	n, err := t.R.Read(p)
	t.Tr.Add(int64(n))
	return n, err
}
