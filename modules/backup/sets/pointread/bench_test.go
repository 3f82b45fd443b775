package pointread

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/vmlua/vmlua/internal/pcomp"
)

// BenchmarkSequentialRead reads a point (a full and an incremental, zstd)
// of a disk in order, 256 KiB at a time, once indexed: what vmlua serve
// nbd does for nbdcopy (bench figure 12); a disk of 64 MiB, whose decoded
// data fits the default cache, and one of 256 MiB, which does not (every
// pass reads, checks and decodes every frame again).
func BenchmarkSequentialRead(b *testing.B) {
	for _, size := range []int64{64 << 20, 256 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) { benchSequentialRead(b, size) })
	}
}

func benchSequentialRead(b *testing.B, size int64) {
	c := newChain(b, pcomp.Zstd)
	img := testImage(size, 1)
	c.add(img, nil)
	img2, ch := evolve(img, 1)
	c.add(img2, ch)
	d, err := Open(context.Background(), c.ft, c.sets[1], "scsi0:0", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Wait(context.Background()); err != nil {
		b.Fatal(err)
	}
	p := make([]byte, 256<<10)
	b.SetBytes(d.Size())
	b.ResetTimer()
	for b.Loop() {
		for off := int64(0); off < d.Size(); off += int64(len(p)) {
			if _, err := d.ReadAt(p, off); err != nil && err != io.EOF {
				b.Fatal(err)
			}
		}
	}
}
