package spancrypt

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzDamagedFiles: whatever the stored bytes, the readers return an
// error (ErrSpan for a file with the format's header) or authenticated
// plaintext, never a panic.
func FuzzDamagedFiles(f *testing.F) {
	key := bytes.Repeat([]byte{7}, KeySize)
	for _, n := range []int{0, 1, SpanSize, SpanSize + 3} {
		var buf bytes.Buffer
		w, _ := NewWriter(&buf, key, "f")
		w.Write(bytes.Repeat([]byte{'x'}, n))
		w.Close()
		f.Add(buf.Bytes(), uint(0), byte(0))
		f.Add(buf.Bytes(), uint(HeaderSize+5), byte(1))
	}
	f.Fuzz(func(t *testing.T, b []byte, at uint, flip byte) {
		if len(b) > 0 {
			b = append([]byte(nil), b...)
			b[int(at%uint(len(b)))] ^= flip
		}
		r, err := NewReader(bytes.NewReader(b), key, "f")
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if err != nil && len(b) >= HeaderSize && string(b[:len(magic)]) == magic && !errors.Is(err, ErrSpan) {
			t.Fatalf("a damaged file's error is not ErrSpan: %v", err)
		}
		ra, err := NewReaderAt(func(off, n int64) ([]byte, error) {
			if off < 0 || off+n > int64(len(b)) {
				return nil, io.ErrUnexpectedEOF
			}
			return b[off : off+n], nil
		}, int64(len(b)), key, "f")
		if err == nil {
			_, _ = ra.Range(0, ra.Size())
		}
	})
}
