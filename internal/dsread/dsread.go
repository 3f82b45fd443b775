package dsread

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vmlua/vmlua/internal/capread"
	"github.com/vmlua/vmlua/internal/vmdk"
)

// MaxSpan is the size of the spans backups read: big enough that a GET's
// round trip is small beside its transfer even through a vCenter.
const MaxSpan = 8 << 20

// Up to readAhead GETs of big spans are in flight (readAhead+1 buffers of
// one span each, one of them being handed on), and up to maxSmall of spans
// shorter than smallSpan. Memory is bounded by the buffers:
// (readAhead+1)*MaxSpan + maxSmall*smallSpan = 56 MiB at most.
const (
	readAhead = 4
	smallSpan = 1 << 20
	maxSmall  = 16
)

// Span is bytes [Off, Off+N) of the extent file File (of Size bytes), at
// offset Img of the disk image.
type Span struct {
	File        string
	Off, N, Img int64
	Size        int64 // the extent file's size
}

// Area is bytes [Off, End) of a disk image.
type Area struct{ Off, End int64 }

// Spans cuts areas (image offsets, sorted, not overlapping) into spans of
// the extents of at most size bytes (MaxSpan when size is 0 or more than
// MaxSpan), in image order. ReadSpans holds up to five spans of that size
// in memory.
func Spans(extents []vmdk.Extent, areas []Area, size int64) []Span {
	if size <= 0 || size > MaxSpan {
		size = MaxSpan
	}
	var out []Span
	eoff := int64(0)
	for _, e := range extents {
		eend := eoff + e.Bytes
		for _, a := range areas {
			s, en := max(a.Off, eoff), min(a.End, eend)
			for s < en {
				n := min(en-s, size)
				out = append(out, Span{File: e.File, Off: s - eoff, N: n, Img: s, Size: e.Bytes})
				s += n
			}
		}
		eoff = eend
	}
	return out
}

// ErrRangeIgnored is the error of a span whose GET the datastore answered
// with the whole file instead of the byte range asked for.
var ErrRangeIgnored = errors.New("the datastore ignored the byte range asked for")

// ErrShortFile is the error of a read of a disk whose file on the
// datastore holds fewer bytes than the disk's descriptor gives it
// (shortFile words it), however the datastore shows it: a ranged GET
// answered short or with 416, a whole file that ends early, or a 200
// answer to a range that is the whole, shorter, file.
var ErrShortFile = errors.New("the datastore's file is shorter than the disk's descriptor says")

// shortFile is the one error for a file of the disk shorter than its
// extent in the descriptor: held is the file's size when the datastore
// said it (else -1), want the extent's bytes.
func shortFile(file string, held, want int64) error {
	if held >= 0 {
		return fmt.Errorf("reading %s: %w: it holds %d bytes, the descriptor gives it %d (the disk is damaged, or its file changed while it was read)", file, ErrShortFile, held, want)
	}
	return fmt.Errorf("reading %s: %w: it ends before the %d bytes the descriptor gives it (the disk is damaged, or its file changed while it was read)", file, ErrShortFile, want)
}

// fileSize is the whole file's size a response states: the total of its
// Content-Range ("bytes 0-9/100", "bytes */100"), else for a 200 its
// Content-Length; -1 when it does not say.
func fileSize(res *http.Response) int64 {
	if cr := res.Header.Get("Content-Range"); cr != "" {
		if i := strings.LastIndexByte(cr, '/'); i >= 0 {
			if n, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil {
				return n
			}
		}
		return -1
	}
	if res.StatusCode == http.StatusOK {
		return res.ContentLength
	}
	return -1
}

// Client GETs byte ranges of the files of one datastore folder: from the
// VM's host directly (a service ticket per request, the host's
// certificate checked) or, when the host cannot be reached, through
// vCenter (the session's cookie), within the session's budget of requests
// per host (Access).
type Client struct {
	ds    *object.Datastore
	dir   string
	acc   *Access
	route *hostRoute
	hc    *http.Client // the session's, for requests through vCenter
	tr    *http.Transport
	files map[string]bool
	// get fills p with the bytes of the fetch f (a span, or spans
	// coalesced with what lies between them); c.httpGet but in tests
	get func(ctx context.Context, f Span, p []byte) error
}

// Option tunes NewClient and Upload.
type Option func(*options)

type options struct {
	host *types.ManagedObjectReference
}

