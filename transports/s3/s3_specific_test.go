package s3_test

import (
	"bytes"
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

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/transporttest"
)

func openS3(t testing.TB, srv *testservers.S3Server, rawURL string, params map[string]string) transports.Transport {
	t.Helper()
	o := opts(srv)
	for k, v := range params {
		o.Params[k] = v
	}
	tr, err := transports.Open(context.Background(), rawURL, o)
	if err != nil {
		t.Fatalf("open %s: %v", rawURL, err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// uploads lists the multipart uploads the server holds in bucket.
func uploads(t *testing.T, srv *testservers.S3Server, bucket string) []string {
	t.Helper()
	out, err := srv.Client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var l []string
	for _, u := range out.Uploads {
		l = append(l, aws.ToString(u.Key))
	}
	return l
}

// keys lists every object key in bucket.
func keys(t *testing.T, srv *testservers.S3Server, bucket string) []string {
	t.Helper()
	out, err := srv.Client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var l []string
	for _, o := range out.Contents {
		l = append(l, aws.ToString(o.Key))
	}
	return l
}

func TestAStreamUploadStaysUnder64MiBOfHeap(t *testing.T) {
	srv := testservers.VersityGW(t)
	b := srv.Bucket(t, false)
	transporttest.MemoryBound(t, openS3(t, srv, "s3://"+b+"/mem", nil), 0)
}

// failAfter yields n zero bytes, then fails.
type failAfter struct{ n int64 }

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("source broke")
	}
	p = p[:min(int64(len(p)), f.n)]
	clear(p)
	f.n -= int64(len(p))
	return len(p), nil
}

// An upload that fails or is cancelled after some parts are on the
// server leaves neither an object nor a multipart upload (whose parts
// would be invisible, and billed).
func TestAFailedUploadLeavesNoObjectAndNoMultipartUpload(t *testing.T) {
	srv := testservers.VersityGW(t)
	b := srv.Bucket(t, false)
	tr := openS3(t, srv, "s3://"+b+"/p", map[string]string{"part_size": "5MiB", "memory": "20MiB"})
	ctx := context.Background()
	cases := []struct {
		name string
		up   func() error
	}{
		{"a source that fails after 4 parts", func() error {
			_, err := transports.Upload(ctx, tr, "f", &failAfter{n: 21 << 20}, transports.UploadOptions{})
			return err
		}},
		{"a cancelled context after 4 parts", func() error {
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			src, _ := transporttest.Stream(1, 64<<20)
			r := io.MultiReader(io.LimitReader(src, 21<<20), readerFunc(func([]byte) (int, error) { cancel(); return 0, cctx.Err() }))
			_, err := transports.Upload(cctx, tr, "f", r, transports.UploadOptions{})
			return err
		}},
		{"a size that does not match", func() error {
			src, _ := transporttest.Stream(2, 21<<20)
			_, err := transports.Upload(ctx, tr, "f", src, transports.UploadOptions{ExpectedSize: 22 << 20})
			return err
		}},
		{"an aborted writer", func() error {
			w, err := tr.Create(ctx, "f")
			if err != nil {
				return err
			}
			if _, err := w.Write(make([]byte, 21<<20)); err != nil {
				return err
			}
			w.Abort()
			return errors.New("aborted")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.up(); err == nil {
				t.Fatal("the upload succeeded")
			}
			if l := uploads(t, srv, b); len(l) != 0 {
				t.Errorf("the server holds multipart uploads %q after the failed upload", l)
			}
			for _, k := range keys(t, srv, b) {
				if k != "p/" {
					t.Errorf("the server holds %q after the failed upload", k)
				}
			}
		})
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// Until Rename, an upload is invisible: no object under the final name
// nor under the temporary one, and nothing is copied when it is renamed.
func TestAnUploadIsInvisibleUntilItsRenameCompletesIt(t *testing.T) {
	srv := testservers.VersityGW(t)
	b := srv.Bucket(t, false)
	tr := openS3(t, srv, "s3://"+b+"/p", map[string]string{"part_size": "5MiB", "memory": "20MiB"})
	ctx := context.Background()
	for _, size := range []int{3 << 20, 12 << 20} { // in memory; multipart
		t.Run(fmt.Sprintf("%d MiB", size>>20), func(t *testing.T) {
			name := fmt.Sprintf("f%d", size>>20)
			w, err := transports.CreateAtomic(ctx, tr, name, transports.UploadOptions{ExpectedSize: int64(size), Verify: true})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort()
			if _, err := w.Write(bytes.Repeat([]byte("x"), size)); err != nil {
				t.Fatal(err)
			}
			for _, k := range keys(t, srv, b) {
				if k != "p/" {
					t.Fatalf("%q is visible before the upload is committed", k)
				}
			}
			if _, err := w.Commit(); err != nil {
				t.Fatal(err)
			}
			got := keys(t, srv, b)
			if len(got) != 2 || got[1] != "p/"+name {
				t.Fatalf("the bucket holds %q after the commit, want p/ and p/%s", got, name)
			}
			if l := uploads(t, srv, b); len(l) != 0 {
				t.Errorf("multipart uploads %q left after the commit", l)
			}
			if _, err := srv.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b), Key: aws.String("p/" + name)}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A part whose bytes do not match its checksum is refused by the server
// (BadDigest) rather than stored: the checksum each part carries is
// checked on receipt. The bytes are changed between vmlua and the server.
func TestAPartCorruptedOnTheWayIsRefusedByTheServer(t *testing.T) {
	srv := testservers.VersityGW(t)
	b := srv.Bucket(t, false)
	var corrupt atomic.Bool
	corrupt.Store(true)
	proxy := flaky(t, srv, func(r *http.Request) int {
		if r.Method == http.MethodPut && r.URL.Query().Get("partNumber") != "" && corrupt.Load() {
			body, _ := io.ReadAll(r.Body)
			body[len(body)/2] ^= 0xff
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		return 0
	})
	tr := openS3(t, srv, "s3://"+b+"/p", map[string]string{"endpoint": proxy, "part_size": "5MiB", "memory": "20MiB"})
	src, _ := transporttest.Stream(3, 12<<20)
	_, err := transports.Upload(context.Background(), tr, "f", src, transports.UploadOptions{})
	if err == nil || !strings.Contains(err.Error(), "BadDigest") {
		t.Fatalf("an upload whose parts were changed on the way = %v, want the server's BadDigest", err)
	}
	t.Logf("user sees: %v", err)
	if l := uploads(t, srv, b); len(l) != 0 {
		t.Errorf("multipart uploads %q left", l)
	}
}

// flaky starts a reverse proxy to srv; for each request, answer returns 0
// to pass it on (it may change it) or an HTTP status to answer with an S3
// error of that status instead. It returns the proxy's endpoint.
func flaky(t *testing.T, srv *testservers.S3Server, answer func(r *http.Request) int) string {
	u, _ := url.Parse(srv.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(u)
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st := answer(r); st != 0 {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(st)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(ps.Close)
	return ps.URL
}

// 503 SlowDown is retried with back-off by the shared retry wrapper (for
// calls) and by the parts' retries (transports.Do), until the store
// takes the request.
func TestSlowDownIsRetriedWithBackoff(t *testing.T) {
	srv := testservers.VersityGW(t)
	b := srv.Bucket(t, false)
	var parts, heads atomic.Int32
	proxy := flaky(t, srv, func(r *http.Request) int {
		switch {
		case r.Method == http.MethodPut && r.URL.Query().Get("partNumber") != "":
			if parts.Add(1) <= 2 {
				return http.StatusServiceUnavailable
			}
		case r.Method == http.MethodHead && strings.HasSuffix(r.URL.Path, "/p/f"):
			if heads.Add(1) <= 2 {
				return http.StatusServiceUnavailable
			}
		}
		return 0
	})
	tr := openS3(t, srv, "s3://"+b+"/p", map[string]string{"endpoint": proxy, "part_size": "5MiB", "memory": "20MiB"})
	quick := transports.RetryOptions{Initial: time.Millisecond, Max: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	rt := transports.Retry(tr, quick)
	src, sum := transporttest.Stream(4, 12<<20)
	res, err := transports.Upload(context.Background(), rt, "f", src, transports.UploadOptions{})
	if err != nil {
		t.Fatalf("Upload through two SlowDowns per part: %v", err)
	}
	if res.SHA256 != sum() {
		t.Fatal("sha256 differs")
	}
	if n := parts.Load(); n < 4 {
		t.Errorf("%d part requests: the SlowDowns were not retried", n)
	}
	fi, err := rt.Stat(context.Background(), "f")
	if err != nil || fi.Size != 12<<20 {
		t.Fatalf("Stat through two SlowDowns = %+v, %v", fi, err)
	}
}

// Object lock is enforced by the server: a locked object cannot be
// removed or replaced, in either mode, and Remove says it is locked.
func TestALockedObjectCannotBeRemoved(t *testing.T) {
	srv := testservers.VersityGW(t)
	b := srv.Bucket(t, true)
	for _, mode := range []string{"governance", "compliance"} {
		t.Run(mode, func(t *testing.T) {
			tr := openS3(t, srv, "s3://"+b+"/"+mode, map[string]string{"object_lock": mode})
			ctx := context.Background()
			if _, err := transports.Upload(ctx, tr, "set/disk.img", strings.NewReader("the disk"), transports.UploadOptions{}); err != nil {
				t.Fatal(err)
			}
			r, ok := transports.As[transports.Retainer](tr)
			if !ok || r.RetentionMode() != mode {
				t.Fatalf("the transport is no Retainer in mode %s", mode)
			}
			until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
			if err := r.Retain(ctx, "set/disk.img", until); err != nil {
				t.Fatalf("Retain: %v", err)
			}
			got, gotMode, err := r.RetainedUntil(ctx, "set/disk.img")
			if err != nil || !got.Equal(until) || gotMode != mode {
				t.Fatalf("RetainedUntil = %v %q %v, want %v %s", got, gotMode, err, until, mode)
			}
			err = tr.Remove(ctx, "set/disk.img")
			if !errors.Is(err, transports.ErrLocked) || transports.Classify(err) != transports.ClassPermission {
				t.Fatalf("Remove of a locked object = %v, want ErrLocked (a permanent permission error)", err)
			}
			t.Logf("user sees: %v", err)
			// the bytes are still there, and are what was written
			rc, err := tr.Open(ctx, "set/disk.img", 0)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if string(b) != "the disk" {
				t.Fatalf("the locked object holds %q", b)
			}
			// and the root account cannot delete its version either
			vs, err := srv.Client.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(srv2bucket(tr)), Prefix: aws.String(mode + "/set/disk.img")})
			if err != nil || len(vs.Versions) == 0 {
				t.Fatalf("versions: %v", err)
			}
			_, err = srv.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(srv2bucket(tr)), Key: vs.Versions[0].Key, VersionId: vs.Versions[0].VersionId})
			if err == nil {
				t.Fatal("the server deleted a locked version")
			}
			if _, _, err := r.RetainedUntil(ctx, "set/other"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("RetainedUntil of a missing object = %v, want fs.ErrNotExist", err)
			}
		})
	}
}

// srv2bucket is the bucket of an s3:// transport's URL.
func srv2bucket(tr transports.Transport) string {
	u, _ := url.Parse(tr.URL())
	return u.Host
}

// A process killed in the middle of an upload cannot abort it; the next
// opening of the URL aborts the uploads below it that are older than
// stale_uploads (24h by default; here 1ms, as if a day had passed), and
// leaves a younger one (another run's, in progress) alone.
func TestOpeningTheURLAbortsTheUploadsOfAKilledProcess(t *testing.T) {
	srv := testservers.VersityGW(t)
	b := srv.Bucket(t, false)
	ctx := context.Background()
	openS3(t, srv, "s3://"+b+"/p", nil)
	// what a killed vmlua leaves: a multipart upload with a part
	mp, err := srv.Client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(b), Key: aws.String("p/VM/set/disk.img")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Client.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(b), Key: aws.String("p/VM/set/disk.img"), UploadId: mp.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(make([]byte, 1<<20))}); err != nil {
		t.Fatal(err)
	}
	openS3(t, srv, "s3://"+b+"/p", nil) // the default: a day
	if l := uploads(t, srv, b); len(l) != 1 {
		t.Fatalf("an upload younger than stale_uploads was aborted (left: %q)", l)
	}
	time.Sleep(10 * time.Millisecond) // older than 1ms, on the server's clock too
	openS3(t, srv, "s3://"+b+"/p", map[string]string{"stale_uploads": "1ms"})
	if l := uploads(t, srv, b); len(l) != 0 {
		t.Fatalf("uploads %q left after opening with stale_uploads=1ms", l)
	}
}

// A lock file removed by another tool (a delete marker on its key, in a
// versioned bucket) can be created again: the store refuses If-None-Match
// on such a key, and CreateExclusive clears the markers and tries again,
// still exclusively.
func TestCreateExclusiveOverADeleteMarker(t *testing.T) {
	srv := testservers.VersityGW(t)
	b := srv.Bucket(t, true)
	ctx := context.Background()
	tr := openS3(t, srv, "s3://"+b+"/p", nil)
	if err := transports.CreateExclusive(ctx, tr, "VM/.vmlua-lock", []byte("first")); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b), Key: aws.String("p/VM/.vmlua-lock")}); err != nil {
		t.Fatal(err)
	}
	if err := transports.CreateExclusive(ctx, tr, "VM/.vmlua-lock", []byte("second")); err != nil {
		t.Fatalf("CreateExclusive over a delete marker: %v", err)
	}
	if err := transports.CreateExclusive(ctx, tr, "VM/.vmlua-lock", []byte("third")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateExclusive over the new lock = %v, want fs.ErrExist", err)
	}
	rc, err := tr.Open(ctx, "VM/.vmlua-lock", 0)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "second" {
		t.Fatalf("the lock holds %q", got)
	}
}
