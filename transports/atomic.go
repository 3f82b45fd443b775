package transports

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vmlua/vmlua/internal/spansum"
)

// UploadOptions tune Upload and CreateAtomic. The zero value checks the byte
// count against what the target reports and nothing else.
type UploadOptions struct {
	// ExpectedSize, when > 0, is the number of bytes the caller promises;
	// a different count fails the upload. (An empty upload can be pinned
	// with ExpectedSHA256 of the empty string.)
	ExpectedSize int64
	// ExpectedSHA256, when set, is the hex sha256 the bytes must have.
	ExpectedSHA256 string
	// Verify re-reads the temporary file from the target and re-hashes it
	// before the rename. It doubles the traffic; dry-run skips it.
	Verify bool
	// Progress, when set, is told about every byte accepted by the target
	// (ProgressWriter around the target's writer).
	Progress Progress
	// Spans digests the bytes per 4 MiB span (internal/spansum), spans in
	// parallel on every core, into UploadResult.Spans, instead of one
	// whole-stream sha256 on one core: UploadResult.SHA256 is then empty
	// unless WholeSHA256 or ExpectedSHA256 is set too.
	Spans bool
	// WholeSHA256 also computes the whole-stream sha256 with Spans (it
	// costs one core's hashing of every byte, as without Spans).
	WholeSHA256 bool
	// ExpectedRoot, with Spans, is the span root the bytes must have.
	ExpectedRoot string
}

// UploadResult is what a successful upload wrote.
type UploadResult struct {
	Bytes  int64
	SHA256 string // lower-case hex; empty with Spans unless asked for
	// Spans is the span digest (with UploadOptions.Spans, else nil).
	Spans *spansum.Digest
}

// tempMarker is in every temporary name Upload uses; IsTemp looks for it.
const tempMarker = ".vmlua-"

// TempName returns a fresh temporary name next to final:
// "dir/.<name>.vmlua-<random>.partial".
func TempName(final string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	dir, name := path.Split(final)
	// One leading dot, also for a dot-file: "..name" would hold "..", which
	// datastore /folder URLs (and careful servers) refuse as a path climb.
	return dir + "." + strings.TrimLeft(name, ".") + tempMarker + hex.EncodeToString(b[:]) + ".partial"
}

// IsTemp reports whether a base name is one of Upload's temporary names,
// left behind by a crash; cleanup jobs and listings may skip or remove them.
func IsTemp(name string) bool {
	name = path.Base(name)
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".partial") && strings.Contains(name, tempMarker)
}

// cleanupTimeout bounds the best-effort removal of a partial upload, which
// runs even when the caller's context is already cancelled.
const cleanupTimeout = 30 * time.Second

// AtomicWriter is an upload in progress for callers that produce data by
// writing (exports). Bytes go to a temporary name in the final directory;
// Commit checks and renames them into place, Abort removes them. Exactly one
// of Commit or Abort must be called; Abort after Commit is a no-op, so
// `defer w.Abort()` is the idiom.
type AtomicWriter struct {
	ctx   context.Context
	t     Transport
	final string
	temp  string
	opts  UploadOptions
	w     Writer
	h     hash.Hash       // the whole-stream sha256, or nil
	sp    *spansum.Hasher // the span digest, or nil
	n     int64
	done  bool
	err   error // first write error; Commit fails with it
}

// CreateAtomic starts an atomic upload to path on t.
func CreateAtomic(ctx context.Context, t Transport, p string, opts UploadOptions) (*AtomicWriter, error) {
	final, err := CleanPath(p)
	if err != nil {
		return nil, err
	}
	if final == "" {
		return nil, fmt.Errorf("upload to the transport's root directory itself: a file name is needed")
	}
	temp := TempName(final)
	w, err := t.Create(WithStagedFinal(ctx, temp, final), temp)
	if err != nil {
		return nil, fmt.Errorf("upload %s: create temporary %s: %w", final, temp, err)
	}
	if opts.Progress != nil {
		w = withProgress(w, opts.Progress)
	}
	a := &AtomicWriter{ctx: ctx, t: t, final: final, temp: temp, opts: opts, w: w}
	if !opts.Spans || opts.WholeSHA256 || opts.ExpectedSHA256 != "" {
		a.h = sha256.New()
	}
	if opts.Spans {
		a.sp = spansum.New()
	}
	return a, nil
}

