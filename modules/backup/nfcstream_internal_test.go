package backup

import (
	"bytes"
	"compress/zlib"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestReadNFCDiskReadsQemuImgStreamOptimized: an image qemu-img writes as
// streamOptimized VMDK (as vSphere's export leases serve disks) reads
// back byte-exact, zeros between the grains; a flat stream reads as it is.
func TestReadNFCDiskReadsQemuImgStreamOptimized(t *testing.T) {
	dir := t.TempDir()
	size := int64(5<<20 + 64<<10)
	img := make([]byte, size)
	rng := rand.New(rand.NewSource(7))
	rng.Read(img[:100<<10])
	rng.Read(img[3<<20 : 3<<20+5])
	rng.Read(img[size-70<<10:])
	raw := filepath.Join(dir, "disk.raw")
	if err := os.WriteFile(raw, img, 0o644); err != nil {
		t.Fatal(err)
	}
	so := filepath.Join(dir, "disk.vmdk")
	if out, err := exec.Command("qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, so).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v\n%s", err, out)
	}
	for _, src := range []string{so, raw} {
		f, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, size)
		if err := readNFCDisk(f, size, func(off int64, p []byte) error { copy(got[off:], p); return nil }); err != nil {
			t.Fatalf("%s: %v", filepath.Base(src), err)
		}
		f.Close()
		if !bytes.Equal(got, img) {
			t.Errorf("%s does not read back as the image", filepath.Base(src))
		}
	}
	f, _ := os.Open(so)
	defer f.Close()
	if err := readNFCDisk(f, size+512, func(int64, []byte) error { return nil }); err == nil {
		t.Error("an export of another size was taken")
	}
}

// TestReadNFCDiskFollowsMarkers: a stream as vSphere's export serves it
// (grain markers, then a grain table, grain directory and footer, each a
// metadata marker with its sectors, and the end-of-stream marker) reads
// as its grains, zeros between, and nothing after the end-of-stream.
func TestReadNFCDiskFollowsMarkers(t *testing.T) {
	const grain = 128 * 512
	size := int64(4 * grain)
	var s bytes.Buffer
	le := func(n int, v uint64) []byte {
		b := make([]byte, n)
		for i := 0; i < n; i++ {
			b[i] = byte(v >> (8 * i))
		}
		return b
	}
	hdr := make([]byte, 512)
	copy(hdr, le(4, 0x564d444b))
	copy(hdr[4:], le(4, 3))
	copy(hdr[8:], le(4, 1|1<<16|1<<17))
	copy(hdr[12:], le(8, uint64(size/512)))
	copy(hdr[20:], le(8, 128))
	copy(hdr[64:], le(8, 1)) // overhead: the header alone
	copy(hdr[77:], le(2, 1))
	s.Write(hdr)
	pad := func() {
		if n := s.Len() % 512; n != 0 {
			s.Write(make([]byte, 512-n))
		}
	}
	want := make([]byte, size)
	rng := rand.New(rand.NewSource(3))
	for _, g := range []int64{1, 3} {
		data := make([]byte, grain)
		rng.Read(data[:1000])
		copy(want[g*grain:], data)
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		zw.Write(data)
		zw.Close()
		s.Write(le(8, uint64(g*128)))
		s.Write(le(4, uint64(z.Len())))
		s.Write(z.Bytes())
		pad()
	}
	meta := func(typ uint32, sectors uint64) {
		m := make([]byte, 512)
		copy(m, le(8, sectors))
		copy(m[12:], le(4, uint64(typ)))
		s.Write(m)
		s.Write(bytes.Repeat([]byte{0xee}, int(sectors)*512)) // tables: not image data
	}
	meta(1, 4)                               // grain table
	meta(2, 1)                               // grain directory
	meta(3, 1)                               // footer
	meta(0, 0)                               // end of stream
	s.Write(bytes.Repeat([]byte{0xff}, 512)) // after the end: never read as a marker
	got := make([]byte, size)
	if err := readNFCDisk(&s, size, func(off int64, p []byte) error { copy(got[off:], p); return nil }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the grains do not read back at their places")
	}
}
