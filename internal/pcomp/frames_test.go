package pcomp

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestFramesLocateEveryChunk: a FrameReader decodes what the Writer
// compressed, and its frame table says where each frame lies in the stored
// and the decoded bytes, so that DecodeFrame of one frame's stored bytes
// gives exactly its decoded bytes; a truncated stream is an ErrFrame.
func TestFramesLocateEveryChunk(t *testing.T) {
	for _, algo := range []string{None, Gzip, Zstd} {
		for _, size := range []int{1, 2*ChunkSize + 12345} {
			in := sample(size)
			var out bytes.Buffer
			w, err := NewWriter(&out, algo, 2)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(in)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			stored := out.Bytes()
			fr, err := NewFrameReader(bytes.NewReader(stored), algo)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(fr)
			if err != nil || !bytes.Equal(got, in) {
				t.Fatalf("%s %d: decoded %d bytes (%v), want the %d written", algo, size, len(got), err, size)
			}
			frames := fr.Frames()
			if want := (size + ChunkSize - 1) / ChunkSize; len(frames) != want {
				t.Fatalf("%s %d: %d frames, want %d", algo, size, len(frames), want)
			}
			var s, d int64
			for i, f := range frames {
				if f.Stored != s || f.Decoded != d {
					t.Fatalf("%s %d: frame %d %+v does not follow the one before", algo, size, i, f)
				}
				one, err := DecodeFrame(algo, stored[f.Stored:f.Stored+f.StoredLen], nil)
				if err != nil || !bytes.Equal(one, in[f.Decoded:f.Decoded+f.DecodedLen]) {
					t.Fatalf("%s %d: frame %d decodes to other bytes (%v)", algo, size, i, err)
				}
				s, d = s+f.StoredLen, d+f.DecodedLen
			}
			if s != int64(len(stored)) || d != int64(size) {
				t.Fatalf("%s %d: frames cover %d stored / %d decoded bytes of %d / %d", algo, size, s, d, len(stored), size)
			}
			if algo == None {
				continue
			}
			fr, _ = NewFrameReader(bytes.NewReader(stored[:len(stored)-3]), algo)
			if _, err := io.Copy(io.Discard, fr); !errors.Is(err, ErrFrame) {
				t.Errorf("%s %d: a truncated stream reads with %v", algo, size, err)
			}
			// an altered byte: an error, or other bytes (zstd frames'
			// own checksums are skipped: readers check span digests)
			fr, _ = NewFrameReader(bytes.NewReader(flip(stored, len(stored)/2)), algo)
			if got, err := io.ReadAll(fr); err == nil && bytes.Equal(got, in) {
				t.Errorf("%s %d: an altered stream decodes to the original", algo, size)
			}
		}
	}
}

func flip(b []byte, at int) []byte {
	c := append([]byte{}, b...)
	c[at] ^= 0x40
	return c
}