// OnHost says which host holds the files: the VM's (its runtime.host,
// which owns the running VM's file locks). Without it, a host the
// datastore is mounted on is used.
func OnHost(ref *types.ManagedObjectReference) Option {
	return func(o *options) {
		if ref != nil && ref.Value != "" {
			r := *ref
			o.host = &r
		}
	}
}

// NewClient prepares GETs of the extents' files (in the datastore folder
// dir). Close it when done.
func NewClient(ctx context.Context, ds *object.Datastore, dir string, extents []vmdk.Extent, opts ...Option) (*Client, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	c := &Client{ds: ds, dir: dir, files: map[string]bool{}}
	c.get = c.httpGet
	c.acc = accessOf(ds.Client())
	c.hc, c.tr = sessionClient(ds.Client())
	for _, e := range extents {
		c.files[e.File] = true
	}
	r, err := c.acc.route(ctx, ds, o.host)
	if err != nil {
		return nil, fmt.Errorf("download from %s: %w", ds.Name(), err)
	}
	c.route = r
	return c, nil
}

// sessionClient is the session's HTTP client for requests through vCenter
// (or to the ESXi endpoint): its cookies, on the session's range-read
// connection pool.
func sessionClient(vc *vim25.Client) (*http.Client, *http.Transport) {
	sc := vc.Client
	t, ok := sc.Client.Transport.(*http.Transport)
	if !ok {
		return &http.Client{Transport: sc.Client.Transport, Jar: sc.Client.Jar}, nil
	}
	p := pooled(t)
	return &http.Client{Transport: p, Jar: sc.Client.Jar, CheckRedirect: sc.Client.CheckRedirect}, p
}

// Close ends the client. Its connections stay idle in the session's pool
// for the next disk (they close when the session's transport is garbage
// collected, or after the transport's idle timeout). Call it once no
// ReadSpans nor Copy of the client is running. When the client read
// through vCenter, the session logs once how much slower that was.
func (c *Client) Close() {
	if c.route != nil && !c.route.direct() && c.acc.c.IsVC() {
		c.acc.reportSlower()
	}
}

// Direct reports whether the client reads from the host itself (not
// through vCenter).
func (c *Client) Direct() bool { return c.route != nil && c.route.direct() && c.route.addr != "" }

// pools holds one range-read transport per vSphere session (per SOAP
// client transport), so that the disks of a backup, and the backups of a
// session, reuse their TLS connections instead of dialling new ones per
// disk. An entry goes when its session's transport is collected.
var pools struct {
	mu sync.Mutex
	m  map[weak.Pointer[http.Transport]]*http.Transport
}

func pooled(t *http.Transport) *http.Transport {
	pools.mu.Lock()
	defer pools.mu.Unlock()
	if pools.m == nil {
		pools.m = map[weak.Pointer[http.Transport]]*http.Transport{}
	}
	k := weak.Make(t)
	if p, ok := pools.m[k]; ok {
		return p
	}
	p := t.Clone()
	p.MaxIdleConnsPerHost = readAhead + 1 + maxSmall
	p.ExpectContinueTimeout = 5 * time.Second
	pools.m[k] = p
	runtime.AddCleanup(t, func(k weak.Pointer[http.Transport]) {
		pools.mu.Lock()
		delete(pools.m, k)
		pools.mu.Unlock()
		p.CloseIdleConnections()
	}, k)
	return p
}

// CloseIdle closes the idle connections of the range-read pool that
// belongs to session transport t (if it has one). A session's logout
// calls it, so that no connection outlives the session.
func CloseIdle(t *http.Transport) {
	pools.mu.Lock()
	p, ok := pools.m[weak.Make(t)]
	pools.mu.Unlock()
	if ok {
		p.CloseIdleConnections()
	}
}

// request sends one request for file (of the client's folder) with
// retries (roundTrip).
func (c *Client) request(ctx context.Context, file string, prep func(*http.Request) error, handle func(*http.Response) error) error {
	if !c.files[file] {
		return fmt.Errorf("download %s: not one of the client's files", file)
	}
	p := path.Join(c.dir, file)
	return c.acc.roundTrip(ctx, request{route: c.route, name: p, url: c.route.datastoreURL(ctx, c.ds, p), method: http.MethodGet, session: c.hc, prep: prep, handle: handle})
}

