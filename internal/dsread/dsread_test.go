package dsread

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vmlua/vmlua/internal/vmdk"
)

// word is what the fake datastore holds at image offset off (a multiple
// of 8): off itself, so that a span handed on out of its place shows.
func fill(p []byte, img int64) {
	for i := 0; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], uint64(img+int64(i)))
	}
}

func check(p []byte, img int64) error {
	for i := 0; i+8 <= len(p); i += 8 {
		if got := int64(binary.LittleEndian.Uint64(p[i:])); got != img+int64(i) {
			return fmt.Errorf("at image offset %d: bytes of offset %d", img+int64(i), got)
		}
	}
	return nil
}

// fake is a datastore whose GETs take the time delay says and fail with
// fail's error; it counts the GETs running.
type fake struct {
	delay             func(i int, s Span) time.Duration
	fail              func(s Span) error
	index             map[int64]int // span Img -> index
	active            atomic.Int64
	mu                sync.Mutex
	maxBig, maxSmall_ int64
	big, small        int64
	gets              int64
}

func (f *fake) client(spans []Span) *Client {
	f.index = map[int64]int{}
	for i, s := range spans {
		f.index[s.Img] = i
	}
	return &Client{get: f.get}
}

func (f *fake) get(ctx context.Context, s Span, p []byte) error {
	f.active.Add(1)
	defer f.active.Add(-1)
	f.mu.Lock()
	f.gets++
	if s.N < smallSpan {
		f.small++
		f.maxSmall_ = max(f.maxSmall_, f.small)
		defer func() { f.mu.Lock(); f.small--; f.mu.Unlock() }()
	} else {
		f.big++
		f.maxBig = max(f.maxBig, f.big)
		defer func() { f.mu.Lock(); f.big--; f.mu.Unlock() }()
	}
	f.mu.Unlock()
	if int64(len(p)) != s.N {
		return fmt.Errorf("a buffer of %d bytes for a span of %d", len(p), s.N)
	}
	var d time.Duration
	if f.delay != nil {
		d = f.delay(f.index[s.Img], s)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	if f.fail != nil {
		if err := f.fail(s); err != nil {
			return err
		}
	}
	fill(p, s.Img)
	return nil
}

const MiB = 1 << 20

// testDisk is two extents, big and small areas, an area across the
// extents' boundary.
func testDisk() ([]vmdk.Extent, []Area) {
	ext := []vmdk.Extent{{File: "a-s001.vmdk", Bytes: 37 * MiB}, {File: "a-s002.vmdk", Bytes: 9*MiB + 64<<10}}
	areas := []Area{{0, 20 * MiB}}
	for k := int64(0); k < 40; k++ {
		off := 20*MiB + 4096 + k*(64<<10)
		areas = append(areas, Area{off, off + 4096*(1+k%3)})
	}
	areas = append(areas, Area{30 * MiB, 46*MiB + 64<<10})
	return ext, areas
}

func TestSpansCutAreasIntoExtentsInImageOrder(t *testing.T) {
	ext, areas := testDisk()
	spans := Spans(ext, areas, MaxSpan)
	var want, got int64
	for _, a := range areas {
		want += a.End - a.Off
	}
	prev := int64(-1)
	for _, s := range spans {
		got += s.N
		if s.N <= 0 || s.N > MaxSpan {
			t.Errorf("span %+v: %d bytes", s, s.N)
		}
		if s.Img <= prev {
			t.Errorf("span %+v comes after image offset %d", s, prev)
		}
		prev = s.Img
		base := int64(0)
		if s.File == ext[1].File {
			base = ext[0].Bytes
		}
		if s.Img != base+s.Off || s.Off+s.N > s.Size || s.Size != map[string]int64{ext[0].File: ext[0].Bytes, ext[1].File: ext[1].Bytes}[s.File] {
			t.Errorf("span %+v does not lie in its extent", s)
		}
	}
	if got != want {
		t.Errorf("spans hold %d bytes, the areas %d", got, want)
	}
	// the area across the boundary ends the first extent and starts the second
	if last := spans[len(spans)-1]; last.File != ext[1].File || last.Off+last.N != ext[1].Bytes {
		t.Errorf("last span %+v", last)
	}
	if s := Spans(ext, []Area{{0, ext[0].Bytes + ext[1].Bytes}}, 0); len(s) != 5+2 {
		t.Errorf("a whole 37 MiB + 9 MiB disk gives %d spans of at most MaxSpan, want 7", len(s))
	}
	if s := Spans(ext, []Area{{0, ext[0].Bytes + ext[1].Bytes}}, 2*MiB); len(s) != 19+5 || s[18].N != MiB || s[23].N != MiB+64<<10 {
		t.Errorf("a whole 37 MiB + 9 MiB disk gives %d spans of at most 2 MiB, want 24, the extents ending in 1 MiB and 1 MiB + 64 KiB", len(s))
	}
}

// TestReadSpansHandsOnInOrderAndLeavesNothingRunning makes later spans
// arrive first: ReadSpans must still hand them on in image order, keep its
// limits of GETs in flight, and have no GET running when it returns, after
// success and after every kind of failure.
func TestReadSpansHandsOnInOrderAndLeavesNothingRunning(t *testing.T) {
	ext, areas := testDisk()
	spans := Spans(ext, areas, MaxSpan)
	// later spans are faster: a reader that hands on what arrives first
	// hands on the wrong span
	reverse := func(i int, s Span) time.Duration { return time.Duration(len(spans)-i) * time.Millisecond }
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		forward bool // earlier spans are faster instead
		fail    func(s Span) error
		fnErrAt int // fn fails at this span; -1 never
		cancel  int // ctx is cancelled while span cancel is handed on; -1 never
		wantErr error
		handed  int // spans fn sees
	}{
		{name: "all", fnErrAt: -1, cancel: -1, handed: len(spans)},
		// (spans 3 to 42, the small areas, share one GET)
		{name: "a GET fails", fail: func(s Span) error {
			if s.Img <= spans[9].Img && spans[9].Img < s.Img+s.N {
				return boom
			}
			return nil
		}, fnErrAt: -1, cancel: -1, wantErr: boom, handed: 3},
		{name: "fn fails", fnErrAt: 3, cancel: -1, wantErr: boom, handed: 4},
		{name: "fn fails while later GETs run", forward: true, fnErrAt: 3, cancel: -1, wantErr: boom, handed: 4},
		{name: "ctx cancelled", fnErrAt: -1, cancel: 2, wantErr: context.Canceled, handed: 3},
		{name: "the datastore ignores ranges", fail: func(s Span) error {
			if s.Off != 0 || s.N != s.Size {
				return fmt.Errorf("download %s: %w", s.File, ErrRangeIgnored)
			}
			return nil
		}, fnErrAt: -1, cancel: -1, wantErr: ErrRangeIgnored, handed: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fake{delay: reverse, fail: tc.fail}
				if tc.forward {
					f.delay = func(i int, s Span) time.Duration { return time.Duration(i+1) * time.Millisecond }
				}
				c := f.client(spans)
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				next := 0
				err := c.ReadSpans(ctx, spans, func(s Span, p []byte) error {
					if s != spans[next] {
						t.Fatalf("handed on %+v as span %d, which is %+v", s, next, spans[next])
					}
					if err := check(p, s.Img); err != nil {
						t.Fatalf("span %d: %v", next, err)
					}
					next++
					if next-1 == tc.cancel {
						cancel()
						time.Sleep(time.Millisecond) // the GETs see it
					}
					if next-1 == tc.fnErrAt {
						return boom
					}
					return nil
				})
				if n := f.active.Load(); n != 0 {
					t.Errorf("%d GETs still running when ReadSpans returned", n)
				}
				if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
					t.Errorf("error %v, want %v", err, tc.wantErr)
				}
				if tc.cancel >= 0 && next > tc.handed && next < len(spans) {
					// spans fetched before the cancellation may still be handed on
				} else if next != tc.handed {
					t.Errorf("%d spans handed on, want %d", next, tc.handed)
				}
				if f.maxBig > readAhead+1 || f.maxSmall_ > maxSmall {
					t.Errorf("%d big and %d small GETs at once, want at most %d and %d", f.maxBig, f.maxSmall_, readAhead+1, maxSmall)
				}
				// (the three big spans before the small areas are all in flight;
				// the 40 small areas, 60 KiB or less apart, are one GET)
				if tc.name == "all" && (f.maxBig < 3 || f.gets != 3+1+3) {
					t.Errorf("%d big GETs at once, %d GETs in all, want at least 3 and 7: the reads do not overlap, or the small areas are not coalesced", f.maxBig, f.gets)
				}
			}) // synctest.Test fails if a goroutine of the bubble is left blocked
		})
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestCopyWritesTheSpansInOrderAndStopsAtTheFirstError: whole spans in
// order while the next ones are fetched; a failing writer or a cancelled
// context ends it with no GET left running.
func TestCopyWritesTheSpansInOrderAndStopsAtTheFirstError(t *testing.T) {
	ext := []vmdk.Extent{{File: "b-flat.vmdk", Bytes: 45*MiB + 512}}
	spans := Spans(ext, []Area{{0, ext[0].Bytes}}, MaxSpan)
	synctest.Test(t, func(t *testing.T) {
		f := &fake{delay: func(i int, s Span) time.Duration { return time.Duration(len(spans)-i) * time.Millisecond }}
		var b bytes.Buffer
		if err := f.client(spans).Copy(t.Context(), &b, spans); err != nil {
			t.Fatal(err)
		}
		if int64(b.Len()) != ext[0].Bytes {
			t.Fatalf("%d bytes, want %d", b.Len(), ext[0].Bytes)
		}
		if err := check(b.Bytes(), 0); err != nil {
			t.Error(err)
		}
		if f.maxBig < readAhead {
			t.Errorf("only %d GETs at once: the reads do not overlap", f.maxBig)
		}
	})
	full := errors.New("no space left")
	for _, cancelled := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			f := &fake{delay: func(i int, s Span) time.Duration { return time.Duration(i+1) * time.Millisecond }}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			writes := 0
			err := f.client(spans).Copy(ctx, writerFunc(func(p []byte) (int, error) {
				if writes++; writes == 2 {
					if cancelled {
						cancel()
						return len(p), nil
					}
					return 0, full
				}
				return len(p), nil
			}), spans)
			want := full
			if cancelled {
				want = context.Canceled
			}
			if !errors.Is(err, want) {
				t.Errorf("error %v, want %v", err, want)
			}
			if n := f.active.Load(); n != 0 {
				t.Errorf("%d GETs still running when Copy returned", n)
			}
			if writes > 2+readAhead+1 {
				t.Errorf("%d writes after the failure", writes-2)
			}
		})
	}
}

