package dsread

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"weak"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/soap"

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

// Client GETs byte ranges of the files of one datastore folder on
// connections of its own (the SOAP client keeps only two idle connections
// per host; the session cookie comes from its jar, and each file has a
// service ticket).
type Client struct {
	ds   *object.Datastore
	hc   *http.Client
	tr   *http.Transport
	urls map[string]*url.URL
	tkts map[string]*http.Cookie
	// get fills p with the bytes of s; c.httpGet but in tests
	get func(ctx context.Context, s Span, p []byte) error
}

// NewClient prepares GETs of the extents' files (in the datastore folder
// dir). Close it when done.
func NewClient(ctx context.Context, ds *object.Datastore, dir string, extents []vmdk.Extent) (*Client, error) {
	c := &Client{ds: ds, urls: map[string]*url.URL{}, tkts: map[string]*http.Cookie{}}
	c.get = c.httpGet
	sc := ds.Client()
	if t, ok := sc.Client.Transport.(*http.Transport); ok {
		c.tr = pooled(t)
		c.hc = &http.Client{Transport: c.tr, Jar: sc.Client.Jar, CheckRedirect: sc.Client.CheckRedirect}
	}
	for _, e := range extents {
		f := e.File
		if _, ok := c.urls[f]; ok {
			continue
		}
		u, ticket, err := ds.ServiceTicket(ctx, path.Join(dir, f), "GET")
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("download %s: %w", f, err)
		}
		c.urls[f], c.tkts[f] = u, ticket
	}
	return c, nil
}

// Close ends the client. Its connections stay idle in the session's pool
// for the next disk (they close when the session's transport is garbage
// collected, or after the transport's idle timeout). Call it once no
// ReadSpans nor Copy of the client is running.
func (c *Client) Close() {}

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

// open GETs file, or only bytes [off, off+n) of it when rng is set, and
// returns the response whatever its status.
func (c *Client) open(ctx context.Context, file string, off, n int64, rng bool) (*http.Response, error) {
	param := soap.DefaultDownload
	param.Ticket = c.tkts[file]
	if rng {
		param.Headers = map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", off, off+n-1)}
	}
	u, ok := c.urls[file]
	if !ok {
		return nil, fmt.Errorf("download %s: not one of the client's files", file)
	}
	if c.hc == nil {
		return c.ds.Client().DownloadRequest(ctx, u, &param)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	for k, v := range param.Headers {
		req.Header.Add(k, v)
	}
	if param.Ticket != nil {
		req.AddCookie(param.Ticket)
	}
	if ua := c.ds.Client().UserAgent; ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	return c.hc.Do(req)
}

// httpGet fills p with the bytes of s by one GET, ranged unless s is its
// whole file.
func (c *Client) httpGet(ctx context.Context, s Span, p []byte) error {
	n := int64(len(p))
	rng := s.Off != 0 || n != s.Size
	want := http.StatusOK
	if rng {
		want = http.StatusPartialContent
	}
	res, err := c.open(ctx, s.File, s.Off, n, rng)
	if err != nil {
		return fmt.Errorf("download %s: %w", s.File, err)
	}
	defer res.Body.Close()
	size := fileSize(res)
	if size >= 0 && size < s.Size && (res.StatusCode == want || res.StatusCode == http.StatusOK || res.StatusCode == http.StatusRequestedRangeNotSatisfiable) {
		return shortFile(s.File, size, s.Size)
	}
	if res.StatusCode != want {
		switch res.StatusCode {
		case http.StatusOK:
			return fmt.Errorf("download %s: %w", s.File, ErrRangeIgnored)
		case http.StatusRequestedRangeNotSatisfiable: // the range starts past the file's end
			return shortFile(s.File, size, s.Size)
		}
		return fmt.Errorf("download %s: %s", s.File, res.Status)
	}
	k, err := io.ReadFull(res.Body, p)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return fmt.Errorf("reading %s: the datastore sent %d bytes from offset %d, %d were asked for", s.File, k, s.Off, n)
	}
	if err != nil {
		return fmt.Errorf("reading %s at %d: %w", s.File, s.Off+int64(k), err)
	}
	// read to the end of the body: a body closed before its EOF closes
	// its connection, and the next GET would pay a TLS handshake
	var one [1]byte
	if m, _ := res.Body.Read(one[:]); m != 0 {
		return fmt.Errorf("reading %s: the datastore sent more than the %d bytes asked for from offset %d", s.File, n, s.Off)
	}
	return nil
}

