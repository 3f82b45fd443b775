package transporttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmlua/vmlua/transports"
)

// Target describes a transport under test.
type Target struct {
	Name string
	// Fresh makes a fresh, empty directory on the server and says how to
	// open it (Fresh). Required: the cases about opening URLs (create=),
	// concurrent exclusive creates from many connections and special
	// files use it, and New defaults to opening it.
	Fresh func(t *testing.T) Fresh
	// New returns a transport rooted at a fresh, empty directory on the
	// server. The suite Closes it when the subtest ends (Close must be
	// safe to call once more from New's own cleanup, if any). Default:
	// open Fresh's URL.
	New func(t *testing.T) transports.Transport
	// Kill, when set, kills the server abruptly (for the "server killed
	// mid-upload" case). The suite calls it only in the last subtest; New
	// may not be usable after it.
	Kill func(t *testing.T)
	// Full, when set, returns a transport whose target is nearly out of
	// space (a tiny tmpfs, a quota, a loop mount) for the disk-full case.
	Full func(t *testing.T) transports.Transport
	// NewB is New for Bench (a benchmark has no *testing.T). Write the
	// body once against testing.TB and use it for both. Bench fails
	// without it.
	NewB func(b *testing.B) transports.Transport
	// BigSize is the size of the big stream round trip; 0 means 64 MiB.
	BigSize int64
}

// Fresh is a fresh, empty directory on a test server.
type Fresh struct {
	// URL opens the directory (transports.Open) with Options.
	URL     string
	Options transports.Options
	// Dir is the directory on this machine (the test servers run here),
	// for making what the protocol cannot (a named pipe); "" when the
	// server's storage cannot hold one (say why in NoDir).
	Dir   string
	NoDir string
}

// DefaultBigSize is Target.BigSize when unset.
const DefaultBigSize = 64 << 20

// fullSize is how much the disk-full case tries to write: more than the
// few MiB a Full target should have free.
const fullSize = 64 << 20

// Case is one behaviour of the suite.
type Case struct {
	Name string
	Run  func(t *testing.T, tg Target, tr transports.Transport)
}

// Cases are the behaviours every transport must have, in the order Run
// runs them (the Full and Kill cases are added by Run when the Target
// supports them).
var Cases = []Case{
	{"a big stream from an opaque reader round-trips with its sha256", testBigStream},
	{"an empty file uploads and reads back empty", testEmpty},
	{"names with spaces and unicode round-trip", testNames},
	{"MkdirAll creates nested directories and accepts existing ones", testMkdirAll},
	{"Rename replaces an existing file", testRenameReplaces},
	{"Upload replaces an existing file", testUploadReplaces},
	{"List returns all 300 entries of a big directory", testListMany},
	{"Open at an offset returns the tail", testOpenOffset},
	{"a missing path is fs.ErrNotExist for Stat, Open and List", testMissing},
	{"Remove deletes a file and an empty directory", testRemove},
	{"paths that leave the root are refused with ErrOutsideRoot", testTraversal},
	{"a Writer that is aborted leaves no file", testWriterAbort},
	{"a failing source leaves neither the final file nor a partial", testFailingReader},
	{"cancelling mid-upload leaves neither the final file nor a partial", testCancel},
	{"CreateAtomic commits pushed bytes and Abort leaves nothing", testCreateAtomic},
	{"Verify re-reads the upload and passes on intact data", testVerify},
	{"CreateExclusive creates only where nothing is, complete, and leaves nothing else", testExclusive},
	{"CreateExclusive through the retry, limit and dry-run wrappers", testExclusiveWrapped},
	{"Open refuses a directory with ErrNotRegular, at once", testOpenDirectory},
	{"FreeSpace, where the transport reports it, says there is room", testFreeSpace},
}

// FreshCases are the behaviours that need Target.Fresh, run after Cases.
var FreshCases = []struct {
	Name string
	Run  func(t *testing.T, tg Target)
}{
	{"of 16 concurrent CreateExclusive calls on their own connections exactly one wins, round after round", testExclusiveRace},
	{"create=false refuses a missing folder, the default makes it", testCreateOption},
	{"a named pipe is refused at once, never read", testNamedPipe},
}