type heldSpan struct {
	p       []byte
	img     int64
	release func()
}

// keeper holds the last keep buffers it was given and checks, when it
// releases one, that its bytes are still the span's: a buffer reused
// before its release shows.
type keeper struct {
	keep int
	img  int64
	held []heldSpan
	err  error
}

func (k *keeper) WriteOwned(p []byte, release func()) error {
	k.held = append(k.held, heldSpan{p, k.img, release})
	k.img += int64(len(p))
	for len(k.held) > k.keep {
		k.drop()
	}
	return nil
}

func (k *keeper) drop() {
	h := k.held[0]
	k.held = k.held[1:]
	if err := check(h.p, h.img); err != nil && k.err == nil {
		k.err = err
	}
	h.release()
}

// TestCopyOwnedReusesABufferOnlyOnceItIsReleased: a writer that keeps
// spans' buffers past WriteOwned (the span hasher) sees every span's bytes
// intact until it releases them, and the copy goes on with 12 MiB of
// buffers even while five 2 MiB spans are held.
func TestCopyOwnedReusesABufferOnlyOnceItIsReleased(t *testing.T) {
	ext := []vmdk.Extent{{File: "b-flat.vmdk", Bytes: 45*MiB + 512}}
	spans := Spans(ext, []Area{{0, ext[0].Bytes}}, 2*MiB)
	synctest.Test(t, func(t *testing.T) {
		f := &fake{delay: func(i int, s Span) time.Duration { return time.Millisecond }}
		k := &keeper{keep: int(ownedBytes/(2*MiB)) - 1}
		if err := f.client(spans).CopyOwned(t.Context(), k, spans); err != nil {
			t.Fatal(err)
		}
		for len(k.held) > 0 {
			k.drop()
		}
		if k.err != nil {
			t.Error(k.err)
		}
		if k.img != ext[0].Bytes {
			t.Errorf("%d bytes, want %d", k.img, ext[0].Bytes)
		}
	})
}

