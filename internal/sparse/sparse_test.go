package sparse

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/spansum"
)

// image builds a test image: data where pattern says 'D', zeros elsewhere,
// in units of unit bytes.
func image(pattern string, unit int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b []byte
	for _, c := range pattern {
		chunk := make([]byte, unit)
		if c == 'D' {
			for i := range chunk {
				chunk[i] = byte(r.IntN(255) + 1)
			}
		}
		b = append(b, chunk...)
	}
	return b
}

func encode(t *testing.T, img []byte, knownZero bool, step int) ([]byte, Stats, string) {
	t.Helper()
	return encodeAs(t, Magic, img, knownZero, step)
}

// encodeAs encodes img as a stream that starts with magic (any version).
func encodeAs(t *testing.T, magic string, img []byte, knownZero bool, step int) ([]byte, Stats, string) {
	t.Helper()
	var out bytes.Buffer
	w := newWriter(&out, int64(len(img)), magic)
	for off := 0; off < len(img); {
		n := min(step, len(img)-off)
		p := img[off : off+n]
		if knownZero && isZero(p) {
			if err := w.Zero(int64(n)); err != nil {
				t.Fatal(err)
			}
		} else if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		off += n
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), w.Stats(), w.Sum()
}

func TestStreamsRoundTripAndAreCanonical(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pattern string
		unit    int
	}{
		{"an empty image", "", 1},
		{"an image of zeros only", "ZZZZ", BlockSize},
		{"an image of data only", "DDDDDDDDDDDDDDDDDDDD", BlockSize},
		{"alternating blocks", "DZDZZDDZ", BlockSize},
		{"an image whose size is not a multiple of the block", "DZD", 1000},
		{"small runs inside blocks", "DZZZZZZZZZZZZZZZZZZZZZZZZZD", 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := image(tc.pattern, tc.unit)
			ref, st, sum := encode(t, img, false, 1<<20)
			for _, step := range []int{1, 4096, 7777, BlockSize, 3 * BlockSize} {
				for _, kz := range []bool{false, true} {
					got, _, gsum := encode(t, img, kz, step)
					if !bytes.Equal(got, ref) || gsum != sum {
						t.Fatalf("step %d knownZero %v: the stream differs from the one written in 1 MiB steps", step, kz)
					}
				}
			}
			if st.DataBytes+st.ZeroBytes != int64(len(img)) {
				t.Errorf("stats %+v do not add up to %d", st, len(img))
			}
			r, err := NewReader(bytes.NewReader(ref))
			if err != nil {
				t.Fatal(err)
			}
			back, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back, img) {
				t.Fatal("decoded image differs")
			}
			if r.Sum() != sum {
				t.Errorf("reader sum %s, writer sum %s", r.Sum(), sum)
			}
		})
	}
}

func TestZeroRegionsAreNotStored(t *testing.T) {
	img := image("D"+string(bytes.Repeat([]byte("Z"), 200)), BlockSize)
	out, st, _ := encode(t, img, false, 1<<20)
	if len(out) > 2*BlockSize {
		t.Errorf("a %d-byte image with one data block took %d bytes", len(img), len(out))
	}
	if st.ZeroBytes != 200*BlockSize {
		t.Errorf("zero bytes %d", st.ZeroBytes)
	}
}