// Run runs the whole conformance suite against tg.
func Run(t *testing.T, tg Target) {
	if tg.Fresh == nil {
		t.Fatal("transporttest: Target.Fresh is required")
	}
	if tg.New == nil {
		tg.New = func(t *testing.T) transports.Transport { return OpenFresh(t, tg.Fresh(t)) }
	}
	for _, c := range Cases {
		t.Run(c.Name, func(t *testing.T) {
			tr := tg.New(t)
			t.Cleanup(func() { tr.Close() })
			c.Run(t, tg, tr)
		})
	}
	for _, c := range FreshCases {
		t.Run(c.Name, func(t *testing.T) { c.Run(t, tg) })
	}
	if tg.Full != nil {
		t.Run("a full target fails with ErrNoSpace and leaves no final file", func(t *testing.T) {
			tr := tg.Full(t)
			t.Cleanup(func() { tr.Close() })
			testFull(t, tr)
		})
		t.Run("FreeSpace, where the transport reports it, is that of the target: a nearly full one has little", func(t *testing.T) {
			tr := tg.Full(t)
			t.Cleanup(func() { tr.Close() })
			testFreeSpaceFull(t, tr)
		})
	} else {
		t.Logf("%s: no Full target: the disk-full case did not run", tg.Name)
	}
	if tg.Kill != nil {
		t.Run("killing the server mid-upload fails clearly and commits nothing", func(t *testing.T) {
			tr := tg.New(t)
			t.Cleanup(func() { tr.Close() })
			testKill(t, tg, tr)
		})
	} else {
		t.Logf("%s: no Kill: the server-killed case did not run", tg.Name)
	}
}

// Opaque hides everything but Read, so no layer can learn the size or use
// ReadFrom/WriterTo/Seek shortcuts: the stream looks like an export does.
func Opaque(r io.Reader) io.Reader { return struct{ io.Reader }{r} }

