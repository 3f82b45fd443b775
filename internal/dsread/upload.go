package dsread

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/vmware/govmomi/object"
)

// Upload PUTs size bytes of r as the datastore file p of ds: on the host's
// own address (OnHost, or a host the datastore is mounted on) with a
// service ticket, through vCenter only when that host cannot be reached,
// within the session's budget of requests per host. The request asks
// "Expect: 100-continue", so that a 503 or 500 answered before the body
// is read is retried with r untouched; once bytes of r were sent, a
// failure is the error (r cannot be read again). r must end after size
// bytes: Upload reads it to its end.
func Upload(ctx context.Context, ds *object.Datastore, p string, r io.Reader, size int64, opts ...Option) error {
	var o options
	for _, f := range opts {
		f(&o)
	}
	a := accessOf(ds.Client())
	route, err := a.route(ctx, ds, o.host)
	if err != nil {
		return fmt.Errorf("upload %s: %w", p, err)
	}
	hc, _ := sessionClient(ds.Client())
	// the transport may make one more Read of a body after the answer came
	// (to check that it ends): it gets the limit's EOF, never r, which the
	// caller reads on once Upload returns
	body := &sentReader{r: io.LimitReader(r, size)}
	err = a.roundTrip(ctx, request{route: route, name: p, url: route.datastoreURL(ctx, ds, p), method: http.MethodPut, session: hc, prep: func(req *http.Request) error {
		if n := body.n.Load(); n > 0 {
			return fmt.Errorf("upload %s: the upload failed after %d bytes were sent, and they cannot be sent again", p, n)
		}
		req.Body = io.NopCloser(body)
		req.GetBody = nil
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Expect", "100-continue")
		return nil
	}, handle: func(res *http.Response) error {
		if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusNoContent {
			return fmt.Errorf("upload %s: %s", p, res.Status)
		}
		if n := body.n.Load(); n != size {
			return fmt.Errorf("upload %s: %d bytes sent, %d expected", p, n, size)
		}
		return nil
	}})
	if err == nil {
		// r ends where the upload did: read its end here (a reader that
		// checks its content on EOF, as a backup chain's, checks it now)
		var one [1]byte
		switch k, rerr := io.ReadFull(r, one[:]); {
		case k > 0:
			return fmt.Errorf("upload %s: the source has more than the %d bytes uploaded", p, size)
		case rerr != io.EOF:
			return fmt.Errorf("upload %s: reading the end of the source: %w", p, rerr)
		}
		return nil
	}
	var se *StatusError
	if errors.As(err, &se) {
		if n := body.n.Load(); n > 0 {
			return fmt.Errorf("upload %w (after %d bytes were sent)", err, n)
		}
		return fmt.Errorf("upload %w", err)
	}
	return err
}

// sentReader counts what was read of the body.
type sentReader struct {
	r io.Reader
	n atomic.Int64
}

func (s *sentReader) Read(p []byte) (int, error) {
	k, err := s.r.Read(p)
	if k > 0 {
		s.n.Add(int64(k))
	}
	return k, err
}