func TestDamagedStreamsAreDetected(t *testing.T) {
	img := image("DZDD", BlockSize)
	good, _, _ := encode(t, img, false, 1<<20)
	flip := append([]byte{}, good...)
	flip[100] ^= 1
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"a truncated stream", good[:len(good)/2]},
		{"a stream without its trailer", good[:len(good)-40]},
		{"an altered byte", flip},
		{"extra bytes after the trailer", append(append([]byte{}, good...), 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tc.b))
			if err == nil {
				_, err = io.ReadAll(r)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestWriterRefusesAShortOrLongImage(t *testing.T) {
	w := NewWriter(io.Discard, 10)
	w.Write(make([]byte, 5))
	if err := w.Close(); err == nil {
		t.Error("a short image was accepted")
	}
	w = NewWriter(io.Discard, 10)
	if _, err := w.Write(make([]byte, 11)); err == nil {
		t.Error("a long image was accepted")
	}
}

// applyDelta writes a delta of next over prev: the ranges in changed
// (unaligned) are given, the rest kept.
func applyDelta(t *testing.T, magic string, next []byte, changed [][2]int) []byte {
	t.Helper()
	var out bytes.Buffer
	w := newWriter(&out, int64(len(next)), magic)
	pos := 0
	for _, c := range changed {
		if err := w.Keep(int64(c[0] - pos)); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(next[c[0]:c[1]]); err != nil {
			t.Fatal(err)
		}
		pos = c[1]
	}
	if err := w.Keep(int64(len(next) - pos)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestMergeRebuildsEveryPointOfAChain: the chain mixes stream versions
// (a full of version 1 continued by deltas of both), as a chain begun by
// an earlier vmlua is.
func TestMergeRebuildsEveryPointOfAChain(t *testing.T) {
	base := image("DDZZDZDDDDZZZZDZ", 64<<10)
	full, _, _ := encodeAs(t, MagicV1, base, false, 1<<20)
	layers := [][]byte{full}
	points := [][]byte{base}
	cur := append([]byte{}, base...)
	for i, ch := range [][][2]int{
		{{100, 5000}, {70000, 70001}},
		{{0, 4096}, {200000, 400000}},                 // zeros and data across blocks
		{{len(base) - 10, len(base)}},                 // the tail
		{{65536 * 2, 65536 * 4}, {65536 * 9, 655360}}, // a zero region gets data; data gets zeros
	} {
		next := append([]byte{}, cur...)
		for j, c := range ch {
			for k := c[0]; k < c[1]; k++ {
				if (i+j)%2 == 1 {
					next[k] = 0
				} else {
					next[k] = byte(k*7 + i + 1)
				}
			}
		}
		layers = append(layers, applyDelta(t, []string{DeltaMagic, DeltaMagicV1}[i%2], next, ch))
		points = append(points, next)
		cur = next
	}
	for p := range points {
		var rs []*Reader
		for _, l := range layers[:p+1] {
			r, err := NewLayerReader(bytes.NewReader(l))
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, r)
		}
		m, err := Merge(rs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(m)
		if err != nil {
			t.Fatalf("point %d: %v", p, err)
		}
		if !bytes.Equal(got, points[p]) {
			t.Fatalf("point %d: the merged image differs", p)
		}
	}
	// a delta is not a full image, and a damaged delta fails the merge
	if _, err := NewReader(bytes.NewReader(layers[1])); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("NewReader of a delta: %v", err)
	}
	bad := append([]byte{}, layers[2]...)
	bad[40] ^= 1
	r0, _ := NewLayerReader(bytes.NewReader(layers[0]))
	r1, _ := NewLayerReader(bytes.NewReader(layers[1]))
	r2, _ := NewLayerReader(bytes.NewReader(bad))
	m, _ := Merge([]*Reader{r0, r1, r2})
	if _, err := io.Copy(io.Discard, m); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("merge with a damaged layer: %v", err)
	}
}

// TestEachVersionsTrailerHoldsItsDigest: a version 2 stream's trailer (and
// Sum) is the root of the span digest of every byte before the digest
// (the trailer's tag and size included), a version 1 stream's their
// sha256; the Reader reads both, checks
// each against its own digest and names the version.
func TestEachVersionsTrailerHoldsItsDigest(t *testing.T) {
	img := image("DDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDDZZD", 128<<10) // 13 MiB: four spans
	for _, tc := range []struct {
		magic   string
		version int
		delta   bool
		digest  func(b []byte) string
	}{
		{Magic, 2, false, func(b []byte) string { d, _ := spansum.Read(bytes.NewReader(b)); return d.Root }},
		{DeltaMagic, 2, true, func(b []byte) string { d, _ := spansum.Read(bytes.NewReader(b)); return d.Root }},
		{MagicV1, 1, false, func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }},
		{DeltaMagicV1, 1, true, func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }},
	} {
		t.Run(tc.magic, func(t *testing.T) {
			out, _, sum := encodeAs(t, tc.magic, img, false, 1<<20)
			body := out[:len(out)-32] // the trailer: 'E', the size, the digest of what precedes it
			if want := tc.digest(body); sum != want || hex.EncodeToString(out[len(out)-32:]) != want {
				t.Fatalf("Sum %s, trailer %x, want %s", sum, out[len(out)-32:], want)
			}
			r, err := NewLayerReader(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.Version() != tc.version || r.IsDelta() != tc.delta {
				t.Errorf("version %d delta %v, want %d %v", r.Version(), r.IsDelta(), tc.version, tc.delta)
			}
			if err := r.Verify(); err != nil {
				t.Fatal(err)
			}
			if r.Sum() != sum {
				t.Errorf("reader sum %s, writer sum %s", r.Sum(), sum)
			}
			bad := append([]byte{}, out...)
			bad[len(body)-20] ^= 1 // data in the last span
			r, err = NewLayerReader(bytes.NewReader(bad))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := r.Verify(); !errors.Is(err, ErrCorrupt) {
				t.Errorf("a flipped byte in the last span: %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestAbandonedStreamsLeaveNoGoroutine: a version 2 checksum hashes on
// goroutines of its own; a Writer closed short and a Reader closed before
// its end stop them.
func TestAbandonedStreamsLeaveNoGoroutine(t *testing.T) {
	img := image("DDDDDDDDDD", 1<<20)
	full, _, _ := encode(t, img, false, 1<<20)
	settle := func() int {
		n := runtime.NumGoroutine()
		for range 50 { // up to 0.5 s
			time.Sleep(10 * time.Millisecond)
			if m := runtime.NumGoroutine(); m == n {
				return n
			} else {
				n = m
			}
		}
		return n
	}
	before := settle()
	for range 20 {
		w := NewWriter(io.Discard, int64(len(img)))
		w.Write(img[:len(img)/2])
		if err := w.Close(); err == nil {
			t.Fatal("a short image closed without error")
		}
		r, err := NewReader(bytes.NewReader(full))
		if err != nil {
			t.Fatal(err)
		}
		io.CopyN(io.Discard, r, int64(len(img)/2))
		r.Close()
	}
	if after := settle(); after > before {
		t.Errorf("goroutines %d before, %d after 20 abandoned streams", before, after)
	}
}