// httpGet fills p with the bytes of f by one GET, ranged unless f is its
// whole file. A file shorter than its extent is said one way (shortFile),
// however the datastore shows it.
func (c *Client) httpGet(ctx context.Context, f Span, p []byte) error {
	n := int64(len(p))
	rng := f.Off != 0 || n != f.Size
	want := http.StatusOK
	if rng {
		want = http.StatusPartialContent
	}
	err := c.request(ctx, f.File, func(req *http.Request) error {
		if rng {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", f.Off, f.Off+n-1))
		}
		return nil
	}, func(res *http.Response) error {
		size := fileSize(res)
		if size >= 0 && size < f.Size && (res.StatusCode == want || res.StatusCode == http.StatusOK || res.StatusCode == http.StatusRequestedRangeNotSatisfiable) {
			return shortFile(f.File, size, f.Size)
		}
		if res.StatusCode != want {
			switch res.StatusCode {
			case http.StatusOK:
				return ErrRangeIgnored
			case http.StatusRequestedRangeNotSatisfiable: // the range starts past the file's end
				return shortFile(f.File, size, f.Size)
			}
			// a StatusError, so that a caller can tell a file /folder
			// does not serve (404) from a failed read
			return &StatusError{File: f.File, Status: res.Status, Code: res.StatusCode}
		}
		k, err := io.ReadFull(res.Body, p)
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			return retryable{fmt.Errorf("the datastore sent %d bytes from offset %d, %d were asked for", k, f.Off, n)}
		}
		if err != nil {
			return retryable{fmt.Errorf("at %d: %w", f.Off+int64(k), err)}
		}
		// read to the end of the body: a body closed before its EOF closes
		// its connection, and the next GET would pay a TLS handshake
		var one [1]byte
		if m, _ := res.Body.Read(one[:]); m != 0 {
			return fmt.Errorf("the datastore sent more than the %d bytes asked for from offset %d", n, f.Off)
		}
		return nil
	})
	var se *StatusError
	switch {
	case err == nil, errors.Is(err, ErrShortFile):
		return err
	case errors.As(err, &se):
		return fmt.Errorf("download %w", err)
	}
	return fmt.Errorf("download %s: %w", f.File, err)
}

// ReadSpans fetches spans with up to readAhead GETs in flight and calls fn
// with each span's bytes, in order, on the calling goroutine. p is valid
// only during the call. The first error (of a GET, of fn, or of ctx) ends
// it. Every goroutine it starts has ended when it returns.
func (c *Client) ReadSpans(ctx context.Context, spans []Span, fn func(s Span, p []byte) error) error {
	return c.readSpans(ctx, spans, false, func(s Span, p []byte, release func()) error {
		defer release()
		return fn(s, p)
	})
}

// ownedBytes is what the buffers of ReadSpansOwned hold at least: three
// spans of spansum's, so that the spans handed on are hashed on two cores
// while the next GETs run. (16 MiB took figure 9's 4 GiB export to a peak
// RSS of 63.5 MiB, against a goal of < 64.)
const ownedBytes = 12 << 20

// ReadSpansOwned is ReadSpans, but fn keeps p until it calls release
// (exactly once, from any goroutine, also when it fails): a buffer is
// reused only once released. It has at least 12 MiB of big spans' buffers.
func (c *Client) ReadSpansOwned(ctx context.Context, spans []Span, fn func(s Span, p []byte, release func()) error) error {
	return c.readSpans(ctx, spans, true, fn)
}

// fetch is one GET of a read: spans[first..last] and what lies between
// them, as one span of their file.
type fetch struct {
	Span
	first, last int
}

// coalesceGap is the most bytes between two small spans (of one file)
// that one GET reads and drops rather than making two: a request costs a
// round trip to the host, and one to vCenter for its ticket, in which a
// connection moves about a MiB.
const coalesceGap = 1 << 20

// plan groups spans into GETs: small spans (under smallSpan: an
// incremental's scattered areas) of one file, in ascending order and at
// most coalesceGap apart, share a GET of at most MaxSpan bytes; every
// other span has one of its own.
func plan(spans []Span) []fetch {
	var out []fetch
	for i, s := range spans {
		if n := len(out); n > 0 {
			f := &out[n-1]
			prev := spans[f.last]
			gap := s.Off - (prev.Off + prev.N)
			if s.N < smallSpan && prev.N < smallSpan && s.File == f.File && gap >= 0 && gap <= coalesceGap && s.Off+s.N-f.Off <= MaxSpan {
				f.N = s.Off + s.N - f.Off
				f.last = i
				continue
			}
		}
		out = append(out, fetch{Span: s, first: i, last: i})
	}
	return out
}

