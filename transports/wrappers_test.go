package transports_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/textproto"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/file"
)

func newFile(t *testing.T) (*file.Transport, string) {
	t.Helper()
	dir := t.TempDir()
	tr, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, dir
}

func entries(t *testing.T, tr transports.Transport) []string {
	t.Helper()
	l, err := tr.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, fi := range l {
		out = append(out, fi.Name)
	}
	return out
}

// faulty wraps a transport and injects failures.
type faulty struct {
	transports.Transport
	statErrs  []error // returned by successive Stat calls, then pass through
	stats     atomic.Int64
	closeErr  error   // returned by every Writer.Close
	closeErrs []error // returned by successive Writer.Close calls, then closeErr
	closes    atomic.Int64
	sizeDelta int64 // added to Stat sizes (a lying server)
}

func (f *faulty) Stat(ctx context.Context, p string) (transports.FileInfo, error) {
	i := f.stats.Add(1) - 1
	if int(i) < len(f.statErrs) {
		return transports.FileInfo{}, f.statErrs[i]
	}
	fi, err := f.Transport.Stat(ctx, p)
	fi.Size += f.sizeDelta
	return fi, err
}

func (f *faulty) Create(ctx context.Context, p string) (transports.Writer, error) {
	w, err := f.Transport.Create(ctx, p)
	if err != nil {
		return w, err
	}
	cerr := f.closeErr
	if i := f.closes.Add(1) - 1; int(i) < len(f.closeErrs) {
		cerr = f.closeErrs[i]
	}
	if cerr == nil {
		return w, nil
	}
	return &failClose{Writer: w, err: cerr}, nil
}

type failClose struct {
	transports.Writer
	err error
}

func (w *failClose) Close() error { w.Writer.Close(); return w.err }

var quickRetry = transports.RetryOptions{Attempts: 4, Initial: time.Microsecond, Max: time.Microsecond, Logger: slog.New(slog.DiscardHandler)}

func TestRetry(t *testing.T) {
	transient := errors.New("connection reset by peer")
	ftp553 := &textproto.Error{Code: 553, Msg: "Could not create file."}
	cases := []struct {
		name      string
		errs      []error
		wantCalls int64
		wantErr   error
	}{
		{"a transient error is retried until the call succeeds", []error{transient, transient}, 3, nil},
		{"a transient error is retried a bounded number of times", []error{transient, transient, transient, transient, transient}, 4, transient},
		{"ErrAuth is not retried", []error{fmt.Errorf("login: %w", transports.ErrAuth)}, 1, transports.ErrAuth},
		{"fs.ErrNotExist is not retried", []error{fs.ErrNotExist}, 1, fs.ErrNotExist},
		{"ErrOutsideRoot is not retried", []error{transports.ErrOutsideRoot}, 1, transports.ErrOutsideRoot},
		{"ErrNoSpace is not retried", []error{transports.ErrNoSpace}, 1, transports.ErrNoSpace},
		{"a cancelled context is not retried", []error{context.Canceled}, 1, context.Canceled},
		{"a read-only file system is not retried", []error{&fs.PathError{Op: "open", Path: "x", Err: syscall.EROFS}}, 1, syscall.EROFS},
		{"an FTP 5xx reply is not retried", []error{fmt.Errorf("stor: %w", ftp553)}, 1, ftp553},
		{"an FTP 4xx reply is retried", []error{&textproto.Error{Code: 421, Msg: "Timeout."}}, 2, nil},
		{"an error marked Permanent is not retried", []error{transports.Permanent(transient)}, 1, transient},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base, _ := newFile(t)
			f := &faulty{Transport: base, statErrs: c.errs}
			_, err := transports.Retry(f, quickRetry).Stat(context.Background(), "")
			if got := f.stats.Load(); got != c.wantCalls {
				t.Errorf("Stat was called %d times, want %d", got, c.wantCalls)
			}
			if c.wantErr == nil && err != nil || c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Errorf("err = %v, want %v", err, c.wantErr)
			}
		})
	}
}

