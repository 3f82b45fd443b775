package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/vmlua/vmlua/transports"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// sum is a part's checksum as S3 carries it (base64 of the big-endian
// CRC32C, or of the SHA-256).
func (t *Transport) sum(b []byte) string {
	if t.cfg.Checksum == "sha256" {
		s := sha256.Sum256(b)
		return base64.StdEncoding.EncodeToString(s[:])
	}
	var c [4]byte
	binary.BigEndian.PutUint32(c[:], crc32.Checksum(b, castagnoli))
	return base64.StdEncoding.EncodeToString(c[:])
}

func (t *Transport) algorithm() types.ChecksumAlgorithm {
	if t.cfg.Checksum == "sha256" {
		return types.ChecksumAlgorithmSha256
	}
	return types.ChecksumAlgorithmCrc32c
}

// setChecksum gives a PUT of b its checksum, for the server to check.
func (t *Transport) setChecksum(in *s3.PutObjectInput, b []byte) {
	if t.cfg.Checksum == "sha256" {
		in.ChecksumSHA256 = aws.String(t.sum(b))
	} else {
		in.ChecksumCRC32C = aws.String(t.sum(b))
	}
}

// partSizeOf is the size of part n (1-based): part_size for the first
// 1000, doubling every 1000 parts, up to memory/2 (one part fills while
// another is sent) and S3's 5 GiB.
func partSizeOf(cfg Config, n int) int64 {
	s := cfg.PartSize
	for i := 1000; i < n && s < cfg.Memory/2; i += 1000 {
		s *= 2
	}
	return min(s, max(cfg.Memory/2, cfg.PartSize), maxPartSize)
}

// MaxObject is the largest object an upload can write with cfg's part
// sizes (S3 allows 10000 parts).
func MaxObject(cfg Config) int64 {
	var n int64
	for i := 1; i <= maxParts; i++ {
		n += partSizeOf(cfg, i)
	}
	return n
}

// part is one part in flight.
type part struct {
	n   int32
	buf []byte
	sum string
}

// writer is an upload: bytes fill a part buffer; a full one is sent by
// one of up to Concurrency goroutines while the next fills, within
// Memory bytes of buffers. A file smaller than one part is never a
// multipart upload: it is put whole when the writer closes (or, staged,
// when it is renamed).
type writer struct {
	t     *Transport
	ctx   context.Context
	key   string // the object's key
	path  string // the path Create was given
	final string // the final path, for a staged upload ("" otherwise)

	cur   []byte // the part being filled
	n     int32  // parts started
	size  int64
	mem   chan struct{} // one token per PartSize of buffer in use
	free  chan []byte   // sent parts' buffers, for the next parts
	slots chan struct{} // parts in flight
	wg    sync.WaitGroup

	uploadID string
	mu       sync.Mutex
	done     []types.CompletedPart
	sums     map[int32]partSum
	err      error
	closed   bool
	// discarded: the upload was aborted; it can never be published
	discarded  bool
	failedWith error // why the publication failed, for a retried one
}

type partSum struct {
	size int64
	sum  string
}

// stagedUpload is a closed writer waiting for its Rename.
type stagedUpload struct {
	w    *writer
	size int64
	// final is the path the upload is for.
	final string
}

// Create starts an upload to p. With the final name CreateAtomic gives
// for a temporary p (transports.StagedFinal), the upload is made for the
// final object and stays invisible after Close, until Rename(p, final)
// publishes it; Remove(p) or Abort discards it. Otherwise Close
// publishes it under p.
func (t *Transport) Create(ctx context.Context, p string) (transports.Writer, error) {
	c, err := clean(p)
	if err != nil {
		return nil, err
	}
	if c == "" {
		return nil, fmt.Errorf("create the root: %w", transports.ErrInvalidName)
	}
	w := &writer{t: t, ctx: ctx, path: c, key: t.key(c), sums: map[int32]partSum{}}
	if final, ok := transports.StagedFinal(ctx, p); ok {
		f, err := clean(final)
		if err != nil {
			return nil, err
		}
		w.final, w.key = f, t.key(f)
	}
	if isDir, err := t.dirExists(ctx, w.key); err != nil {
		return nil, err
	} else if isDir {
		return nil, fmt.Errorf("create %s: a folder has that name: %w", c, transports.ErrNotRegular)
	}
	tokens := int(t.cfg.Memory / t.cfg.PartSize)
	w.mem = make(chan struct{}, tokens)
	w.free = make(chan []byte, tokens)
	w.slots = make(chan struct{}, t.cfg.Concurrency)
	return w, nil
}

