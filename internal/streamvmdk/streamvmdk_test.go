package streamvmdk

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// image returns a disk image with data in some grains, zeros elsewhere, a
// partial last grain when size says so.
func image(size int64, seed int64) []byte {
	r := rand.New(rand.NewSource(seed))
	img := make([]byte, size)
	for off := int64(0); off < size; off += 4096 {
		if r.Intn(3) == 0 {
			r.Read(img[off:min(size, off+4096)])
		}
	}
	return img
}

func write(t *testing.T, img []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, int64(len(img)), "")
	if err != nil {
		t.Fatal(err)
	}
	for p := img; len(p) > 0; {
		n := min(len(p), 7777) // writes need not be grain-aligned
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTripAndQemuReadsIt(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int64
	}{
		{"one grain", GrainSize},
		{"a partial last grain", 3*GrainSize + 5*SectorSize},
		{"more than one grain table", 40 << 20},
		{"all zeros", 2 * GrainSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := image(tc.size, tc.size)
			if tc.name == "all zeros" {
				img = make([]byte, tc.size)
			}
			stream := write(t, img)
			r, err := NewReader(bytes.NewReader(stream))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, img) {
				t.Fatalf("read back %d bytes (%v), equal %v", len(got), err, bytes.Equal(got, img))
			}
			// qemu-img reads what Writer writes
			dir := t.TempDir()
			in, out := filepath.Join(dir, "disk.vmdk"), filepath.Join(dir, "disk.raw")
			os.WriteFile(in, stream, 0o644)
			if b, err := exec.Command("qemu-img", "convert", "-f", "vmdk", "-O", "raw", in, out).CombinedOutput(); err != nil {
				t.Fatalf("qemu-img convert: %v\n%s", err, b)
			}
			raw, _ := os.ReadFile(out)
			if !bytes.Equal(raw, img) {
				t.Fatalf("qemu-img read %d bytes, not the image", len(raw))
			}
			// and Reader reads what qemu-img writes
			if b, err := exec.Command("qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", out, in).CombinedOutput(); err != nil {
				t.Fatalf("qemu-img convert: %v\n%s", err, b)
			}
			f, _ := os.Open(in)
			defer f.Close()
			r, err = NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err = io.ReadAll(r)
			if err != nil || !bytes.Equal(got, img[:len(got)]) || int64(len(got)) != r.Capacity() {
				t.Fatalf("qemu-img's stream read back as %d bytes (%v)", len(got), err)
			}
		})
	}
}

func TestAStreamCutShortIsAnError(t *testing.T) {
	stream := write(t, image(4*GrainSize, 1))
	for _, cut := range []int{100, 600, len(stream) - 512, len(stream) - 1} {
		r, err := NewReader(bytes.NewReader(stream[:cut]))
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if !errors.Is(err, ErrFormat) {
			t.Errorf("cut at %d of %d: %v, want ErrFormat", cut, len(stream), err)
		}
	}
}