func TestRetryStopsWhenTheContextEndsDuringBackoff(t *testing.T) {
	base, _ := newFile(t)
	f := &faulty{Transport: base, statErrs: []error{errors.New("t1"), errors.New("t2"), errors.New("t3")}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow := quickRetry
	slow.Initial, slow.Max = time.Hour, time.Hour
	_, err := transports.Retry(f, slow).Stat(ctx, "")
	if !errors.Is(err, context.Canceled) || f.stats.Load() != 1 {
		t.Fatalf("err = %v after %d calls, want context.Canceled after 1", err, f.stats.Load())
	}
}

// gate counts calls in flight and blocks them until released.
type gate struct {
	transports.Transport
	in, max atomic.Int64
	release chan struct{}
}

func (g *gate) Stat(ctx context.Context, p string) (transports.FileInfo, error) {
	n := g.in.Add(1)
	for {
		m := g.max.Load()
		if n <= m || g.max.CompareAndSwap(m, n) {
			break
		}
	}
	<-g.release
	g.in.Add(-1)
	return transports.FileInfo{}, nil
}

func TestLimitCapsConcurrentCalls(t *testing.T) {
	base, _ := newFile(t)
	g := &gate{Transport: base, release: make(chan struct{})}
	const limit, callers = 3, 20
	tr := transports.Limit(g, limit)
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() { tr.Stat(context.Background(), "") })
	}
	for g.in.Load() < limit {
		runtime.Gosched()
	}
	close(g.release)
	wg.Wait()
	if m := g.max.Load(); m != limit {
		t.Fatalf("at most %d calls were in flight, want exactly the limit %d", m, limit)
	}
}