// TestSmallSpansShareGETs: small spans of one file close together are
// fetched by one GET (what lies between is read and dropped), within
// MaxSpan; big spans, spans of another file and spans far apart have GETs
// of their own; far-apart small spans overlap up to maxSmall GETs.
func TestSmallSpansShareGETs(t *testing.T) {
	ext := []vmdk.Extent{{File: "c-s001.vmdk", Bytes: 64 * MiB}, {File: "c-s002.vmdk", Bytes: 64 * MiB}}
	var areas []Area
	// 20 areas of 4 KiB every 512 KiB: two GETs (MaxSpan bounds the first)
	for k := int64(0); k < 20; k++ {
		areas = append(areas, Area{k * 512 << 10, k*512<<10 + 4096})
	}
	// one area 2 MiB beyond: a GET of its own; then a big area
	areas = append(areas, Area{12 * MiB, 12*MiB + 4096}, Area{16 * MiB, 26 * MiB})
	// small areas across the extents' boundary, 8 KiB apart
	areas = append(areas, Area{64*MiB - 8192, 64*MiB - 4096}, Area{64 * MiB, 64*MiB + 4096})
	// 25 small areas 2 MiB apart: a GET each
	for k := int64(0); k < 25; k++ {
		off := 70*MiB + k*2*MiB
		areas = append(areas, Area{off, off + 8192})
	}
	spans := Spans(ext, areas, MaxSpan)
	fetches := plan(spans)
	var sizes []int64
	for _, f := range fetches {
		sizes = append(sizes, f.N)
		if f.N > MaxSpan {
			t.Errorf("a GET of %d bytes", f.N)
		}
		for k := f.first; k <= f.last; k++ {
			s := spans[k]
			if s.File != f.File || s.Off < f.Off || s.Off+s.N > f.Off+f.N || s.Img-f.Img != s.Off-f.Off {
				t.Errorf("span %+v does not lie in its GET %+v", s, f.Span)
			}
		}
	}
	// 16 areas up to 7.5 MiB + 4 KiB, 4 more, the lone one, the big area
	// in two, the two extents' ends, then 25
	if want := 2 + 1 + 2 + 2 + 25; len(fetches) != want {
		t.Fatalf("%d GETs (%v), want %d", len(fetches), sizes, want)
	}
	if fetches[0].last != 15 || fetches[0].N != 15*512<<10+4096 {
		t.Errorf("first GET %+v", fetches[0])
	}
	synctest.Test(t, func(t *testing.T) {
		f := &fake{delay: func(i int, s Span) time.Duration { return time.Millisecond }}
		c := f.client(spans)
		next := 0
		err := c.ReadSpans(t.Context(), spans, func(s Span, p []byte) error {
			if s != spans[next] {
				t.Fatalf("handed on %+v as span %d", s, next)
			}
			if int64(len(p)) != s.N {
				t.Fatalf("span %d: %d bytes, want %d", next, len(p), s.N)
			}
			next++
			return check(p, s.Img)
		})
		if err != nil || next != len(spans) {
			t.Fatalf("%v after %d of %d spans", err, next, len(spans))
		}
		if f.gets != int64(len(fetches)) || f.maxSmall_ != maxSmall {
			t.Errorf("%d GETs, %d small ones at once; want %d and %d", f.gets, f.maxSmall_, len(fetches), maxSmall)
		}
	})
}