// Stream returns an opaque reader of n pseudo-random bytes from seed, and
// a function giving the sha256 of what was read so far (call it at EOF).
func Stream(seed uint64, n int64) (io.Reader, func() string) {
	var key [32]byte
	key[0] = byte(seed)
	key[1] = byte(seed >> 8)
	h := sha256.New()
	r := io.TeeReader(io.LimitReader(rand.NewChaCha8(key), n), h)
	return Opaque(r), func() string { return hex.EncodeToString(h.Sum(nil)) }
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func upload(t *testing.T, tr transports.Transport, p string, data []byte) transports.UploadResult {
	t.Helper()
	res, err := transports.Upload(ctxT(t), tr, p, Opaque(bytes.NewReader(data)), transports.UploadOptions{})
	if err != nil {
		t.Fatalf("Upload(%q): %v", p, err)
	}
	return res
}

func read(t *testing.T, tr transports.Transport, p string, off int64) []byte {
	t.Helper()
	r, err := tr.Open(ctxT(t), p, off)
	if err != nil {
		t.Fatalf("Open(%q, %d): %v", p, off, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading %q from %d: %v", p, off, err)
	}
	return b
}

func names(t *testing.T, tr transports.Transport, dir string) []string {
	t.Helper()
	l, err := tr.List(ctxT(t), dir)
	if err != nil {
		t.Fatalf("List(%q): %v", dir, err)
	}
	var out []string
	for _, fi := range l {
		out = append(out, fi.Name)
	}
	slices.Sort(out)
	return out
}

// assertClean fails when dir holds final or any temporary upload file.
func assertClean(t *testing.T, tr transports.Transport, dir, final string) {
	t.Helper()
	for _, n := range names(t, tr, dir) {
		if n == final {
			t.Errorf("%s: the final name %q exists after a failed upload", dir, n)
		}
		if transports.IsTemp(n) || strings.Contains(n, "partial") {
			t.Errorf("%s: a partial upload %q was left behind", dir, n)
		}
	}
}

func testBigStream(t *testing.T, tg Target, tr transports.Transport) {
	n := tg.BigSize
	if n == 0 {
		n = DefaultBigSize
	}
	src, sum := Stream(1, n)
	res, err := transports.Upload(ctxT(t), tr, "big.bin", src, transports.UploadOptions{})
	if err != nil {
		t.Fatalf("Upload of %d bytes: %v", n, err)
	}
	want := sum()
	if res.Bytes != n || res.SHA256 != want {
		t.Fatalf("Upload reported %d bytes sha256 %s, source had %d bytes sha256 %s", res.Bytes, res.SHA256, n, want)
	}
	fi, err := tr.Stat(ctxT(t), "big.bin")
	if err != nil || fi.Size != n || fi.IsDir {
		t.Fatalf("Stat(big.bin) = %+v, %v; want a %d-byte file", fi, err, n)
	}
	r, err := tr.Open(ctxT(t), "big.bin", 0)
	if err != nil {
		t.Fatalf("Open(big.bin): %v", err)
	}
	defer r.Close()
	h := sha256.New()
	got, err := io.Copy(h, Opaque(r))
	if err != nil {
		t.Fatalf("reading big.bin back after %d bytes: %v", got, err)
	}
	if gs := hex.EncodeToString(h.Sum(nil)); got != n || gs != want {
		t.Fatalf("read back %d bytes sha256 %s, want %d bytes sha256 %s", got, gs, n, want)
	}
	if l := names(t, tr, ""); !slices.Equal(l, []string{"big.bin"}) {
		t.Fatalf("root lists %q after the upload, want only big.bin", l)
	}
}

func testEmpty(t *testing.T, _ Target, tr transports.Transport) {
	res := upload(t, tr, "empty", nil)
	if res.Bytes != 0 || res.SHA256 != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Fatalf("Upload(empty) = %+v", res)
	}
	fi, err := tr.Stat(ctxT(t), "empty")
	if err != nil || fi.Size != 0 || fi.IsDir {
		t.Fatalf("Stat(empty) = %+v, %v", fi, err)
	}
	if b := read(t, tr, "empty", 0); len(b) != 0 {
		t.Fatalf("read %d bytes from an empty file", len(b))
	}
}

func testNames(t *testing.T, _ Target, tr transports.Transport) {
	dir := "dir with spaces/ünïcødé 日本語"
	if err := tr.MkdirAll(ctxT(t), dir); err != nil {
		t.Fatalf("MkdirAll(%q): %v", dir, err)
	}
	files := []string{"a file.txt", "Grüße – ☃.vmdk", "日本語ファイル", "x y  z", "semi;colon&amp'quote"}
	for _, f := range files {
		upload(t, tr, dir+"/"+f, []byte(f))
	}
	want := slices.Clone(files)
	slices.Sort(want)
	if got := names(t, tr, dir); !slices.Equal(got, want) {
		t.Fatalf("List(%q) = %q, want %q", dir, got, want)
	}
	for _, f := range files {
		if b := read(t, tr, dir+"/"+f, 0); string(b) != f {
			t.Errorf("%q holds %q", f, b)
		}
	}
	if got := names(t, tr, "dir with spaces"); !slices.Equal(got, []string{"ünïcødé 日本語"}) {
		t.Fatalf("List(dir with spaces) = %q", got)
	}
}

func testMkdirAll(t *testing.T, _ Target, tr transports.Transport) {
	ctx := ctxT(t)
	for _, p := range []string{"a/b/c/d", "a/b/c/d", "a/b", "a/x/y", "", "."} {
		if err := tr.MkdirAll(ctx, p); err != nil {
			t.Fatalf("MkdirAll(%q): %v", p, err)
		}
	}
	for _, p := range []string{"a", "a/b", "a/b/c", "a/b/c/d", "a/x/y"} {
		fi, err := tr.Stat(ctx, p)
		if err != nil || !fi.IsDir {
			t.Fatalf("Stat(%q) = %+v, %v; want a directory", p, fi, err)
		}
	}
	if got := names(t, tr, "a"); !slices.Equal(got, []string{"b", "x"}) {
		t.Fatalf("List(a) = %q", got)
	}
	upload(t, tr, "a/b/c/d/f", []byte("deep"))
	if b := read(t, tr, "a/b/c/d/f", 0); string(b) != "deep" {
		t.Fatalf("read %q", b)
	}
}

func testRenameReplaces(t *testing.T, _ Target, tr transports.Transport) {
	upload(t, tr, "old", []byte("the old content, longer than the new"))
	upload(t, tr, "new", []byte("new"))
	if err := tr.Rename(ctxT(t), "new", "old"); err != nil {
		t.Fatalf("Rename(new, old) onto an existing file: %v", err)
	}
	if b := read(t, tr, "old", 0); string(b) != "new" {
		t.Fatalf("old holds %q after the rename", b)
	}
	if _, err := tr.Stat(ctxT(t), "new"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat(new) after the rename: %v, want fs.ErrNotExist", err)
	}
	if err := tr.MkdirAll(ctxT(t), "sub"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Rename(ctxT(t), "old", "sub/moved"); err != nil {
		t.Fatalf("Rename into a subdirectory: %v", err)
	}
	if b := read(t, tr, "sub/moved", 0); string(b) != "new" {
		t.Fatalf("sub/moved holds %q", b)
	}
}

func testUploadReplaces(t *testing.T, _ Target, tr transports.Transport) {
	upload(t, tr, "f", bytes.Repeat([]byte("old"), 1000))
	upload(t, tr, "f", []byte("fresh"))
	if b := read(t, tr, "f", 0); string(b) != "fresh" {
		t.Fatalf("f holds %d bytes %.20q after the second upload", len(b), b)
	}
	if got := names(t, tr, ""); !slices.Equal(got, []string{"f"}) {
		t.Fatalf("root lists %q", got)
	}
}

func testListMany(t *testing.T, _ Target, tr transports.Transport) {
	ctx := ctxT(t)
	if err := tr.MkdirAll(ctx, "many"); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 300 {
		n := fmt.Sprintf("entry-%03d", i)
		want = append(want, n)
		w, err := tr.Create(ctx, "many/"+n)
		if err != nil {
			t.Fatalf("Create(%q): %v", n, err)
		}
		if _, err := io.WriteString(w, n); err != nil {
			t.Fatalf("write %q: %v", n, err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("Close %q: %v", n, err)
		}
	}
	l, err := tr.List(ctx, "many")
	if err != nil {
		t.Fatalf("List(many): %v", err)
	}
	var got []string
	for _, fi := range l {
		got = append(got, fi.Name)
		if fi.Size != int64(len(fi.Name)) || fi.IsDir {
			t.Errorf("List entry %+v: want a %d-byte file", fi, len(fi.Name))
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("List(many) returned %d entries, want 300 (first: %q)", len(got), got[:min(5, len(got))])
	}
}

func testOpenOffset(t *testing.T, _ Target, tr transports.Transport) {
	data := make([]byte, 3<<20+17)
	for i := range data {
		data[i] = byte(i * 7 / 3)
	}
	upload(t, tr, "f", data)
	for _, off := range []int64{0, 1, 4096, 1<<20 + 5, int64(len(data)) - 1, int64(len(data))} {
		if b := read(t, tr, "f", off); !bytes.Equal(b, data[off:]) {
			t.Fatalf("Open at %d returned %d bytes, want the %d-byte tail", off, len(b), len(data)-int(off))
		}
	}
}

func testMissing(t *testing.T, _ Target, tr transports.Transport) {
	ctx := ctxT(t)
	if _, err := tr.Stat(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(nope) = %v, want fs.ErrNotExist", err)
	}
	if _, err := tr.Stat(ctx, "no/such/dir/file"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(no/such/dir/file) = %v, want fs.ErrNotExist", err)
	}
	if r, err := tr.Open(ctx, "nope", 0); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			r.Close()
		}
		t.Errorf("Open(nope) = %v, want fs.ErrNotExist", err)
	}
	if _, err := tr.List(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List(nope) = %v, want fs.ErrNotExist", err)
	}
	if err := tr.Remove(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove(nope) = %v, want fs.ErrNotExist", err)
	}
}

func testRemove(t *testing.T, _ Target, tr transports.Transport) {
	ctx := ctxT(t)
	if err := tr.MkdirAll(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	upload(t, tr, "d/f", []byte("x"))
	if err := tr.Remove(ctx, "d/f"); err != nil {
		t.Fatalf("Remove(d/f): %v", err)
	}
	if _, err := tr.Stat(ctx, "d/f"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat(d/f) after Remove = %v, want fs.ErrNotExist", err)
	}
	if err := tr.Remove(ctx, "d"); err != nil {
		t.Fatalf("Remove of the empty directory d: %v", err)
	}
	if got := names(t, tr, ""); len(got) != 0 {
		t.Fatalf("root lists %q after removing everything", got)
	}
}

func testTraversal(t *testing.T, _ Target, tr transports.Transport) {
	ctx := ctxT(t)
	upload(t, tr, "inside", []byte("x"))
	bad := []string{"../x", "/etc/passwd", "a/../../x", "..", "../", `..\x`}
	for _, p := range bad {
		check := func(op string, err error) {
			t.Helper()
			if !errors.Is(err, transports.ErrOutsideRoot) {
				t.Errorf("%s(%q) = %v, want ErrOutsideRoot", op, p, err)
			}
		}
		_, err := tr.Stat(ctx, p)
		check("Stat", err)
		_, err = tr.List(ctx, p)
		check("List", err)
		check("MkdirAll", tr.MkdirAll(ctx, p))
		check("Rename from", tr.Rename(ctx, p, "y"))
		check("Rename to", tr.Rename(ctx, "inside", p))
		check("Remove", tr.Remove(ctx, p))
		w, err := tr.Create(ctx, p)
		if err == nil {
			w.Abort()
		}
		check("Create", err)
		r, err := tr.Open(ctx, p, 0)
		if err == nil {
			r.Close()
		}
		check("Open", err)
		_, err = transports.Upload(ctx, tr, p, strings.NewReader("x"), transports.UploadOptions{})
		check("Upload", err)
	}
	if b := read(t, tr, "inside", 0); string(b) != "x" {
		t.Fatalf("inside holds %q after the refused calls", b)
	}
}

func testWriterAbort(t *testing.T, _ Target, tr transports.Transport) {
	w, err := tr.Create(ctxT(t), "aborted")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("a"), 1<<20)); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close after Abort must be a no-op, got %v", err)
	}
	if got := names(t, tr, ""); len(got) != 0 {
		t.Fatalf("root lists %q after an aborted write", got)
	}
}

