package pcomp

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os/exec"
	"runtime"
	"testing"
)

func sample(n int) []byte {
	r := rand.New(rand.NewPCG(3, 4))
	b := make([]byte, n)
	for i := range b {
		if (i/5000)%3 == 0 {
			b[i] = byte(r.IntN(256))
		} else {
			b[i] = byte(i / 7000)
		}
	}
	return b
}

func TestCompressedStreamsRoundTrip(t *testing.T) {
	for _, algo := range []string{None, Gzip, Zstd} {
		for _, size := range []int{0, 1, ChunkSize - 1, ChunkSize, 2*ChunkSize + 12345} {
			in := sample(size)
			var out bytes.Buffer
			w, err := NewWriter(&out, algo, 3)
			if err != nil {
				t.Fatal(err)
			}
			for p := in; len(p) > 0; {
				k := min(len(p), 100000)
				if _, err := w.Write(p[:k]); err != nil {
					t.Fatal(err)
				}
				p = p[k:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			r, err := NewReader(bytes.NewReader(out.Bytes()), algo)
			if err != nil {
				t.Fatalf("%s %d: %v", algo, size, err)
			}
			back, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(back, in) {
				t.Fatalf("%s %d bytes: round trip differs (err %v)", algo, size, err)
			}
		}
	}
}

func TestOutputIsDeterministic(t *testing.T) {
	in := sample(3*ChunkSize + 5)
	var a, b bytes.Buffer
	for _, dst := range []*bytes.Buffer{&a, &b} {
		w, _ := NewWriter(dst, Zstd, 0)
		w.Write(in)
		w.Close()
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two compressions of the same input differ")
	}
}

func TestStandardToolsReadTheOutput(t *testing.T) {
	in := sample(2*ChunkSize + 99)
	for algo, cmd := range map[string][]string{Zstd: {"zstd", "-dc"}, Gzip: {"gzip", "-dc"}} {
		var out bytes.Buffer
		w, _ := NewWriter(&out, algo, 0)
		w.Write(in)
		w.Close()
		c := exec.Command(cmd[0], cmd[1:]...)
		c.Stdin = &out
		got, err := c.Output()
		if err != nil {
			t.Fatalf("%s: %v", cmd[0], err)
		}
		if !bytes.Equal(got, in) {
			t.Errorf("%s decodes something else", cmd[0])
		}
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	f.n++
	if f.n > 1 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestAWriteErrorIsReported(t *testing.T) {
	w, _ := NewWriter(&failWriter{}, Zstd, 2)
	var err error
	for i := 0; i < 20 && err == nil; i++ {
		_, err = w.Write(sample(ChunkSize))
	}
	if cerr := w.Close(); cerr == nil || (err != nil && err.Error() != "disk full") {
		t.Fatalf("write error %v, close error %v", err, cerr)
	}
}

func TestUnknownAlgorithmsAreRefused(t *testing.T) {
	if _, err := NewWriter(io.Discard, "lz4", 1); err == nil {
		t.Error("lz4 accepted")
	}
}

// TestZstdWritersShareTheirEncoder: a new zstd Writer does not allocate
// its block encoders' history again (4 MiB per encoder, per disk of every
// set): the second compression of a small stream allocates at least 3 MiB
// less than the first (what is left is the Writer's own 4 MiB chunk).
func TestZstdWritersShareTheirEncoder(t *testing.T) {
	src := bytes.Repeat([]byte("a shared encoder "), 4096)
	const workers = 7
	encoders.Delete(workers) // as if no Writer of 7 workers had run before
	once := func() uint64 {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		var out bytes.Buffer
		w, err := NewWriter(&out, Zstd, workers)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(src); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&m1)
		r, err := NewReader(&out, Zstd)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, src) {
			t.Fatalf("round trip: %v, %d bytes", err, len(got))
		}
		return m1.TotalAlloc - m0.TotalAlloc
	}
	first, second := once(), once()
	if second+3<<20 > first {
		t.Errorf("the first zstd Writer allocated %d KiB, the second %d KiB: want the second to reuse the encoder", first>>10, second>>10)
	}
}
