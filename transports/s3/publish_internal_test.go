package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/transporttest"
)

// A completion that keeps failing with a transient error is retried by
// the parts' retries and then by the Retry wrapper's Rename: the upload
// must fail and publish nothing, not an empty object in its place (the
// aborted upload must not be taken for a small file held in memory).
func TestACompletionThatKeepsFailingPublishesNothing(t *testing.T) {
	for _, c := range []struct {
		name string
		size int64
		fail func(r *http.Request) bool
	}{
		{"a multipart upload whose completion fails", 12 << 20, func(r *http.Request) bool { return r.Method == http.MethodPost && r.URL.Query().Has("uploadId") }},
		// its PUT fails as often as the publication tries it; the Rename
		// retried by the wrapper would then have put an empty body
		{"a small file whose PUT fails", 1 << 20, func() func(r *http.Request) bool {
			var n atomic.Int32
			return func(r *http.Request) bool {
				return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/p/f") && n.Add(1) <= 2
			}
		}()},
	} {
		t.Run(c.name, func(t *testing.T) { publishFails(t, c.size, c.fail) })
	}
}

func publishFails(t *testing.T, size int64, fail func(*http.Request) bool) {
	old := retryOpts
	retryOpts = transports.RetryOptions{Attempts: 2, Initial: time.Millisecond, Max: time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	t.Cleanup(func() { retryOpts = old })
	srv := testservers.VersityGW(t)
	b := srv.Bucket(t, false)
	u, _ := url.Parse(srv.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(u)
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail(r) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(ps.Close)
	tr, err := transports.Open(context.Background(), "s3://"+b+"/p", transports.Options{
		Credentials: transports.Credentials{User: srv.AccessKey, Password: srv.SecretKey},
		Params:      map[string]string{"endpoint": ps.URL, "part_size": "5MiB", "memory": "20MiB"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rt := transports.Retry(tr, retryOpts)
	src, _ := transporttest.Stream(9, size)
	_, err = transports.Upload(context.Background(), rt, "f", src, transports.UploadOptions{})
	if err == nil {
		t.Fatal("the upload succeeded although every completion failed")
	}
	if fi, serr := tr.Stat(context.Background(), "f"); !errors.Is(serr, fs.ErrNotExist) {
		t.Fatalf("after the failed upload, f is %+v (%v): a failed upload published something", fi, serr)
	}
	if !strings.Contains(err.Error(), "SlowDown") {
		t.Errorf("the error does not say why: %v", err)
	}
}