func maxBig(fetches []fetch) int64 {
	n := int64(0)
	for _, f := range fetches {
		if f.N >= smallSpan {
			n = max(n, f.N)
		}
	}
	return n
}

func (c *Client) readSpans(ctx context.Context, spans []Span, owned bool, fn func(s Span, p []byte, release func()) error) error {
	if len(spans) == 0 {
		return nil
	}
	fetches := plan(spans)
	nbuf := readAhead + 1
	bufSize := maxBig(fetches) // the biggest big fetch's
	if big := bufSize; owned && big > 0 {
		nbuf = max(nbuf, int((ownedBytes+big-1)/big))
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	type result struct {
		buf []byte
		err error
	}
	res := make([]chan result, len(fetches))
	for i := range res {
		res[i] = make(chan result, 1)
	}
	// big fetches take one of nbuf reused buffers; small ones (an
	// incremental's scattered areas) one of maxSmall tokens and a buffer
	// of their own size, so that many short GETs overlap their round
	// trips. The session's budget of requests per host (Access) bounds
	// how many of them are on the wire.
	free := make(chan []byte, nbuf)
	for range nbuf {
		free <- nil // allocated on first use
	}
	small := make(chan struct{}, maxSmall)
	for range maxSmall {
		small <- struct{}{}
	}
	wg.Add(1)
	go func() { // dispatcher: oldest fetch first
		defer wg.Done()
		for i, f := range fetches {
			var buf []byte
			if f.N < smallSpan {
				select {
				case <-small:
				case <-ctx.Done():
					return
				}
				buf = make([]byte, f.N)
			} else {
				select {
				case buf = <-free:
				case <-ctx.Done():
					return
				}
				if buf == nil {
					buf = make([]byte, bufSize)
				}
				buf = buf[:f.N]
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := c.get(ctx, f.Span, buf)
				res[i] <- result{buf, err}
			}()
		}
	}()
	for i, f := range fetches {
		var r result
		select {
		case r = <-res[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if r.err != nil {
			return r.err
		}
		buf := r.buf
		var left atomic.Int32 // the fetch's spans not released yet
		left.Store(int32(f.last - f.first + 1))
		release := func() {
			if left.Add(-1) != 0 {
				return
			}
			if f.N < smallSpan {
				small <- struct{}{}
			} else {
				free <- buf
			}
		}
		for k := f.first; k <= f.last; k++ {
			s := spans[k]
			at := s.Off - f.Off
			if err := fn(s, buf[at:at+s.N:at+s.N], release); err != nil {
				return err
			}
		}
	}
	return nil
}

// MaxSmallFile is the most ReadSmall reads: a descriptor or a .vmx is a
// few KiB, so a bigger file is not one.
const MaxSmallFile = 16 << 20

// ReadSmall downloads a small datastore file (a descriptor, a .vmx) with
// one plain GET through vCenter (or the ESXi endpoint), retried as every
// datastore request is; a file over 16 MiB is an error, not cut short.
func ReadSmall(ctx context.Context, ds *object.Datastore, rel string) ([]byte, error) {
	a := accessOf(ds.Client())
	r := a.endpointRoute()
	if a.c.IsVC() {
		r = a.vcenterOnly()
	}
	hc, _ := sessionClient(ds.Client())
	var b []byte
	err := a.roundTrip(ctx, request{route: r, name: rel, url: r.datastoreURL(ctx, ds, rel), method: http.MethodGet, session: hc, handle: func(res *http.Response) error {
		switch res.StatusCode {
		case http.StatusOK:
		case http.StatusNotFound:
			return fmt.Errorf("%s: %w", rel, os.ErrNotExist)
		default:
			return fmt.Errorf("%s: %s", rel, res.Status)
		}
		var err error
		b, err = capread.ReadAll(res.Body, MaxSmallFile)
		if errors.Is(err, capread.ErrTooLarge) {
			return fmt.Errorf("%s is larger than %s: not a descriptor nor a configuration file", rel, capread.Size(MaxSmallFile))
		}
		if err != nil {
			return retryable{err}
		}
		return nil
	}})
	return b, err
}