// acquire takes the buffer tokens of a part of size s.
func (w *writer) acquire(s int64) error {
	for range (s + w.t.cfg.PartSize - 1) / w.t.cfg.PartSize {
		select {
		case w.mem <- struct{}{}:
		case <-w.ctx.Done():
			return w.ctx.Err()
		}
	}
	return nil
}

func (w *writer) release(s int64) {
	for range (s + w.t.cfg.PartSize - 1) / w.t.cfg.PartSize {
		<-w.mem
	}
}

// buffer returns an empty part buffer of capacity s, a sent part's when
// one of that size is free (so a stream's garbage does not grow its heap).
func (w *writer) buffer(s int64) []byte {
	for {
		select {
		case b := <-w.free:
			if int64(cap(b)) == s {
				return b[:0]
			}
			continue // a smaller part size's: dropped
		default:
		}
		return make([]byte, 0, s)
	}
}

// recycle gives a sent part's buffer back and its tokens.
func (w *writer) recycle(b []byte) {
	select {
	case w.free <- b:
	default:
	}
	w.release(int64(cap(b)))
}

func (w *writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *writer) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

// Write fills part buffers and hands full ones to the senders.
func (w *writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, fmt.Errorf("write to %s after Close or Abort", w.path)
	}
	written := 0
	for len(p) > 0 {
		if err := w.failed(); err != nil {
			return written, err
		}
		if err := w.ctx.Err(); err != nil {
			return written, err
		}
		if w.cur == nil {
			s := partSizeOf(w.t.cfg, int(w.n)+1)
			if err := w.acquire(s); err != nil {
				return written, err
			}
			w.cur = w.buffer(s)
		}
		k := min(len(p), cap(w.cur)-len(w.cur))
		w.cur = append(w.cur, p[:k]...)
		p, written, w.size = p[k:], written+k, w.size+int64(k)
		if len(w.cur) == cap(w.cur) && len(p) > 0 {
			// a full part with more to come: send it (a full part with
			// nothing after it may be the whole file: Close decides)
			if err := w.send(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// start makes the multipart upload, once.
func (w *writer) start() error {
	if w.uploadID != "" {
		return nil
	}
	in := &s3.CreateMultipartUploadInput{Bucket: aws.String(w.t.cfg.Bucket), Key: aws.String(w.key), ChecksumAlgorithm: w.t.algorithm()}
	var out *s3.CreateMultipartUploadOutput
	err := transports.Do(w.ctx, retryOpts, "start the upload of "+w.path, func() (err error) {
		out, err = w.t.c.CreateMultipartUpload(w.ctx, in)
		return mapErr(err, "start the upload of "+w.path)
	})
	if err != nil {
		return err
	}
	w.uploadID = aws.ToString(out.UploadId)
	return nil
}

// partTimeout bounds one attempt at sending a part, which a
// cancellation does not cut off.
const partTimeout = 5 * time.Minute

// retryOpts are the parts' retries: transports.Do's defaults, quiet at
// Warn through the default logger.
var retryOpts = transports.RetryOptions{Logger: slog.Default()}

// send hands the full current part to a sender goroutine.
func (w *writer) send() error {
	if err := w.start(); err != nil {
		w.fail(err)
		return err
	}
	w.n++
	if w.n > maxParts {
		err := fmt.Errorf("upload %s: more than %d parts (%d bytes): raise memory= (and so the largest part) for files this big: %w", w.path, maxParts, w.size, transports.ErrNoSpace)
		w.fail(err)
		return err
	}
	pt := &part{n: w.n, buf: w.cur}
	w.cur = nil
	select {
	case w.slots <- struct{}{}:
	case <-w.ctx.Done():
		w.recycle(pt.buf)
		return w.ctx.Err()
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() { <-w.slots }()
		defer w.recycle(pt.buf)
		if w.failed() != nil {
			return
		}
		pt.sum = w.t.sum(pt.buf)
		in := &s3.UploadPartInput{Bucket: aws.String(w.t.cfg.Bucket), Key: aws.String(w.key), UploadId: aws.String(w.uploadID),
			PartNumber: aws.Int32(pt.n), ContentLength: aws.Int64(int64(len(pt.buf)))}
		if w.t.cfg.Checksum == "sha256" {
			in.ChecksumSHA256 = aws.String(pt.sum)
		} else {
			in.ChecksumCRC32C = aws.String(pt.sum)
		}
		what := fmt.Sprintf("upload part %d of %s", pt.n, w.path)
		var out *s3.UploadPartOutput
		err := transports.Do(w.ctx, retryOpts, what, func() (err error) {
			// A part once sent is let finish even when the caller
			// cancels (no new one starts): a request cut off mid-way may
			// still be stored by the server after the upload's abort,
			// making the upload exist again, invisible, parts and all.
			pctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), partTimeout)
			defer cancel()
			in.Body = bytes.NewReader(pt.buf)
			out, err = w.t.c.UploadPart(pctx, in, withUnsignedPayload)
			return mapErr(err, what)
		})
		if err != nil {
			w.fail(err)
			return
		}
		cp := types.CompletedPart{PartNumber: aws.Int32(pt.n), ETag: out.ETag}
		if w.t.cfg.Checksum == "sha256" {
			cp.ChecksumSHA256 = aws.String(pt.sum)
		} else {
			cp.ChecksumCRC32C = aws.String(pt.sum)
		}
		w.mu.Lock()
		w.done = append(w.done, cp)
		w.sums[pt.n] = partSum{int64(len(pt.buf)), pt.sum}
		w.mu.Unlock()
	}()
	return nil
}

// finish sends what is left and waits for every part: the bytes are on
// the server, not yet published. A file smaller than one part stays in
// w.cur (no multipart upload at all).
func (w *writer) finish() error {
	if w.uploadID != "" && len(w.cur) > 0 {
		if err := w.send(); err != nil {
			w.wg.Wait()
			return err
		}
	}
	w.wg.Wait()
	if err := w.failed(); err != nil {
		return err
	}
	return w.ctx.Err()
}

// publish makes the object: the multipart upload completed (its parts in
// order, each with its checksum, which the server checks again), or the
// small body put with its checksum.
func (w *writer) publish(ctx context.Context) error {
	if w.discarded {
		return transports.Permanent(fmt.Errorf("publish %s: the upload was aborted after an earlier failure: %w", w.path, w.failedWith))
	}
	if w.uploadID == "" {
		body := w.cur
		in := &s3.PutObjectInput{Bucket: aws.String(w.t.cfg.Bucket), Key: aws.String(w.key), ContentLength: aws.Int64(int64(len(body)))}
		w.t.setChecksum(in, body)
		err := transports.Do(ctx, retryOpts, "store "+w.path, func() error {
			in.Body = bytes.NewReader(body)
			_, err := w.t.c.PutObject(ctx, in, withUnsignedPayload)
			return mapErr(err, "store "+w.path)
		})
		if w.cur != nil {
			w.release(int64(cap(w.cur)))
			w.cur = nil
		}
		if err != nil { // the bytes are gone: a retried publish must not put nothing
			w.failedWith, w.discarded = err, true
		}
		return err
	}
	w.mu.Lock()
	parts := append([]types.CompletedPart(nil), w.done...)
	w.mu.Unlock()
	sortParts(parts)
	in := &s3.CompleteMultipartUploadInput{Bucket: aws.String(w.t.cfg.Bucket), Key: aws.String(w.key), UploadId: aws.String(w.uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}
	err := transports.Do(ctx, retryOpts, "complete the upload of "+w.path, func() error {
		_, err := w.t.c.CompleteMultipartUpload(ctx, in)
		err = mapErr(err, "complete the upload of "+w.path)
		if errors.Is(err, fs.ErrNotExist) {
			// NoSuchUpload after a lost reply to a completion that worked
			if h, herr := w.t.head(ctx, w.key); herr == nil && aws.ToInt64(h.ContentLength) == w.size {
				return nil
			}
		}
		return err
	})
	if err != nil {
		w.failedWith = err
		w.discard(ctx)
		return err
	}
	w.uploadID = ""
	return nil
}

func sortParts(p []types.CompletedPart) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && aws.ToInt32(p[j].PartNumber) < aws.ToInt32(p[j-1].PartNumber); j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

// discard aborts the multipart upload (the server drops its parts) and
// frees the buffers.
func (w *writer) discard(ctx context.Context) error {
	w.discarded = true
	if w.cur != nil {
		w.release(int64(cap(w.cur)))
		w.cur = nil
	}
	if w.uploadID == "" {
		return nil
	}
	id := w.uploadID
	w.uploadID = ""
	return w.t.abortUpload(ctx, w.key, id)
}

// abortUpload aborts a multipart upload, also after ctx is done, and
// makes sure it is gone: a part whose request was cut off by a
// cancellation may still be stored after the abort (S3's documentation
// says to abort again then), so the upload is looked for and aborted
// again until the server no longer knows it.
func (t *Transport) abortUpload(ctx context.Context, key, id string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var err error
	for try := 1; try <= 5; try++ {
		_, err = t.c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(t.cfg.Bucket), Key: aws.String(key), UploadId: aws.String(id)})
		if err = mapErr(err, "abort the upload of "+key); err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		_, lerr := t.c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(t.cfg.Bucket), Key: aws.String(key), UploadId: aws.String(id), MaxParts: aws.Int32(1)})
		if lerr != nil && errors.Is(mapErr(lerr, key), fs.ErrNotExist) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("abort the upload of %s: %w", key, ctx.Err())
		case <-time.After(time.Duration(try) * 50 * time.Millisecond):
		}
	}
	if err == nil {
		err = fmt.Errorf("abort the upload of %s: the server still lists it after 5 aborts", key)
	}
	return err
}

