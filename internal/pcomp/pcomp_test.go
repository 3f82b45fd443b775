package pcomp

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os/exec"
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