func TestLimitHoldsASlotWhileAWriterIsOpen(t *testing.T) {
	base, _ := newFile(t)
	tr := transports.Limit(base, 1)
	w, err := tr.Create(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tr.Stat(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Stat while the only slot is held by a Writer = %v, want it to wait (and see the cancel)", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Stat(context.Background(), "a"); err != nil {
		t.Fatalf("Stat after the Writer closed: %v", err)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	base, dir := newFile(t)
	if _, err := transports.Upload(context.Background(), base, "existing", strings.NewReader("keep"), transports.UploadOptions{}); err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	tr := transports.DryRun(base, slog.New(slog.NewTextHandler(&logBuf, nil)))
	ctx := context.Background()
	res, err := transports.Upload(ctx, tr, "new/file", strings.NewReader("hello"), transports.UploadOptions{Verify: true})
	if err != nil || res.Bytes != 5 {
		t.Fatalf("dry-run Upload = %+v, %v", res, err)
	}
	for _, err := range []error{
		tr.MkdirAll(ctx, "d/e"),
		tr.Rename(ctx, "existing", "renamed"),
		tr.Remove(ctx, "existing"),
	} {
		if err != nil {
			t.Fatalf("dry-run call: %v", err)
		}
	}
	if got := entries(t, base); len(got) != 1 || got[0] != "existing" {
		t.Fatalf("%s holds %q after a dry run, want only existing", dir, got)
	}
	r, err := tr.Open(ctx, "existing", 0)
	if err != nil {
		t.Fatalf("dry run must still read: %v", err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "keep" {
		t.Fatalf("read %q", b)
	}
	for _, want := range []string{"would write", "new/file", "would rename", "would remove", "would create directory"} {
		if !strings.Contains(logBuf.String(), want) {
			t.Errorf("the dry-run log does not mention %q:\n%s", want, logBuf.String())
		}
	}
	if !transports.IsDryRun(transports.Limit(tr, 2)) || transports.IsDryRun(base) {
		t.Error("IsDryRun does not see through wrappers")
	}
}

func TestUploadLeavesNothingOnFailure(t *testing.T) {
	boom := errors.New("boom")
	cases := []struct {
		name string
		wrap func(transports.Transport) transports.Transport
		src  func(cancel func()) io.Reader
	}{
		{"a failing reader", nil, func(func()) io.Reader { return io.MultiReader(strings.NewReader("some bytes"), &errReader{boom}) }},
		{"a cancel mid-stream", nil, func(cancel func()) io.Reader {
			return io.MultiReader(strings.NewReader("some bytes"), readerFunc(func(p []byte) (int, error) { cancel(); return copy(p, "more"), nil }), strings.NewReader("tail"))
		}},
		{"a Close the server rejects", func(t transports.Transport) transports.Transport { return &faulty{Transport: t, closeErr: boom} },
			func(func()) io.Reader { return strings.NewReader("data") }},
		{"a server reporting the wrong size", func(t transports.Transport) transports.Transport { return &faulty{Transport: t, sizeDelta: -1} },
			func(func()) io.Reader { return strings.NewReader("data") }},
	}
	for _, c := range cases {
		t.Run("Upload removes the partial after "+c.name, func(t *testing.T) {
			base, _ := newFile(t)
			var tr transports.Transport = base
			if c.wrap != nil {
				tr = c.wrap(base)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if _, err := transports.Upload(ctx, tr, "final", c.src(cancel), transports.UploadOptions{}); err == nil {
				t.Fatal("Upload succeeded")
			} else {
				t.Logf("error: %v", err)
			}
			if got := entries(t, base); len(got) != 0 {
				t.Fatalf("the target holds %q", got)
			}
		})
	}
}

func TestUploadChecksExpectedSizeAndSum(t *testing.T) {
	base, _ := newFile(t)
	ctx := context.Background()
	const sum = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" // "hello"
	if _, err := transports.Upload(ctx, base, "a", strings.NewReader("hello"), transports.UploadOptions{ExpectedSize: 5, ExpectedSHA256: sum}); err != nil {
		t.Fatal(err)
	}
	if _, err := transports.Upload(ctx, base, "b", strings.NewReader("hello"), transports.UploadOptions{ExpectedSize: 6}); err == nil {
		t.Fatal("a wrong ExpectedSize passed")
	}
	if _, err := transports.Upload(ctx, base, "c", strings.NewReader("hellO"), transports.UploadOptions{ExpectedSHA256: sum}); err == nil {
		t.Fatal("a wrong sha256 passed")
	}
	if got := entries(t, base); len(got) != 1 || got[0] != "a" {
		t.Fatalf("the target holds %q, want only a", got)
	}
}

func TestProgressCountsEveryByte(t *testing.T) {
	base, _ := newFile(t)
	var up, wr, rd atomic.Int64
	data := strings.Repeat("x", 3<<20+1)
	_, err := transports.Upload(context.Background(), base, "f", strings.NewReader(data), transports.UploadOptions{Progress: transports.ProgressFunc(func(n int64) { up.Add(n) })})
	if err != nil {
		t.Fatal(err)
	}
	r, err := base.Open(context.Background(), "f", 1)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(transports.ProgressWriter(io.Discard, transports.ProgressFunc(func(n int64) { wr.Add(n) })), transports.ProgressReader(r, transports.ProgressFunc(func(n int64) { rd.Add(n) })))
	r.Close()
	if up.Load() != int64(len(data)) || wr.Load() != int64(len(data)-1) || rd.Load() != int64(len(data)-1) {
		t.Fatalf("progress: upload %d, written %d, read %d; want %d, %d, %d", up.Load(), wr.Load(), rd.Load(), len(data), len(data)-1, len(data)-1)
	}
}

// TestProgressCountsWhatTheTargetAccepted: an upload the target cuts off
// counts the bytes it took, not the bytes offered.
func TestProgressCountsWhatTheTargetAccepted(t *testing.T) {
	var n atomic.Int64
	w := transports.ProgressWriter(&shortWriter{left: 5}, transports.ProgressFunc(func(k int64) { n.Add(k) }))
	if k, err := w.Write([]byte("hello world")); k != 5 || err == nil {
		t.Fatalf("Write = %d, %v; want 5 and an error", k, err)
	}
	if n.Load() != 5 {
		t.Fatalf("progress counted %d bytes, want 5", n.Load())
	}
}

// shortWriter accepts left bytes, then fails.
type shortWriter struct{ left int }

func (w *shortWriter) Write(b []byte) (int, error) {
	if len(b) <= w.left {
		w.left -= len(b)
		return len(b), nil
	}
	n := w.left
	w.left = 0
	return n, errors.New("no space left")
}

func TestTempNamesAreRecognised(t *testing.T) {
	n := transports.TempName("dir/disk.vmdk")
	if !strings.HasPrefix(n, "dir/.disk.vmdk.vmlua-") || !transports.IsTemp(n) {
		t.Fatalf("TempName = %q", n)
	}
	if transports.IsTemp("disk.vmdk") || transports.IsTemp(".hidden") {
		t.Fatal("IsTemp accepts ordinary names")
	}
}

func init() {
	transports.Register(transports.Scheme{
		Name: "mdtest", Aliases: []string{"mdt"}, URLForm: "mdtest://host/path", Help: "A scheme registered by the tests.",
		Options: []transports.Option{{Name: "speed", Default: "fast", Help: "how | fast"}},
		Open: func(context.Context, *url.URL, transports.Options) (transports.Transport, error) {
			return nil, errors.New("not for use")
		},
	})
}

func TestMarkdownMentionsEveryScheme(t *testing.T) {
	var b bytes.Buffer
	if err := transports.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	schemes := transports.Schemes()
	if len(schemes) < 2 {
		t.Fatalf("only %d schemes registered", len(schemes))
	}
	for _, s := range schemes {
		if !strings.Contains(out, "## "+s.Name+"\n") || !strings.Contains(out, s.URLForm) {
			t.Errorf("the Markdown does not document %s:\n%s", s.Name, out)
		}
	}
	for _, want := range []string{"`mdt://`", "| `speed` | `fast` | how \\| fast |"} {
		if !strings.Contains(out, want) {
			t.Errorf("the Markdown lacks %q:\n%s", want, out)
		}
	}
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func TestTempNamesNeverHoldTwoDots(t *testing.T) {
	for _, final := range []string{"a.txt", ".vmlua-lock", "dir/..hidden", "dir/x"} {
		tmp := transports.TempName(final)
		if strings.Contains(tmp, "..") || !transports.IsTemp(tmp) || path.Dir(tmp) != path.Dir(final) {
			t.Errorf("TempName(%q) = %q", final, tmp)
		}
	}
}

func TestWriteNewRetriesATransientFailureWhole(t *testing.T) {
	old := transports.WriteNewRetry
	transports.WriteNewRetry = quickRetry
	t.Cleanup(func() { transports.WriteNewRetry = old })
	proxy500 := errors.New("500 Internal Server Error: the proxy could not complete the request")
	cases := []struct {
		name      string
		closeErrs []error
		wantErr   error
		wantFile  bool
	}{
		{"one refused upload is written again", []error{proxy500}, nil, true},
		{"three refused uploads are written again", []error{proxy500, proxy500, proxy500}, nil, true},
		{"a failure that keeps coming ends the write, nothing left", []error{proxy500, proxy500, proxy500, proxy500}, proxy500, false},
		{"a full target is not retried", []error{transports.ErrNoSpace}, transports.ErrNoSpace, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base, dir := newFile(t)
			f := &faulty{Transport: base, closeErrs: c.closeErrs}
			err := transports.WriteNew(context.Background(), f, "lock", []byte("owner"))
			if c.wantErr == nil && err != nil || c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			b, rerr := os.ReadFile(filepath.Join(dir, "lock"))
			if c.wantFile && (rerr != nil || string(b) != "owner") {
				t.Fatalf("lock holds %q (%v), want %q", b, rerr, "owner")
			}
			if !c.wantFile && rerr == nil {
				t.Fatalf("a failed write left lock holding %q", b)
			}
		})
	}
}
