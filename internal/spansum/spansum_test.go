package spansum

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// byHand is the digest as doc.go's shell line computes it.
func byHand(b []byte) Digest {
	d := Digest{Bytes: int64(len(b))}
	root := sha256.New()
	for off := 0; off < len(b); off += Size {
		s := sha256.Sum256(b[off:min(off+Size, len(b))])
		root.Write(s[:])
		d.Spans = append(d.Spans, hex.EncodeToString(s[:]))
	}
	d.Root = hex.EncodeToString(root.Sum(nil))
	return d
}

func data(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestTheDigestIsEachSpansSHA256AndTheRootOverThemWhateverTheWriteSizes(t *testing.T) {
	for _, n := range []int{0, 1, Size - 1, Size, Size + 1, 3*Size + 12345} {
		b := data(n)
		want := byHand(b)
		for _, w := range []int{1 << 10, 100_003, 1 << 20, Size, 3 * Size} {
			h := New()
			for off := 0; off < len(b); off += w {
				if w%2 == 0 {
					h.Add(b[off:min(off+w, len(b))], nil)
				} else {
					h.Write(b[off:min(off+w, len(b))])
				}
			}
			if got := h.Sum(); Check(got, want) != nil || got.Root != want.Root || len(got.Spans) != Spans(int64(n)) {
				t.Fatalf("%d bytes in writes of %d: %+v, want %+v", n, w, got, want)
			}
		}
		got, err := Read(bytes.NewReader(b))
		if err != nil || Check(got, want) != nil {
			t.Fatalf("Read of %d bytes: %v %v", n, got, err)
		}
		if r, err := RootOf(want.Spans); err != nil || r != want.Root {
			t.Fatalf("RootOf: %s %v, want %s", r, err, want.Root)
		}
	}
}

func TestEmptyStreamHasNoSpansAndTheRootOfNothing(t *testing.T) {
	d := New().Sum()
	if d.Bytes != 0 || len(d.Spans) != 0 || d.Root != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatalf("%+v", d)
	}
}

func TestAddCallsItsReleaseOnceEveryPieceIsHashed(t *testing.T) {
	b := data(2*Size + 7)
	h := New()
	calls := make(chan struct{}, 4)
	h.Add(b[:Size/2], func() { calls <- struct{}{} })
	h.Add(b[Size/2:], func() { calls <- struct{}{} }) // spans three spans
	h.Sum()
	if len(calls) != 2 {
		t.Fatalf("%d releases, want 2", len(calls))
	}
}

func TestCheckNamesTheFirstAlteredSpanByItsOffsets(t *testing.T) {
	b := data(3 * Size)
	want := byHand(b)
	b[2*Size+5] ^= 1
	got := byHand(b)
	err := Check(got, want)
	if err == nil || !strings.Contains(err.Error(), "span 2 (bytes 8388608 to 12582911)") {
		t.Fatalf("Check: %v", err)
	}
	short := byHand(b[:Size])
	if err := Check(short, want); err == nil || !strings.Contains(err.Error(), "4194304 bytes in 1 spans, expected 12582912 bytes in 3 spans") {
		t.Fatalf("Check of a truncated stream: %v", err)
	}
	if _, err := RootOf([]string{"zz"}); err == nil {
		t.Fatal("RootOf took a digest that is not hex")
	}
}

// BenchmarkHash reports the CPU and wall time of digesting 256 MiB given in
// 1 MiB buffers (the transports' pipeline), 12 in flight; run it with
// -cpu 1,2 for the speed-up more cores give.
func BenchmarkHash(b *testing.B) {
	buf := data(1 << 20)
	b.SetBytes(256 << 20)
	for b.Loop() {
		h := New()
		free := make(chan struct{}, 12)
		for range 12 {
			free <- struct{}{}
		}
		for range 256 {
			<-free
			h.Add(buf, func() { free <- struct{}{} })
		}
		h.Sum()
	}
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
}

// BenchmarkSHA256 is one whole-stream sha256 of the same bytes, for
// comparison.
func BenchmarkSHA256(b *testing.B) {
	buf := data(1 << 20)
	b.SetBytes(256 << 20)
	for b.Loop() {
		h := sha256.New()
		for range 256 {
			h.Write(buf)
		}
		h.Sum(nil)
	}
}

func TestWriteAndAddMixedKeepTheStreamsOrder(t *testing.T) {
	b := data(3*Size + 999)
	h := New()
	for i, off := 0, 0; off < len(b); i++ {
		n := min([]int{700_000, 3 << 20, 12345}[i%3], len(b)-off)
		if i%2 == 0 {
			h.Write(b[off : off+n])
		} else {
			h.Add(b[off:off+n], nil)
		}
		off += n
		if h.Len() != int64(off) {
			t.Fatalf("Len %d after %d bytes", h.Len(), off)
		}
	}
	if err := Check(h.Sum(), byHand(b)); err != nil {
		t.Fatal(err)
	}
}
