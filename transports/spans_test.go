package transports_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/vmlua/vmlua/internal/spansum"
	"github.com/vmlua/vmlua/transports"
)

func spanData(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// opaque hides bytes.Reader's WriterTo.
type opaque struct{ io.Reader }

func TestUploadWithSpansRecordsTheSpanDigestOfWhatItStored(t *testing.T) {
	data := spanData(2*spansum.Size + 12345)
	want, _ := spansum.Read(bytes.NewReader(data))
	whole := sha256.Sum256(data)
	ctx := context.Background()
	write := map[string]func(*transports.AtomicWriter) (transports.UploadResult, error){
		"Write in 100,000-byte pieces": func(w *transports.AtomicWriter) (transports.UploadResult, error) {
			for p := data; len(p) > 0; p = p[min(len(p), 100_000):] {
				if _, err := w.Write(p[:min(len(p), 100_000)]); err != nil {
					return transports.UploadResult{}, err
				}
			}
			return w.Commit()
		},
		"WriteOwned in 3 MiB pieces, releasing each": func(w *transports.AtomicWriter) (transports.UploadResult, error) {
			var released, given atomic.Int64
			for p := data; len(p) > 0; p = p[min(len(p), 3<<20):] {
				given.Add(1)
				if err := w.WriteOwned(p[:min(len(p), 3<<20)], func() { released.Add(1) }); err != nil {
					return transports.UploadResult{}, err
				}
			}
			res, err := w.Commit()
			if err == nil && released.Load() != given.Load() {
				err = fmt.Errorf("%d of %d pieces released", released.Load(), given.Load())
			}
			return res, err
		},
	}
	for _, wholeToo := range []bool{false, true} {
		opts := transports.UploadOptions{Spans: true, WholeSHA256: wholeToo, ExpectedSize: int64(len(data)), ExpectedRoot: want.Root, Verify: true}
		check := func(t *testing.T, res transports.UploadResult, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			if res.Spans == nil || spansum.Check(*res.Spans, want) != nil || res.Bytes != int64(len(data)) {
				t.Fatalf("result %+v, want spans %+v", res, want)
			}
			if wantSum := hex.EncodeToString(whole[:]); wholeToo && res.SHA256 != wantSum || !wholeToo && res.SHA256 != "" {
				t.Fatalf("sha256 %q with WholeSHA256=%v", res.SHA256, wholeToo)
			}
		}
		t.Run("Upload", func(t *testing.T) {
			base, dir := newFile(t)
			res, err := transports.Upload(ctx, base, "f", opaque{bytes.NewReader(data)}, opts)
			check(t, res, err)
			if got := readAll(t, dir+"/f"); !bytes.Equal(got, data) {
				t.Fatal("the stored bytes differ")
			}
		})
		for name, fn := range write {
			t.Run(name, func(t *testing.T) {
				base, _ := newFile(t)
				w, err := transports.CreateAtomic(ctx, base, "f", opts)
				if err != nil {
					t.Fatal(err)
				}
				defer w.Abort()
				res, err := fn(w)
				check(t, res, err)
			})
		}
	}
}

func TestUploadWithSpansRefusesAWrongRootAndLeavesNothing(t *testing.T) {
	base, _ := newFile(t)
	data := spanData(spansum.Size + 1)
	_, err := transports.Upload(context.Background(), base, "f", bytes.NewReader(data), transports.UploadOptions{Spans: true, ExpectedRoot: strings.Repeat("0", 64)})
	if err == nil || !strings.Contains(err.Error(), "span root") {
		t.Fatalf("Upload: %v", err)
	}
	if got := entries(t, base); len(got) != 0 {
		t.Fatalf("the target holds %q", got)
	}
}

// alters flips one byte of what Open returns at offset at.
type alters struct {
	transports.Transport
	at int64
}

func (a alters) Open(ctx context.Context, p string, off int64) (io.ReadCloser, error) {
	r, err := a.Transport.Open(ctx, p, off)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(r)
	r.Close()
	if int64(len(b)) > a.at-off {
		b[a.at-off] ^= 0xff
	}
	return io.NopCloser(bytes.NewReader(b)), err
}

func TestVerifyWithSpansNamesTheSpanTheTargetAltered(t *testing.T) {
	base, _ := newFile(t)
	tr := alters{base, spansum.Size + 7}
	_, err := transports.Upload(context.Background(), tr, "f", bytes.NewReader(spanData(3*spansum.Size)), transports.UploadOptions{Spans: true, Verify: true})
	if err == nil || !strings.Contains(err.Error(), "span 1 (bytes 4194304 to 8388607)") {
		t.Fatalf("Upload: %v", err)
	}
	if got := entries(t, base); len(got) != 0 {
		t.Fatalf("the target holds %q", got)
	}
}

func TestUploadWithSpansLeavesNothingWhenTheSourceFails(t *testing.T) {
	base, _ := newFile(t)
	src := io.MultiReader(bytes.NewReader(spanData(5<<20)), &errReader{errors.New("boom")})
	if _, err := transports.Upload(context.Background(), base, "f", src, transports.UploadOptions{Spans: true}); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Upload: %v", err)
	}
	if got := entries(t, base); len(got) != 0 {
		t.Fatalf("the target holds %q", got)
	}
}

func readAll(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// holdWrites is a transport whose writers block in Write until proceed
// is closed, after saying so on entered.
type holdWrites struct {
	transports.Transport
	entered chan struct{}
	proceed chan struct{}
}

func (h *holdWrites) Create(ctx context.Context, p string) (transports.Writer, error) {
	w, err := h.Transport.Create(ctx, p)
	return &heldWriter{Writer: w, h: h}, err
}

type heldWriter struct {
	transports.Writer
	h    *holdWrites
	once bool
}

func (w *heldWriter) Write(p []byte) (int, error) {
	if !w.once {
		w.once = true
		close(w.h.entered)
		<-w.h.proceed
	}
	return w.Writer.Write(p)
}

// TestWriteOwnedReleasesTheBufferOnlyOnceTheTargetHasIt: the hash of a
// span may end before the target has taken its bytes; the buffer goes back
// to the caller (who reuses it for the next GET) only after both.
func TestWriteOwnedReleasesTheBufferOnlyOnceTheTargetHasIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base, _ := newFile(t)
		h := &holdWrites{Transport: base, entered: make(chan struct{}), proceed: make(chan struct{})}
		w, err := transports.CreateAtomic(context.Background(), h, "f", transports.UploadOptions{Spans: true})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Abort()
		var released atomic.Bool
		wrote := make(chan error)
		go func() { wrote <- w.WriteOwned(spanData(1<<20), func() { released.Store(true) }) }()
		<-h.entered
		synctest.Wait() // the span is hashed; the target still writes
		if released.Load() {
			t.Fatal("the buffer was released while the target was still writing it")
		}
		close(h.proceed)
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
		if _, err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		if !released.Load() {
			t.Fatal("the buffer was never released")
		}
	})
}
