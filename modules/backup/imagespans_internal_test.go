package backup

import (
	"bytes"
	"crypto/sha256"
	"math/rand"
	"testing"

	"github.com/vmlua/vmlua/internal/dsread"
	"github.com/vmlua/vmlua/modules/backup/catalog"
)

// TestSpanDigesterMatchesTheImage: however an image arrives (data and
// zero runs of any length, across span boundaries, zeros given as data),
// each span's digest is its bytes' sha256 (first 128 bits), "0" for a
// span of zeros, and the last span may be short.
func TestSpanDigesterMatchesTheImage(t *testing.T) {
	size := int64(3*imageSpanSize + 12345)
	img := make([]byte, size)
	rng := rand.New(rand.NewSource(1))
	rng.Read(img[100 : 1<<20])                           // span 0: data
	rng.Read(img[2*imageSpanSize+5 : 2*imageSpanSize+9]) // span 2: a few bytes
	// span 1 is zeros; span 3 (short) is data at its end
	rng.Read(img[size-100:])
	for _, mode := range []string{"plain", "filter"} {
		t.Run(mode, func(t *testing.T) {
			var emitted []string
			var emit func(int, string, []byte, bool) error
			if mode == "filter" {
				emit = func(idx int, digest string, span []byte, zero bool) error {
					emitted = append(emitted, digest)
					if zero != (digest == catalog.ImageSpanZero) {
						t.Errorf("span %d: zero=%v, digest %s", idx, zero, digest)
					}
					return nil
				}
			}
			d := newSpanDigester(size, emit)
			for pos := int64(0); pos < size; {
				n := min(int64(rng.Intn(3<<20)+1), size-pos)
				chunk := img[pos : pos+n]
				if bytes.Count(chunk, []byte{0}) == len(chunk) && rng.Intn(2) == 0 {
					if err := d.Zero(n); err != nil {
						t.Fatal(err)
					}
				} else if _, err := d.Write(chunk); err != nil {
					t.Fatal(err)
				}
				pos += n
			}
			got := d.Digests()
			for i := range got {
				end := min(int64(i+1)*imageSpanSize, size)
				span := img[int64(i)*imageSpanSize : end]
				want := imageSpanDigest(sha256.Sum256(span), len(span))
				if got[i] != want {
					t.Errorf("span %d: %s, want %s", i, got[i], want)
				}
			}
			if got[1] != catalog.ImageSpanZero || got[0] == catalog.ImageSpanZero {
				t.Errorf("digests %v", got)
			}
			if mode == "filter" && len(emitted) != 4 {
				t.Errorf("emitted %d spans", len(emitted))
			}
		})
	}
}

// TestCarriedSpans: an incremental keeps its parent's digests of the
// spans no changed area touches and marks the others unknown.
func TestCarriedSpans(t *testing.T) {
	parent := []string{"a", "b", "0", "d"}
	size := int64(4 * imageSpanSize)
	got := carriedSpans(parent, size, []dsread.Area{{Off: imageSpanSize - 1, End: imageSpanSize + 1}, {Off: 3 * imageSpanSize, End: 3*imageSpanSize + 1}})
	if want := []string{"?", "?", "0", "?"}; len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Errorf("carried %v, want %v", got, want)
	}
	if carriedSpans(parent[:3], size, nil) != nil {
		t.Error("a parent of another size must give no digests")
	}
}

// BenchmarkSpanDigester is the digests' cost on a full backup's stream
// (data in 8 MiB reads, as dsread.MaxSpan).
func BenchmarkSpanDigester(b *testing.B) {
	buf := make([]byte, dsread.MaxSpan)
	rand.New(rand.NewSource(1)).Read(buf)
	const size = 256 << 20
	b.SetBytes(size)
	for i := 0; i < b.N; i++ {
		d := newSpanDigester(size, nil)
		for pos := 0; pos < size; pos += len(buf) {
			if _, err := d.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		if d.Digests() == nil {
			b.Fatal("no digests")
		}
	}
}