// ReadSpans fetches spans with up to readAhead GETs in flight and calls fn
// with each span's bytes, in order, on the calling goroutine. p is valid
// only during the call. The first error (of a GET, of fn, or of ctx) ends
// it. Every goroutine it starts has ended when it returns.
func (c *Client) ReadSpans(ctx context.Context, spans []Span, fn func(s Span, p []byte) error) error {
	return c.readSpans(ctx, spans, readAhead+1, func(s Span, p []byte, release func()) error {
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
	nbuf := readAhead + 1
	if big := maxBig(spans); big > 0 {
		nbuf = max(nbuf, int((ownedBytes+big-1)/big))
	}
	return c.readSpans(ctx, spans, nbuf, fn)
}

func maxBig(spans []Span) int64 {
	n := int64(0)
	for _, s := range spans {
		if s.N >= smallSpan {
			n = max(n, s.N)
		}
	}
	return n
}

func (c *Client) readSpans(ctx context.Context, spans []Span, nbuf int, fn func(s Span, p []byte, release func()) error) error {
	if len(spans) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	type result struct {
		buf []byte
		err error
	}
	res := make([]chan result, len(spans))
	for i := range res {
		res[i] = make(chan result, 1)
	}
	// big spans take one of nbuf reused buffers; small ones (an
	// incremental's scattered areas) one of maxSmall tokens and a buffer of
	// their own size, so that many short GETs overlap their round trips
	bufSize := int64(0) // the biggest span's
	for _, s := range spans {
		bufSize = max(bufSize, s.N)
	}
	free := make(chan []byte, nbuf)
	for range nbuf {
		free <- nil // allocated on first use
	}
	small := make(chan struct{}, maxSmall)
	for range maxSmall {
		small <- struct{}{}
	}
	wg.Add(1)
	go func() { // dispatcher: oldest span first
		defer wg.Done()
		for i, s := range spans {
			var buf []byte
			if s.N < smallSpan {
				select {
				case <-small:
				case <-ctx.Done():
					return
				}
				buf = make([]byte, s.N)
			} else {
				select {
				case buf = <-free:
				case <-ctx.Done():
					return
				}
				if buf == nil {
					buf = make([]byte, bufSize)
				}
				buf = buf[:s.N]
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := c.get(ctx, s, buf)
				res[i] <- result{buf, err}
			}()
		}
	}()
	for i, s := range spans {
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
		err := fn(s, buf, func() {
			if s.N < smallSpan {
				small <- struct{}{}
			} else {
				free <- buf
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// MaxSmallFile is the most ReadSmall reads: a descriptor or a .vmx is a
// few KiB, so a bigger file is not one.
const MaxSmallFile = 16 << 20

// ReadSmall downloads a small datastore file (a descriptor, a .vmx) with
// one plain GET; a file over 16 MiB is an error, not cut short.
func ReadSmall(ctx context.Context, ds *object.Datastore, rel string) ([]byte, error) {
	rc, _, err := ds.Download(ctx, rel, &soap.DefaultDownload)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := capread.ReadAll(rc, MaxSmallFile)
	if errors.Is(err, capread.ErrTooLarge) {
		err = fmt.Errorf("%s is larger than %s: not a descriptor nor a configuration file", rel, capread.Size(MaxSmallFile))
	}
	return b, err
}