// TempPath is where the bytes go until Commit.
func (a *AtomicWriter) TempPath() string { return a.temp }

// Written is the number of bytes accepted so far.
func (a *AtomicWriter) Written() int64 { return a.n }

// Write sends p to the target, hashing and counting it. It fails once the
// context is done.
func (a *AtomicWriter) Write(p []byte) (int, error) {
	if a.done {
		return 0, fmt.Errorf("upload %s: write after Commit or Abort", a.final)
	}
	if a.err != nil {
		return 0, a.err
	}
	if err := a.ctx.Err(); err != nil {
		a.err = fmt.Errorf("upload %s: %w", a.final, err)
		return 0, a.err
	}
	if a.h == nil {
		// span digests only: the spans' goroutines hash while the target
		// takes the bytes (on a short write the digest is wrong, but then
		// the upload fails anyway)
		done := make(chan struct{})
		a.sp.Add(p, func() { close(done) })
		n, err := a.send(p)
		<-done
		return n, err
	}
	if len(p) >= parallelHashMin {
		// hash on the other core while the target takes the bytes; on a
		// short write the hash is wrong, but then the upload fails anyway
		done := make(chan struct{})
		go func() { a.h.Write(p); close(done) }()
		if a.sp != nil {
			a.sp.Write(p)
		}
		n, err := a.send(p)
		<-done
		return n, err
	}
	n, err := a.send(p)
	a.h.Write(p[:n])
	if a.sp != nil {
		a.sp.Write(p[:n])
	}
	return n, err
}

// WriteOwned sends p to the target, in writes of at most 1 MiB, and hands
// it to the span digest, which may still be hashing it when WriteOwned
// returns: the caller leaves p untouched until release is called (from
// any goroutine; always exactly once, also on failure). So consecutive
// spans are hashed on several cores while the next bytes are sent. With a
// whole-stream sha256 too it is Write, then release.
func (a *AtomicWriter) WriteOwned(p []byte, release func()) error {
	if a.h != nil || a.done || a.err != nil {
		_, err := a.Write(p)
		release()
		return err
	}
	if err := a.ctx.Err(); err != nil {
		release()
		a.err = fmt.Errorf("upload %s: %w", a.final, err)
		return a.err
	}
	// p is released once both the hash and the send are done with it
	done := afterBoth(release)
	a.sp.Add(p, done)
	defer done()
	for len(p) > 0 {
		k := min(len(p), copyBufSize)
		if _, err := a.send(p[:k]); err != nil {
			return err
		}
		p = p[k:]
	}
	return nil
}

// afterBoth returns a func that calls release on its second call.
func afterBoth(release func()) func() {
	var left atomic.Int32
	left.Store(2)
	return func() {
		if left.Add(-1) == 0 {
			release()
		}
	}
}

// send writes p to the target, counting it, without hashing it (the
// caller hashes).
func (a *AtomicWriter) send(p []byte) (int, error) {
	n, err := a.w.Write(p)
	a.n += int64(n)
	if err != nil {
		a.err = fmt.Errorf("upload %s: write after %d bytes: %w", a.final, a.n, err)
		return n, a.err
	}
	return n, nil
}

// Close commits; it is there so an AtomicWriter is an io.WriteCloser.
func (a *AtomicWriter) Close() error {
	_, err := a.Commit()
	return err
}

// Commit finishes the upload: closes the temporary file, checks its size
// (and the expected size and sha256 when given, and re-reads it when
// opts.Verify), then renames it onto the final name, replacing any file
// there. On any failure the temporary file is removed and the final name is
// untouched.
func (a *AtomicWriter) Commit() (UploadResult, error) {
	if a.done {
		return UploadResult{}, fmt.Errorf("upload %s: Commit after Commit or Abort", a.final)
	}
	res, err := a.commit()
	if err != nil {
		a.abort(true)
		return UploadResult{}, err
	}
	a.done = true
	return res, nil
}