// failAfter yields n bytes and then fails.
type failAfter struct {
	n   int64
	err error
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	p = p[:min(int64(len(p)), f.n)]
	clear(p)
	f.n -= int64(len(p))
	return len(p), nil
}

func testFailingReader(t *testing.T, _ Target, tr transports.Transport) {
	boom := errors.New("source broke")
	_, err := transports.Upload(ctxT(t), tr, "f", &failAfter{n: 5 << 20, err: boom}, transports.UploadOptions{})
	if !errors.Is(err, boom) {
		t.Fatalf("Upload from a failing source = %v, want it to wrap the source's error", err)
	}
	assertClean(t, tr, "", "f")
}

// hook calls f once after n bytes have been read, then keeps streaming.
type hook struct {
	r    io.Reader
	n    int64
	f    func()
	done bool
}

func (h *hook) Read(p []byte) (int, error) {
	if !h.done && h.n <= 0 {
		h.done = true
		h.f()
	}
	n, err := h.r.Read(p)
	h.n -= int64(n)
	return n, err
}

func testCancel(t *testing.T, _ Target, tr transports.Transport) {
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	src, _ := Stream(2, 256<<20)
	_, err := transports.Upload(ctx, tr, "f", &hook{r: src, n: 8 << 20, f: cancel}, transports.UploadOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Upload cancelled mid-stream = %v, want context.Canceled", err)
	}
	assertClean(t, tr, "", "f")
}

