package dsread

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/vmware/govmomi/object"
)

// Upload PUTs size bytes of r as the datastore file p of ds: on the host's
// own address (OnHost, or a host the datastore is mounted on) with a
// service ticket, through vCenter only when that host cannot be reached,
// within the session's budget of requests per host. The request asks
// "Expect: 100-continue", so that a 503 or 500 answered before the body
// is read is retried with r untouched; once bytes of r were sent, a
// failure is the error (r cannot be read again).
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
	body := &sentReader{r: r}
	err = a.roundTrip(ctx, request{route: route, name: p, url: route.datastoreURL(ctx, ds, p), method: http.MethodPut, session: hc, prep: func(req *http.Request) error {
		if body.n > 0 {
			return fmt.Errorf("upload %s: the upload failed after %d bytes were sent, and they cannot be sent again", p, body.n)
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
		if body.n != size {
			return fmt.Errorf("upload %s: %d bytes sent, %d expected", p, body.n, size)
		}
		return nil
	}})
	var se *StatusError
	if err != nil && errors.As(err, &se) {
		if body.n > 0 {
			return fmt.Errorf("upload %w (after %d bytes were sent)", err, body.n)
		}
		return fmt.Errorf("upload %w", err)
	}
	return err
}

// sentReader counts what was read of the body.
type sentReader struct {
	r io.Reader
	n int64
}

func (s *sentReader) Read(p []byte) (int, error) {
	k, err := s.r.Read(p)
	s.n += int64(k)
	return k, err
}