func (a *AtomicWriter) commit() (UploadResult, error) {
	if a.err != nil {
		return UploadResult{}, a.err
	}
	if err := a.ctx.Err(); err != nil {
		return UploadResult{}, fmt.Errorf("upload %s: %w", a.final, err)
	}
	var sum string
	if a.h != nil {
		sum = hex.EncodeToString(a.h.Sum(nil))
	}
	var spans *spansum.Digest
	if a.sp != nil {
		d := a.sp.Sum()
		spans = &d
		if a.opts.ExpectedRoot != "" && !strings.EqualFold(d.Root, a.opts.ExpectedRoot) {
			return UploadResult{}, fmt.Errorf("upload %s: source span root %s, expected %s", a.final, d.Root, a.opts.ExpectedRoot)
		}
	}
	if a.opts.ExpectedSize > 0 && a.n != a.opts.ExpectedSize {
		return UploadResult{}, fmt.Errorf("upload %s: got %d bytes from the source, expected %d", a.final, a.n, a.opts.ExpectedSize)
	}
	if a.opts.ExpectedSHA256 != "" && !strings.EqualFold(sum, a.opts.ExpectedSHA256) {
		return UploadResult{}, fmt.Errorf("upload %s: source sha256 %s, expected %s", a.final, sum, a.opts.ExpectedSHA256)
	}
	err := a.w.Close()
	a.w = nil
	if err != nil {
		return UploadResult{}, fmt.Errorf("upload %s: finishing %d bytes: %w", a.final, a.n, err)
	}
	fi, err := a.t.Stat(a.ctx, a.temp)
	if err != nil {
		return UploadResult{}, fmt.Errorf("upload %s: stat of the finished temporary file: %w", a.final, err)
	}
	if fi.Size != a.n {
		return UploadResult{}, fmt.Errorf("upload %s: the target holds %d bytes, %d were sent", a.final, fi.Size, a.n)
	}
	if a.opts.Verify && !IsDryRun(a.t) {
		if err := a.verifyOnServer(sum, spans); err != nil {
			return UploadResult{}, err
		}
	}
	if err := a.t.Rename(a.ctx, a.temp, a.final); err != nil {
		return UploadResult{}, fmt.Errorf("upload %s: rename into place: %w", a.final, err)
	}
	return UploadResult{Bytes: a.n, SHA256: sum, Spans: spans}, nil
}

// verifyOnServer checks the temporary file before the rename: the server
// confirms a staged upload it cannot serve yet (StagedVerifier), any other
// is read back.
func (a *AtomicWriter) verifyOnServer(sum string, spans *spansum.Digest) error {
	if sv, ok := As[StagedVerifier](a.t); ok {
		staged, err := sv.VerifyStaged(a.ctx, a.temp)
		if err != nil {
			return fmt.Errorf("upload %s: verify: %w", a.final, err)
		}
		if staged {
			return nil
		}
	}
	return a.verify(sum, spans)
}