func testCreateAtomic(t *testing.T, _ Target, tr transports.Transport) {
	ctx := ctxT(t)
	w, err := transports.CreateAtomic(ctx, tr, "pushed", transports.UploadOptions{ExpectedSize: 6})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	fmt.Fprint(w, "abc")
	fmt.Fprint(w, "def")
	if _, err := tr.Stat(ctx, "pushed"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the final name exists before Commit (Stat = %v)", err)
	}
	res, err := w.Commit()
	if err != nil || res.Bytes != 6 {
		t.Fatalf("Commit = %+v, %v", res, err)
	}
	if b := read(t, tr, "pushed", 0); string(b) != "abcdef" {
		t.Fatalf("pushed holds %q", b)
	}
	w2, err := transports.CreateAtomic(ctx, tr, "dropped", transports.UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w2, "x")
	if err := w2.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if got := names(t, tr, ""); !slices.Equal(got, []string{"pushed"}) {
		t.Fatalf("root lists %q, want only pushed", got)
	}
	// a size mismatch fails and leaves nothing new
	w3, err := transports.CreateAtomic(ctx, tr, "short", transports.UploadOptions{ExpectedSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w3, "abc")
	if _, err := w3.Commit(); err == nil {
		t.Fatal("Commit of 3 bytes with ExpectedSize 10 succeeded")
	}
	if got := names(t, tr, ""); !slices.Equal(got, []string{"pushed"}) {
		t.Fatalf("root lists %q after a short upload, want only pushed", got)
	}
}

func testVerify(t *testing.T, _ Target, tr transports.Transport) {
	src, sum := Stream(3, 5<<20+3)
	res, err := transports.Upload(ctxT(t), tr, "v", src, transports.UploadOptions{Verify: true})
	if err != nil {
		t.Fatalf("Upload with Verify: %v", err)
	}
	if res.SHA256 != sum() {
		t.Fatalf("sha256 %s, want %s", res.SHA256, sum())
	}
	src, _ = Stream(4, 1000)
	_, err = transports.Upload(ctxT(t), tr, "w", src, transports.UploadOptions{ExpectedSHA256: strings.Repeat("0", 64)})
	if err == nil {
		t.Fatal("Upload with a wrong ExpectedSHA256 succeeded")
	}
	assertClean(t, tr, "", "w")
}

func testFull(t *testing.T, tr transports.Transport) {
	src, _ := Stream(5, fullSize)
	_, err := transports.Upload(ctxT(t), tr, "f", src, transports.UploadOptions{})
	if !errors.Is(err, transports.ErrNoSpace) {
		t.Fatalf("Upload of %d MiB to a full target = %v, want ErrNoSpace", fullSize>>20, err)
	}
	assertClean(t, tr, "", "f")
	// the space is back: a small file fits again
	upload(t, tr, "small", []byte("fits"))
}

// testFreeSpace: a transport that reports its free space
// (transports.SpaceReporter, what vmlua doctor compares with a backup's
// disks) reports some on a fresh target.
func testFreeSpace(t *testing.T, _ Target, tr transports.Transport) {
	sr, ok := transports.As[transports.SpaceReporter](tr)
	if !ok {
		t.Logf("%T does not report its free space", tr)
		return
	}
	free, err := sr.FreeSpace(ctxT(t), "")
	if err != nil || free <= 0 {
		t.Errorf("FreeSpace = %d, %v; want the target's free bytes", free, err)
	}
}

// testFreeSpaceFull: on a target of a few MiB, FreeSpace says so (not
// the free space of some other file system).
func testFreeSpaceFull(t *testing.T, tr transports.Transport) {
	sr, ok := transports.As[transports.SpaceReporter](tr)
	if !ok {
		t.Logf("%T does not report its free space", tr)
		return
	}
	free, err := sr.FreeSpace(ctxT(t), "")
	if err != nil || free < 0 || free >= fullSize {
		t.Errorf("FreeSpace of a nearly full target = %d, %v; want under %d MiB", free, err, fullSize>>20)
	}
}

func testKill(t *testing.T, tg Target, tr transports.Transport) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	src, _ := Stream(6, 1<<30)
	_, err := transports.Upload(ctx, tr, "f", &hook{r: src, n: 16 << 20, f: func() { tg.Kill(t) }}, transports.UploadOptions{})
	if err == nil {
		t.Fatal("Upload succeeded although the server was killed mid-stream")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Upload hung until its deadline after the server was killed: %v", err)
	}
	t.Logf("error after the kill (this is what the user sees): %v", err)
}