// Close ends the upload: a staged one waits for its Rename, any other is
// published now. On failure nothing is left, not even invisible parts.
func (w *writer) Close() error {
	if w.closed {
		return nil
	}
	w.closed = true
	if err := w.finish(); err != nil {
		w.discard(w.ctx)
		return err
	}
	if w.final != "" {
		w.t.mu.Lock()
		w.t.pending[w.path] = &stagedUpload{w: w, size: w.size, final: w.final}
		w.t.mu.Unlock()
		return nil
	}
	return w.publish(w.ctx)
}

// Abort stops the upload and aborts it on the server.
func (w *writer) Abort() error {
	if w.closed {
		return nil
	}
	w.closed = true
	w.fail(errors.New("aborted"))
	w.wg.Wait()
	return w.discard(w.ctx)
}

func (s *stagedUpload) publish(ctx context.Context) error { return s.w.publish(ctx) }
func (s *stagedUpload) discard(ctx context.Context) error { return s.w.discard(ctx) }

// VerifyStaged asks the server what it holds of a staged upload: every
// part's size and checksum, as the server computed them on receipt,
// against what was sent (ListParts). A small staged file is in memory and
// has nothing on the server to check until it is put, with its checksum.
func (t *Transport) VerifyStaged(ctx context.Context, temp string) (bool, error) {
	c, err := clean(temp)
	if err != nil {
		return false, err
	}
	s := t.staged(c)
	if s == nil {
		return false, nil
	}
	w := s.w
	if w.uploadID == "" {
		return true, nil
	}
	got := map[int32]partSum{}
	in := &s3.ListPartsInput{Bucket: aws.String(t.cfg.Bucket), Key: aws.String(w.key), UploadId: aws.String(w.uploadID)}
	pg := s3.NewListPartsPaginator(t.c, in)
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return true, mapErr(err, "list the parts of "+c)
		}
		for _, p := range page.Parts {
			sum := aws.ToString(p.ChecksumCRC32C)
			if t.cfg.Checksum == "sha256" {
				sum = aws.ToString(p.ChecksumSHA256)
			}
			got[aws.ToInt32(p.PartNumber)] = partSum{aws.ToInt64(p.Size), sum}
		}
	}
	if len(got) != len(w.sums) {
		return true, fmt.Errorf("the server holds %d parts of %s, %d were sent", len(got), c, len(w.sums))
	}
	for n, want := range w.sums {
		if g := got[n]; g != want {
			return true, fmt.Errorf("part %d of %s: the server holds %d bytes with %s %s, sent %d bytes with %s", n, c, g.size, t.cfg.Checksum, g.sum, want.size, want.sum)
		}
	}
	return true, nil
}