func (a *AtomicWriter) verify(sum string, spans *spansum.Digest) error {
	r, err := a.t.Open(a.ctx, a.temp, 0)
	if err != nil {
		return fmt.Errorf("upload %s: verify: %w", a.final, err)
	}
	defer r.Close()
	if sum == "" {
		got, err := spansum.Read(onlyReader{r})
		if err != nil {
			return fmt.Errorf("upload %s: verify: read back after %d bytes: %w", a.final, got.Bytes, err)
		}
		if err := spansum.Check(got, *spans); err != nil {
			return fmt.Errorf("upload %s: verify: read back: %w", a.final, err)
		}
		return nil
	}
	h := sha256.New()
	n, err := io.CopyBuffer(h, onlyReader{r}, make([]byte, copyBufSize))
	if err != nil {
		return fmt.Errorf("upload %s: verify: read back after %d bytes: %w", a.final, n, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum || n != a.n {
		return fmt.Errorf("upload %s: verify: read back %d bytes with sha256 %s, sent %d bytes with sha256 %s", a.final, n, got, a.n, sum)
	}
	return nil
}

// Abort stops the upload and removes the temporary file. It is a no-op
// after Commit or Abort.
func (a *AtomicWriter) Abort() error {
	if a.done {
		return nil
	}
	return a.abort(false)
}

// abort removes the temporary file with a context that survives the
// caller's cancellation.
func (a *AtomicWriter) abort(closed bool) error {
	a.done = true
	if a.sp != nil {
		a.sp.Sum() // ends the span goroutines
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(a.ctx), cleanupTimeout)
	defer cancel()
	var errs []error
	if a.w != nil {
		errs = append(errs, a.w.Abort())
		a.w = nil
	}
	// Abort is best effort in the Writer contract; make sure.
	if err := a.t.Remove(ctx, a.temp); err != nil && !errors.Is(err, errNotExist) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("upload %s: removing temporary %s: %w", a.final, a.temp, err)
	}
	return nil
}

// copyBufSize is the chunk Upload moves at a time and copyBufs how many
// are in flight: big enough for throughput, small enough for constant
// memory (4 MiB per upload). With span digests spanBufs are: three spans,
// so that two are hashed at once while the third is read and sent.
const (
	copyBufSize = 1 << 20
	copyBufs    = 4
	spanBufs    = 3 * spansum.Size / copyBufSize
)

// parallelHashMin is the write size from which Write hashes concurrently.
const parallelHashMin = 256 << 10

// onlyReader hides WriterTo/ReaderFrom so io.CopyBuffer uses our buffer.
type onlyReader struct{ io.Reader }

// Upload streams r to path on t atomically (see AtomicWriter.Commit) and
// returns the byte count and sha256 (or span digest, opts.Spans). Memory
// use is constant: reading the source, hashing and writing overlap,
// through up to four 1 MiB buffers (twelve with span digests, so that three
// spans are in flight and two cores hash at once), made as the stream
// needs them. On
// failure or cancellation nothing appears under path and the temporary
// file is removed (best effort: a dead server cannot remove anything).
// Upload never returns while a Read on r is still running.
func Upload(ctx context.Context, t Transport, p string, r io.Reader, opts UploadOptions) (UploadResult, error) {
	w, err := CreateAtomic(ctx, t, p, opts)
	if err != nil {
		return UploadResult{}, err
	}
	defer w.Abort()
	if err := pipeCopy(w, r); err != nil {
		return UploadResult{}, err
	}
	return w.Commit()
}

type chunk struct {
	b   []byte
	err error // the source's error after b; io.EOF at the end
}

// pipeCopy copies r to w in a three-stage pipeline, one goroutine per
// stage, handing the same buffers along: a reader fills a buffer from r,
// this goroutine sends it to the target, a hasher hashes it and frees it.
// Hashing (sha256, ~2 GB/s on one core) never waits for the target nor the
// target for the hash, so neither stalls the other chunk by chunk.
func pipeCopy(w *AtomicWriter, r io.Reader) error {
	if w.done || w.err != nil {
		_, err := w.Write(nil) // the same error Write gives
		return err
	}
	nbuf := copyBufs
	spansOnly := w.h == nil
	if spansOnly {
		nbuf = spanBufs
	}
	// buffers are made as the stream needs them (a small file, most of a
	// set's, needs one, not nbuf)
	free := make(chan []byte, nbuf)
	full := make(chan chunk, nbuf)  // never blocks: only nbuf buffers exist
	sent := make(chan []byte, nbuf) // likewise
	stop := make(chan struct{})
	hashed := make(chan struct{})
	go func() {
		defer close(full)
		made := 0
		for {
			var b []byte
			select {
			case b = <-free:
			default:
				if made < nbuf {
					made++
					b = make([]byte, copyBufSize)
				}
			}
			if b == nil {
				select {
				case <-stop:
					return
				case b = <-free:
				}
			}
			select {
			case <-stop:
				return
			default:
			}
			n, err := io.ReadFull(r, b)
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			full <- chunk{b[:n], err}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		defer close(hashed)
		for b := range sent {
			w.h.Write(b)
			if w.sp != nil {
				w.sp.Write(b)
			}
			free <- b[:cap(b)]
		}
	}()
	finish := func(err error) error {
		close(sent)
		<-hashed // w.h is complete (or no longer touched)
		close(stop)
		for range full { // wait for the reader goroutine to leave r alone
		}
		return err
	}
	for c := range full {
		if len(c.b) > 0 {
			if err := w.ctx.Err(); err != nil {
				w.err = fmt.Errorf("upload %s: %w", w.final, err)
				return finish(w.err)
			}
			var sentToo func()
			if spansOnly {
				// the span goroutines hash it; it is reused once both
				// they and the send are done with it
				b := c.b
				sentToo = afterBoth(func() { free <- b[:cap(b)] })
				w.sp.Add(b, sentToo)
			}
			n, err := w.send(c.b)
			if spansOnly {
				sentToo()
			} else {
				sent <- c.b[:n]
			}
			if err != nil {
				return finish(err)
			}
		} else {
			free <- c.b[:cap(c.b)]
		}
		switch {
		case c.err == io.EOF:
			return finish(nil)
		case c.err != nil:
			return finish(fmt.Errorf("upload %s: reading the source after %d bytes: %w", w.final, w.n, c.err))
		}
	}
	return finish(nil)
}
