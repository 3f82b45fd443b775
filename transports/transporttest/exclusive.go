package transporttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vmlua/vmlua/transports"
)

// OpenFresh opens f's URL with its options; the transport is closed when t
// ends.
func OpenFresh(t testing.TB, f Fresh) transports.Transport {
	t.Helper()
	tr, err := transports.Open(context.Background(), f.URL, f.Options)
	if err != nil {
		t.Fatalf("open %s: %v", transports.Redact(f.URL), err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// below returns rawURL with rel appended to its path (query kept).
func below(t *testing.T, rawURL, rel string) string {
	t.Helper()
	u, err := transports.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = path.Join(u.Path, rel)
	u.RawPath = ""
	if s, ok := transports.Lookup(u.Scheme); ok && s.FormatURL != nil {
		return s.FormatURL(u)
	}
	return u.String()
}

// withParam returns opts with a scheme option set (it wins over the URL's
// query).
func withParam(opts transports.Options, name, value string) transports.Options {
	p := map[string]string{}
	for k, v := range opts.Params {
		p[k] = v
	}
	p[name] = value
	opts.Params = p
	return opts
}

// assertOnly fails unless dir lists exactly want: no temporary file, no
// guard folder left behind.
func assertOnly(t *testing.T, tr transports.Transport, dir string, want ...string) {
	t.Helper()
	got := names(t, tr, dir)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%q lists %q, want exactly %q (nothing left behind)", dir, got, want)
	}
}

func testExclusive(t *testing.T, _ Target, tr transports.Transport) {
	ctx := ctxT(t)
	first := []byte(`{"token":"first"}`)
	if err := transports.CreateExclusive(ctx, tr, "lock", first); err != nil {
		t.Fatalf("CreateExclusive(lock) where nothing is: %v", err)
	}
	if b := read(t, tr, "lock", 0); !bytes.Equal(b, first) {
		t.Fatalf("lock holds %q, want %q", b, first)
	}
	err := transports.CreateExclusive(ctx, tr, "lock", []byte(`{"token":"second, longer than the first"}`))
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateExclusive(lock) over an existing file = %v, want fs.ErrExist", err)
	}
	if b := read(t, tr, "lock", 0); !bytes.Equal(b, first) {
		t.Fatalf("lock holds %q after the refused second create, want %q", b, first)
	}
	if err := tr.MkdirAll(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	if err := transports.CreateExclusive(ctx, tr, "d", []byte("x")); !errors.Is(err, fs.ErrExist) {
		t.Errorf("CreateExclusive(d) over a directory = %v, want fs.ErrExist", err)
	}
	if err := transports.CreateExclusive(ctx, tr, "d/.vmlua-lock", []byte("in d")); err != nil {
		t.Fatalf("CreateExclusive of a dot-file in a sub-directory: %v", err)
	}
	if b := read(t, tr, "d/.vmlua-lock", 0); string(b) != "in d" {
		t.Fatalf("d/.vmlua-lock holds %q", b)
	}
	if err := transports.CreateExclusive(ctx, tr, "../x", []byte("x")); !errors.Is(err, transports.ErrOutsideRoot) {
		t.Errorf("CreateExclusive(../x) = %v, want ErrOutsideRoot", err)
	}
	if err := tr.Remove(ctx, "lock"); err != nil {
		t.Fatal(err)
	}
	if err := transports.CreateExclusive(ctx, tr, "lock", []byte("again")); err != nil {
		t.Fatalf("CreateExclusive(lock) after it was removed: %v", err)
	}
	assertOnly(t, tr, "", "d", "lock")
	assertOnly(t, tr, "d", ".vmlua-lock")
}

func testExclusiveWrapped(t *testing.T, _ Target, tr transports.Transport) {
	ctx := ctxT(t)
	quiet := slog.New(slog.DiscardHandler)
	w := transports.Limit(transports.Retry(tr, transports.RetryOptions{Logger: quiet}), 2)
	if err := transports.CreateExclusive(ctx, w, "lock", []byte("mine")); err != nil {
		t.Fatalf("CreateExclusive through retry and limit: %v", err)
	}
	if err := transports.CreateExclusive(ctx, w, "lock", []byte("theirs")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("a second CreateExclusive through retry and limit = %v, want fs.ErrExist at once", err)
	}
	dry := transports.DryRun(w, quiet)
	if err := transports.CreateExclusive(ctx, dry, "lock", []byte("dry")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("a dry run's CreateExclusive over an existing file = %v, want fs.ErrExist", err)
	}
	if err := transports.CreateExclusive(ctx, dry, "other", []byte("dry")); err != nil {
		t.Fatalf("a dry run's CreateExclusive: %v", err)
	}
	if err := transports.CreateExclusive(ctx, dry, "other", []byte("dry")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("a dry run's second CreateExclusive of the same name = %v, want fs.ErrExist", err)
	}
	assertOnly(t, tr, "", "lock")
	if b := read(t, tr, "lock", 0); string(b) != "mine" {
		t.Fatalf("lock holds %q", b)
	}
}

func testOpenDirectory(t *testing.T, _ Target, tr transports.Transport) {
	ctx := ctxT(t)
	if err := tr.MkdirAll(ctx, "dir"); err != nil {
		t.Fatal(err)
	}
	c := &countOpens{Transport: tr}
	quick := transports.RetryOptions{Attempts: 3, Initial: time.Millisecond, Max: time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	r, err := transports.Retry(c, quick).Open(ctx, "dir", 0)
	if err == nil {
		b, rerr := io.ReadAll(r)
		r.Close()
		t.Fatalf("Open(dir) succeeded (read %d bytes, %v); want ErrNotRegular", len(b), rerr)
	}
	if !errors.Is(err, transports.ErrNotRegular) {
		t.Errorf("Open(dir) = %v, want ErrNotRegular", err)
	}
	if n := c.n; n != 1 {
		t.Errorf("Open(dir) was tried %d times through the retry wrapper, want once: the error is permanent", n)
	}
	t.Logf("user sees: %v", err)
}

type countOpens struct {
	transports.Transport
	n int
}

func (c *countOpens) Open(ctx context.Context, p string, off int64) (io.ReadCloser, error) {
	c.n++
	return c.Transport.Open(ctx, p, off)
}

// Race sizes: callers per round (each on its own connection) and rounds.
const (
	raceCallers = 16
	raceRounds  = 5
)

func testExclusiveRace(t *testing.T, tg Target) {
	f := tg.Fresh(t)
	trs := make([]transports.Transport, raceCallers)
	for i := range trs {
		trs[i] = OpenFresh(t, f)
	}
	ctx := ctxT(t)
	var want []string
	for round := range raceRounds {
		name := fmt.Sprintf("lock-%d", round)
		want = append(want, name)
		start := make(chan struct{})
		errs := make([]error, raceCallers)
		var wg sync.WaitGroup
		for i, tr := range trs {
			wg.Go(func() {
				<-start
				errs[i] = transports.CreateExclusive(ctx, tr, name, fmt.Appendf(nil, "caller %d of round %d", i, round))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("round %d: callers %d and %d both created %s", round, winner, i, name)
			case err == nil:
				winner = i
			case !errors.Is(err, fs.ErrExist):
				t.Errorf("round %d: caller %d failed with %v, want fs.ErrExist", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: nobody created %s: %v", round, name, errors.Join(errs...))
		}
		if b := read(t, trs[0], name, 0); string(b) != fmt.Sprintf("caller %d of round %d", winner, round) {
			t.Fatalf("round %d: %s holds %q, but caller %d won", round, name, b, winner)
		}
	}
	assertOnly(t, trs[0], "", want...)
}

func testCreateOption(t *testing.T, tg Target) {
	f := tg.Fresh(t)
	ctx := ctxT(t)
	missing := below(t, f.URL, "missing/deeper")
	tr, err := transports.Open(ctx, missing, withParam(f.Options, "create", "false"))
	if err == nil {
		tr.Close()
		t.Fatalf("open %s with create=false succeeded; want a missing folder refused", transports.Redact(missing))
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("open of a missing folder with create=false = %v, want fs.ErrNotExist", err)
	}
	t.Logf("user sees: %v", err)
	parent := OpenFresh(t, f)
	assertOnly(t, parent, "")

	made := below(t, f.URL, "made/deeper")
	tr, err = transports.Open(ctx, made, f.Options)
	if err != nil {
		t.Fatalf("open %s (create defaults to true): %v", transports.Redact(made), err)
	}
	defer tr.Close()
	if fi, err := parent.Stat(ctx, "made/deeper"); err != nil || !fi.IsDir {
		t.Fatalf("after opening %s, made/deeper is %+v, %v; want a folder", transports.Redact(made), fi, err)
	}
	upload(t, tr, "f", []byte("inside"))
	if b := read(t, parent, "made/deeper/f", 0); string(b) != "inside" {
		t.Fatalf("made/deeper/f holds %q", b)
	}
	again, err := transports.Open(ctx, made, withParam(f.Options, "create", "false"))
	if err != nil {
		t.Fatalf("open of an existing folder with create=false: %v", err)
	}
	again.Close()

	upload(t, parent, "afile", []byte("x"))
	for _, create := range []string{"true", "false"} {
		file := below(t, f.URL, "afile")
		if tr, err := transports.Open(ctx, file, withParam(f.Options, "create", create)); err == nil {
			tr.Close()
			t.Errorf("open of %s, a file, with create=%s succeeded; want it refused", transports.Redact(file), create)
		}
	}
}

func testNamedPipe(t *testing.T, tg Target) {
	f := tg.Fresh(t)
	if f.Dir == "" {
		t.Logf("%s: no named pipe can be made on its storage (%s): only the directory case ran", tg.Name, f.NoDir)
		return
	}
	tr := OpenFresh(t, f)
	fifo := filepath.Join(f.Dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o666); err != nil {
		t.Fatal(err)
	}
	// hold the pipe's other end open, so that a transport that opens it
	// would block in read, not in open, and never get EOF
	l, err := net.Listen("unix", filepath.Join(f.Dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx := ctxT(t)
	for _, name := range []string{"fifo", "sock"} {
		r, err := tr.Open(ctx, name, 0)
		if err == nil {
			var b [1]byte
			n, rerr := r.Read(b[:])
			r.Close()
			if n > 0 || rerr == nil || rerr == io.EOF {
				t.Errorf("Open(%s) succeeded and its first read returned %d bytes, %v; want it refused", name, n, rerr)
				continue
			}
			err = rerr
		}
		// vsftpd does not show special files at all, Samba opens them and
		// refuses to read: a permanent error either way, never a hang
		switch c := transports.Classify(err); c {
		case transports.ClassNotRegular, transports.ClassNotFound, transports.ClassPermission:
		default:
			t.Errorf("Open(%s) = %v (%s); want a permanent refusal (not a regular file)", name, err, c)
		}
		t.Logf("%s: user sees: %v", name, err)
	}
	if got := strings.Join(names(t, tr, ""), ","); strings.Contains(got, "partial") {
		t.Errorf("the folder lists %s", got)
	}
}
