package dsread

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vmware/govmomi/object"
)

// Every datastore request goes through roundTrip: it takes a slot of the
// host's budget, sends the request to the host (or through vCenter), and
// retries what real hosts and vCenter answer under load, that request
// only:
//
//   - 503 (hostd's "too many requests", "rate limited" in Proxmox's
//     importer): backs off and retries for as long as the run lasts; a
//     host that keeps throttling slows the run, it does not fail it;
//   - 500, 502, 504 (vCenter's proxy under load, Xen Orchestra #8339) and
//     a connection cut mid-answer: backs off and retries, up to maxFailures
//     times in a row (a 500 that stays is an answer: a locked file);
//   - 401 (an expired session or a used ticket): a new ticket, or the
//     session logged in again, at most maxReauth times in a row;
//   - a host that cannot be reached (its address refuses or times out):
//     from then on the host's requests go through vCenter, logged once.
//
// The slot is given back while it waits.

const (
	maxFailures = 8
	maxReauth   = 3
	backoffBase = 50 * time.Millisecond
	backoffMax  = 5 * time.Second
)

// retryable marks an error of handle that another try may fix (the
// response ended early); handle's other errors end the request.
type retryable struct{ error }

func (e retryable) Unwrap() error { return e.error }

// StatusError is a datastore request answered with an error status.
type StatusError struct {
	File   string
	Status string
	Code   int
	Body   string // the start of the answer's text
	Via    string // "vCenter" when it went through vCenter
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s: %s", e.File, e.Status)
	if e.Via != "" {
		s += " (through " + e.Via + ")"
	}
	if b := strings.TrimSpace(e.Body); b != "" && !strings.HasPrefix(b, e.Status) {
		s += ": " + b
	} else if b != "" {
		s += ": " + strings.TrimSpace(strings.TrimPrefix(b, e.Status))
	}
	return s
}

// request is one request of the data path.
type request struct {
	route   *hostRoute
	name    string                              // what it is about, for errors
	url     func(direct bool) (*url.URL, error) // its URL, on the host's own address or not
	method  string
	session *http.Client // the session's client, for requests not on a host's own address
	// hostOnly requests are served by the host only: a host that cannot
	// be reached fails them instead of sending them through vCenter
	hostOnly bool
	prep     func(*http.Request) error  // sets headers and body
	handle   func(*http.Response) error // takes the answer
}

// datastoreURL is the URL of the datastore file p: vCenter's (or the ESXi
// endpoint's), or on the host's own address.
func (r *hostRoute) datastoreURL(ctx context.Context, ds *object.Datastore, p string) func(bool) (*url.URL, error) {
	return func(direct bool) (*url.URL, error) {
		if ds.InventoryPath == "" {
			if err := ds.FindInventoryPath(ctx); err != nil {
				return nil, fmt.Errorf("datastore %s: %w", ds.Name(), err)
			}
		}
		u := ds.NewURL(p)
		if direct {
			u.Host = r.addr
			q := u.Query()
			q.Del("dcPath") // a vCenter's datacenter path means nothing to a host
			u.RawQuery = q.Encode()
		}
		return u, nil
	}
}

// roundTrip sends one request (prep sets its headers and body) and hands
// the response to handle, retrying as above. handle is called for any
// status but 401, 500, 502, 503 and 504.
func (a *Access) roundTrip(ctx context.Context, q request) error {
	var throttled, failed, reauth int
	r, p, method := q.route, q.name, q.method
	for {
		if q.hostOnly && !r.direct() {
			return fmt.Errorf("%s: %w: %s", p, ErrHostUnreachable, r.whyNot())
		}
		release, err := a.slot(ctx, r.key)
		if err != nil {
			return err
		}
		t, err := r.target(ctx, q.url, method, q.session)
		if err != nil {
			release()
			return err
		}
		err = a.once(ctx, t, method, p, q.prep, q.handle)
		release()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var se *StatusError
		switch {
		case errors.Is(err, ErrHostCertificate):
			return err
		case t.direct && unreachable(err) && q.hostOnly:
			return fmt.Errorf("%s: %w: %v", p, ErrHostUnreachable, err)
		case t.direct && unreachable(err):
			r.fallback(err.Error())
			continue
		case errors.As(err, &se) && se.Code == http.StatusServiceUnavailable:
			throttled++
			failed = 0
			err = wait(ctx, throttled)
		case errors.As(err, &se) && se.Code == http.StatusUnauthorized:
			if reauth++; reauth > maxReauth {
				return fmt.Errorf("%w (refused after logging in again)", err)
			}
			if !t.direct {
				// a new cookie: the session logs in again on its next call
				if rerr := a.reauth(ctx); rerr != nil {
					return fmt.Errorf("%w; logging in again failed: %v", err, rerr)
				}
			}
			// on a host, the next try acquires a new ticket (logging in
			// again first when the session expired)
			continue
		case errors.As(err, &se) && se.Code != http.StatusInternalServerError && se.Code != http.StatusBadGateway && se.Code != http.StatusGatewayTimeout:
			return err
		case errors.As(err, &se), isRetryable(err):
			if failed++; failed > maxFailures {
				return err
			}
			err = wait(ctx, failed)
		default:
			return err
		}
		if err != nil {
			return err
		}
	}
}

// once sends one request and hands its response on.
func (a *Access) once(ctx context.Context, t target, method, p string, prep func(*http.Request) error, handle func(*http.Response) error) error {
	req, err := http.NewRequestWithContext(ctx, method, t.url.String(), nil)
	if err != nil {
		return err
	}
	if prep != nil {
		if err := prep(req); err != nil {
			return err
		}
	}
	if t.ticket != nil {
		req.AddCookie(t.ticket)
	}
	if ua := a.c.UserAgent; ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	start := time.Now()
	res, err := t.hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return retryable{err} // nothing of the answer was used
		}
		return err
	}
	defer res.Body.Close()
	switch res.StatusCode {
	case http.StatusUnauthorized, http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		se := &StatusError{File: p, Status: res.Status, Code: res.StatusCode, Body: string(b)}
		if !t.direct && a.c.IsVC() {
			se.Via = "vCenter"
		}
		return se
	}
	n := &countingBody{ReadCloser: res.Body}
	res.Body = n
	if err := handle(res); err != nil {
		return err
	}
	a.account(t.direct, n.n, time.Since(start))
	return nil
}

type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	k, err := c.ReadCloser.Read(p)
	c.n += int64(k)
	return k, err
}

// unreachable reports an error of connecting: nothing was sent.
func unreachable(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// isRetryable reports an error another try may fix: the connection
// failed before the answer, or handle said so (the answer was cut before
// anything of it was used).
func isRetryable(err error) bool {
	var r retryable
	return errors.As(err, &r)
}

// wait backs off before the nth try: exponential, with jitter, capped.
func wait(ctx context.Context, n int) error {
	d := backoffBase << min(n-1, 10)
	if d > backoffMax {
		d = backoffMax
	}
	d = d/2 + rand.N(d/2+1) // #nosec G404 -- jitter, not a secret
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
