package spancrypt_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/pcomp"
	"github.com/vmlua/vmlua/internal/spancrypt"
)

// image is a compressible disk image piece (words and numbers, one 64 KiB
// block in eight zero), as pcomp's pipeline benchmark uses.
func image() []byte {
	words := strings.Fields("the quick brown fox jumps over a lazy dog while seven backup sets of DB01 wait on LocalDS_0 for their catalog and snapshot to finish")
	r := rand.New(rand.NewPCG(5, 6))
	var sb strings.Builder
	for sb.Len() < 4<<20+64<<10 {
		sb.WriteString(words[r.IntN(len(words))])
		sb.WriteString(strconv.Itoa(r.IntN(1000)))
		sb.WriteByte(' ')
	}
	b := []byte(sb.String())[:4<<20+64<<10]
	for i := 3 << 16; i < len(b); i += 8 << 16 {
		clear(b[i:min(i+1<<16, len(b))])
	}
	return b
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// counter counts and drops what is written.
type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// BenchmarkEncryptionCost measures, in one run on 128 MiB of image, the
// CPU per GiB of image of: zstd (pcomp on every core, as a backup
// compresses), the encryption of zstd's output (what encryption adds to
// a zstd backup: compress, then encrypt), the encryption of the image
// uncompressed (compress="none"), and the decryption of the encrypted
// zstd output (what a restore adds).
func BenchmarkEncryptionCost(b *testing.B) {
	img := image()
	const size = 128 << 20
	key := spancrypt.NewDataKey()
	feed := func(w io.Writer) {
		for n := 0; n < size; {
			k := min(len(img), size-n)
			if _, err := w.Write(img[:k]); err != nil {
				b.Fatal(err)
			}
			n += k
		}
	}
	// zstd's output and it encrypted, made once outside the times (into
	// memory: what is timed writes to a counter, as a backup to a target)
	var compressed, sealed []byte
	{
		var out appendTo
		cw, err := pcomp.NewWriter(&out, pcomp.Zstd, 0)
		if err != nil {
			b.Fatal(err)
		}
		feed(cw)
		if err := cw.Close(); err != nil {
			b.Fatal(err)
		}
		compressed = out.b
		if sealed, err = sealOf(compressed, key); err != nil {
			b.Fatal(err)
		}
	}
	zstdOnly := func() {
		cw, err := pcomp.NewWriter(&counter{}, pcomp.Zstd, 0)
		if err != nil {
			b.Fatal(err)
		}
		feed(cw)
		if err := cw.Close(); err != nil {
			b.Fatal(err)
		}
	}
	encCompressed := func() {
		ew, err := spancrypt.NewWriter(&counter{}, key, "disk.vls.zst")
		if err != nil {
			b.Fatal(err)
		}
		// in pieces of about a zstd frame's size, as pcomp's collector
		// hands them on
		for p := compressed; len(p) > 0; {
			k := min(len(p), 1<<20)
			if _, err := ew.Write(p[:k]); err != nil {
				b.Fatal(err)
			}
			p = p[k:]
		}
		if err := ew.Close(); err != nil {
			b.Fatal(err)
		}
	}
	encRaw := func() {
		ew, err := spancrypt.NewWriter(&counter{}, key, "disk.vls")
		if err != nil {
			b.Fatal(err)
		}
		feed(ew)
		if err := ew.Close(); err != nil {
			b.Fatal(err)
		}
	}
	dec := func() {
		r, err := spancrypt.NewReader(bytes.NewReader(sealed), key, "disk.vls.zst")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
	var cpu [4]time.Duration
	for b.Loop() {
		for i, fn := range []func(){zstdOnly, encCompressed, encRaw, dec} {
			runtime.GC()
			c0 := cpuNow()
			fn()
			cpu[i] += cpuNow() - c0
		}
	}
	gib := float64(b.N) * size / (1 << 30)
	msGiB := func(d time.Duration) float64 { return float64(d.Milliseconds()) / gib }
	b.ReportMetric(msGiB(cpu[0]), "zstd-cpu-ms/GiB")
	b.ReportMetric(msGiB(cpu[1]), "enc-zstd-cpu-ms/GiB")
	b.ReportMetric(msGiB(cpu[2]), "enc-raw-cpu-ms/GiB")
	b.ReportMetric(msGiB(cpu[3]), "dec-cpu-ms/GiB")
	b.ReportMetric(float64(len(compressed))/float64(size), "zstd/image")
	b.ReportMetric(float64(len(sealed))/float64(len(compressed)), "sealed/zstd")
}

// sealOf is b encrypted.
func sealOf(b, key []byte) ([]byte, error) {
	var out appendTo
	ew, err := spancrypt.NewWriter(&out, key, "disk.vls.zst")
	if err == nil {
		_, err = ew.Write(b)
	}
	if err == nil {
		err = ew.Close()
	}
	return out.b, err
}

type appendTo struct{ b []byte }

func (a *appendTo) Write(p []byte) (int, error) { a.b = append(a.b, p...); return len(p), nil }