// Bench measures Upload of size bytes from an opaque reader (b.SetBytes,
// so go test reports MB/s). The bytes come from a file written once before
// the timer starts, so the source costs what it costs a cp of that file.
func Bench(b *testing.B, tg Target, size int64) {
	if tg.NewB == nil {
		b.Fatalf("transporttest.Bench: Target %q has no NewB", tg.Name)
	}
	src := SourceFile(b, size)
	tr := tg.NewB(b)
	defer tr.Close()
	ctx := context.Background()
	b.SetBytes(size)
	for b.Loop() {
		// replacing a 1 GiB file frees its blocks inside the timed
		// rename; measure the upload, not the file system's unlink
		b.StopTimer()
		if err := tr.Remove(ctx, "bench.bin"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			b.Fatal(err)
		}
		b.StartTimer()
		f, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		res, err := transports.Upload(ctx, tr, "bench.bin", Opaque(f), transports.UploadOptions{})
		f.Close()
		if err != nil {
			b.Fatalf("Upload: %v", err)
		}
		if res.Bytes != size {
			b.Fatalf("uploaded %d bytes, want %d", res.Bytes, size)
		}
	}
}

// SourceFile writes size pseudo-random bytes to a temporary file and
// returns its path; it is removed when b ends.
func SourceFile(tb testing.TB, size int64) string {
	tb.Helper()
	f, err := os.CreateTemp(tb.TempDir(), "src-*.bin")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r, _ := Stream(7, size)
	if _, err := io.CopyBuffer(f, r, make([]byte, 1<<20)); err != nil {
		tb.Fatal(err)
	}
	// flush it now, so its write-back does not compete with the timed run
	if err := f.Sync(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return f.Name()
}
