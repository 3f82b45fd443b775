package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"sync"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/soap"
)

// Parallel reads of a frozen disk: the areas to read are cut into spans
// of at most spanSize bytes, fetched by up to readAhead range GETs at once
// (each on its own connection, so TLS and the network work on several
// cores), and handed on strictly in order. Memory is bounded by the
// buffers: (readAhead+1)*spanSize + maxSmall*smallSpan = 56 MiB.
const (
	spanSize  = 8 << 20
	readAhead = 4
	smallSpan = 1 << 20
	maxSmall  = 16
)

// span is bytes [off, off+n) of the extent file file, at image offset img.
type span struct {
	file        string
	off, n, img int64
	size        int64 // the extent file's size
}

// spansOf cuts areas (image offsets, sorted, not overlapping) into spans of
// the extents.
func spansOf(extents []extentInfo, areas []area) []span {
	var out []span
	eoff := int64(0)
	for _, e := range extents {
		eend := eoff + e.bytes
		for _, a := range areas {
			s, en := max(a.off, eoff), min(a.end, eend)
			for s < en {
				n := min(en-s, spanSize)
				out = append(out, span{file: e.file, off: s - eoff, n: n, img: s, size: e.bytes})
				s += n
			}
		}
		eoff = eend
	}
	return out
}

type extentInfo struct {
	file  string
	bytes int64
}

// rangeClient GETs byte ranges of a datastore's files on connections of its
// own (the SOAP client keeps only two idle connections per host; the
// session cookie comes from its jar).
type rangeClient struct {
	ds   *object.Datastore
	dir  string
	hc   *http.Client
	tr   *http.Transport
	urls map[string]*url.URL
	tkts map[string]*http.Cookie
}

func newRangeClient(ctx context.Context, ds *object.Datastore, dir string, files []string) (*rangeClient, error) {
	rc := &rangeClient{ds: ds, dir: dir, urls: map[string]*url.URL{}, tkts: map[string]*http.Cookie{}}
	sc := ds.Client()
	if t, ok := sc.Client.Transport.(*http.Transport); ok {
		rc.tr = t.Clone()
		rc.tr.MaxIdleConnsPerHost = readAhead + 1 + maxSmall
		rc.hc = &http.Client{Transport: rc.tr, Jar: sc.Client.Jar, CheckRedirect: sc.Client.CheckRedirect}
	}
	for _, f := range files {
		if _, ok := rc.urls[f]; ok {
			continue
		}
		u, ticket, err := ds.ServiceTicket(ctx, path.Join(dir, f), "GET")
		if err != nil {
			return nil, fmt.Errorf("download %s: %w", f, err)
		}
		rc.urls[f], rc.tkts[f] = u, ticket
	}
	return rc, nil
}

func (rc *rangeClient) close() {
	if rc.tr != nil {
		rc.tr.CloseIdleConnections()
	}
}

var errRangeIgnored = errors.New("the datastore ignored the byte range asked for")

// get fills p with bytes [off, off+len(p)) of file (of size bytes).
func (rc *rangeClient) get(ctx context.Context, file string, off, size int64, p []byte) error {
	n := int64(len(p))
	param := soap.DefaultDownload
	param.Ticket = rc.tkts[file]
	want := http.StatusOK
	if off != 0 || n != size {
		param.Headers = map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", off, off+n-1)}
		want = http.StatusPartialContent
	}
	var res *http.Response
	var err error
	if rc.hc != nil {
		req, rerr := http.NewRequestWithContext(ctx, http.MethodGet, rc.urls[file].String(), nil)
		if rerr != nil {
			return rerr
		}
		for k, v := range param.Headers {
			req.Header.Add(k, v)
		}
		if param.Ticket != nil {
			req.AddCookie(param.Ticket)
		}
		if rc.ds.Client().UserAgent != "" {
			req.Header.Set("User-Agent", rc.ds.Client().UserAgent)
		}
		res, err = rc.hc.Do(req)
	} else {
		res, err = rc.ds.Client().DownloadRequest(ctx, rc.urls[file], &param)
	}
	if err != nil {
		return fmt.Errorf("download %s: %w", file, err)
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		if res.StatusCode == http.StatusOK {
			return fmt.Errorf("download %s: %w", file, errRangeIgnored)
		}
		return fmt.Errorf("download %s: %s", file, res.Status)
	}
	k, err := io.ReadFull(res.Body, p)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return fmt.Errorf("reading %s: the datastore sent %d bytes from offset %d, %d were asked for", file, k, off, n)
	}
	if err != nil {
		return fmt.Errorf("reading %s at %d: %w", file, off+int64(k), err)
	}
	// read to the end of the body: a body closed before its EOF closes
	// its connection, and the next GET would pay a TLS handshake
	var one [1]byte
	if m, _ := res.Body.Read(one[:]); m != 0 {
		return fmt.Errorf("reading %s: the datastore sent more than the %d bytes asked for from offset %d", file, n, off)
	}
	return nil
}

// readSpans fetches spans with up to readAhead GETs in flight and calls fn
// with each span's bytes, in order, on the calling goroutine. p is valid
// only during the call. Every goroutine it starts has ended when it
// returns.
func (rc *rangeClient) readSpans(ctx context.Context, spans []span, fn func(s span, p []byte) error) error {
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
	nbuf := readAhead + 1
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
			if s.n < smallSpan {
				select {
				case <-small:
				case <-ctx.Done():
					return
				}
				buf = make([]byte, s.n)
			} else {
				select {
				case buf = <-free:
				case <-ctx.Done():
					return
				}
				if int64(cap(buf)) < s.n {
					buf = make([]byte, spanSize)
				}
				buf = buf[:s.n]
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := rc.get(ctx, s.file, s.off, s.size, buf)
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
		err := fn(s, r.buf)
		if s.n < smallSpan {
			small <- struct{}{}
		} else {
			free <- r.buf
		}
		if err != nil {
			return err
		}
	}
	return nil
}
