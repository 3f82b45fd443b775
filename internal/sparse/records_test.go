package sparse

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestRecordsLocateEveryByteOfTheImage: the records NextRecord returns
// cover the image in order, a data record's stream bytes are the image's
// bytes, a zero record's bytes are zeros, and a delta's unchanged records
// leave exactly the unchanged ranges; the trailer is verified at the end
// and a damaged stream is an error.
func TestRecordsLocateEveryByteOfTheImage(t *testing.T) {
	base := image("DDZZDZDDDDZZZZDZDDDDDDDDDDDDDDDDDDDDDD", 64<<10)
	full, _, _ := encode(t, base, false, 1<<20)
	next := append([]byte{}, base...)
	ranges := [][2]int{{100, 5000}, {70000, 70001}, {65536 * 2, 65536 * 4}}
	for _, c := range ranges {
		for k := c[0]; k < c[1]; k++ {
			next[k] = byte(k*7 + 1)
		}
	}
	delta := applyDelta(t, DeltaMagic, next, ranges)
	for _, c := range []struct {
		name   string
		stream []byte
		img    []byte
		delta  bool
	}{
		{"a full image", full, base, false},
		{"a delta", delta, next, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := NewLayerReader(bytes.NewReader(c.stream))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			at, kinds := int64(0), map[byte]int{}
			changed := make([]bool, len(c.img))
			for _, rg := range ranges {
				for k := rg[0]; k < rg[1]; k++ {
					changed[k] = true
				}
			}
			for {
				rec, err := r.NextRecord()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if rec.Offset != at || rec.Len <= 0 {
					t.Fatalf("record %+v after image byte %d", rec, at)
				}
				kinds[rec.Kind]++
				img := c.img[rec.Offset:rec.End()]
				switch rec.Kind {
				case 'D':
					if !bytes.Equal(c.stream[rec.Data:rec.Data+rec.Len], img) {
						t.Fatalf("data record %+v: its stream bytes are not the image's", rec)
					}
				case 'Z':
					if !isZero(img) {
						t.Fatalf("zero record %+v over data", rec)
					}
				case 'U':
					for k := rec.Offset; k < rec.End(); k++ {
						if changed[k] {
							t.Fatalf("unchanged record %+v over changed byte %d", rec, k)
						}
					}
				}
				if c.delta && rec.Kind != 'U' && !changed[rec.Offset] {
					t.Fatalf("record %+v starts on an unchanged byte", rec)
				}
				at = rec.End()
			}
			if at != int64(len(c.img)) || r.Sum() == "" || kinds['D'] == 0 || (c.delta && kinds['U'] == 0) {
				t.Fatalf("records end at %d of %d, sum %q, kinds %v", at, len(c.img), r.Sum(), kinds)
			}
			if r.StreamOffset() != int64(len(c.stream)) {
				t.Fatalf("stream offset %d at the end of a %d-byte stream", r.StreamOffset(), len(c.stream))
			}
			bad := append([]byte{}, c.stream...)
			bad[len(bad)/2] ^= 1
			br, err := NewLayerReader(bytes.NewReader(bad))
			if err != nil {
				t.Fatal(err)
			}
			defer br.Close()
			for err == nil {
				_, err = br.NextRecord()
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("a damaged stream's records end with %v", err)
			}
		})
	}
}
