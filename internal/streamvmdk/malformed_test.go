package streamvmdk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// TestMalformedStreamsAreErrors: a stream that is not streamOptimized, or
// whose grains cannot be what they claim, is an ErrFormat error, never a
// disk image that looks read.
func TestMalformedStreamsAreErrors(t *testing.T) {
	good := write(t, image(4*GrainSize, 7))
	le := binary.LittleEndian
	firstGrain := int(le.Uint64(good[64:])) * SectorSize // the header's overhead: the first marker follows it
	for _, tc := range []struct {
		name string
		edit func(b []byte)
	}{
		{"bad magic", func(b []byte) { copy(b, "XDMV") }},
		{"not compressed", func(b []byte) { le.PutUint32(b[8:], le.Uint32(b[8:])&^flagCompressed) }},
		{"without markers", func(b []byte) { le.PutUint32(b[8:], le.Uint32(b[8:])&^flagMarkers) }},
		{"a grain past the disk's end", func(b []byte) { le.PutUint64(b[firstGrain:], 1<<40) }},
		{"a grain whose deflate stream is damaged", func(b []byte) { copy(b[firstGrain+12:], []byte{0xff, 0xff, 0xff, 0xff}) }},
		{"a grain of an impossible size", func(b []byte) { le.PutUint32(b[firstGrain+8:], 1<<30) }},
		{"an unknown marker", func(b []byte) {
			// the first grain becomes a metadata marker of type 9
			le.PutUint64(b[firstGrain:], 0)
			le.PutUint32(b[firstGrain+8:], 0)
			le.PutUint32(b[firstGrain+12:], 9)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(good)
			tc.edit(b)
			r, err := NewReader(bytes.NewReader(b))
			if err == nil {
				_, err = io.ReadAll(r)
			}
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("%v, want ErrFormat", err)
			}
		})
	}
	// the unedited stream reads (the edits above are what fails)
	r, err := NewReader(bytes.NewReader(good))
	if err == nil {
		_, err = io.ReadAll(r)
	}
	if err != nil {
		t.Fatal(err)
	}
}
