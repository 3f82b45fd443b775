package spancrypt

import (
	"bufio"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// Scheme names the format in catalogs.
const Scheme = "aes256gcm-spans-64k"

// SpanSize is the plaintext of one span.
const SpanSize = 64 << 10

// Sizes of the format.
const (
	Overhead   = 16 // the GCM tag of a span
	HeaderSize = len(magic) + saltSize
	KeySize    = 32
	saltSize   = 32
	sealedSpan = SpanSize + Overhead
)

const magic = "vmlua-spancrypt1"

// ErrSpan is wrapped by every error about a span that fails
// authentication or is missing.
var ErrSpan = errors.New("an encrypted span fails authentication")

// NewDataKey returns a fresh random data key.
func NewDataKey() []byte {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return k
}

// fileAEAD is the cipher of one file: its key derived from the data key,
// the file's salt and its name.
func fileAEAD(dataKey, salt []byte, name string) (cipher.AEAD, error) {
	if len(dataKey) != KeySize {
		return nil, fmt.Errorf("a data key of %d bytes, not %d", len(dataKey), KeySize)
	}
	k, err := hkdf.Key(sha256.New, dataKey, salt, "vmlua spancrypt v1 file\x00"+name, 32)
	if err != nil {
		return nil, err
	}
	b, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func nonceAD(i int64, last bool) (nonce [12]byte, ad [9]byte) {
	binary.BigEndian.PutUint64(nonce[4:], uint64(i))
	binary.BigEndian.PutUint64(ad[:8], uint64(i))
	if last {
		ad[8] = 1
	}
	return
}

// StoredSize is the stored size of a file of n plaintext bytes.
func StoredSize(n int64) int64 {
	spans := max(1, (n+SpanSize-1)/SpanSize)
	return int64(HeaderSize) + n + spans*Overhead
}

// PlainSize is the plaintext size of a stored file of n bytes; an error
// when no file has that size.
func PlainSize(stored int64) (int64, error) {
	body := stored - int64(HeaderSize)
	if body < Overhead {
		return 0, fmt.Errorf("%w: %d stored bytes are too few for an encrypted file (cut?)", ErrSpan, stored)
	}
	spans := (body + sealedSpan - 1) / sealedSpan
	n := body - spans*Overhead
	if n < 0 || StoredSize(n) != stored {
		return 0, fmt.Errorf("%w: %d stored bytes are no encrypted file's size (cut?)", ErrSpan, stored)
	}
	return n, nil
}

// StoredEnd is the stored offset after the span that holds plaintext
// byte off-1 (the stored bytes that must be read and checked to decrypt
// plaintext [0, off)).
func StoredEnd(off int64) int64 {
	if off <= 0 {
		return int64(HeaderSize)
	}
	span := (off - 1) / SpanSize
	return int64(HeaderSize) + (span+1)*sealedSpan
}

// Writer encrypts what is written to it onto an underlying writer.
type Writer struct {
	w     io.Writer
	aead  cipher.AEAD
	buf   []byte
	out   []byte
	i     int64
	err   error
	close bool
}

// NewWriter starts the encrypted file name (its name in the set) on w
// with the set's data key; Close seals the last span.
func NewWriter(w io.Writer, dataKey []byte, name string) (*Writer, error) {
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	aead, err := fileAEAD(dataKey, salt, name)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(append([]byte(magic), salt...)); err != nil {
		return nil, err
	}
	return &Writer{w: w, aead: aead, buf: make([]byte, 0, SpanSize), out: make([]byte, 0, batch+sealedSpan)}, nil
}

// batch is how many sealed bytes a Writer gathers before it writes them
// on: the writer below (an upload hashing its span digest) gets pieces
// the size of a compressed frame, not one per span.
const batch = 16 * sealedSpan

// seal seals the buffered span onto out, and writes out on when it is
// full or this is the last span.
func (e *Writer) seal(last bool) error {
	nonce, ad := nonceAD(e.i, last)
	e.out = e.aead.Seal(e.out, nonce[:], e.buf, ad[:])
	e.i++
	e.buf = e.buf[:0]
	if len(e.out) < batch && !last {
		return nil
	}
	_, err := e.w.Write(e.out)
	e.out = e.out[:0]
	return err
}

// Write encrypts p; a span is sealed once the next byte after it comes
// (the last span is sealed by Close, flagged as the last).
func (e *Writer) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.close {
		return 0, errors.New("spancrypt: write after Close")
	}
	n := len(p)
	for len(p) > 0 {
		if len(e.buf) == SpanSize {
			if e.err = e.seal(false); e.err != nil {
				return n - len(p), e.err
			}
		}
		k := copy(e.buf[len(e.buf):SpanSize], p)
		e.buf = e.buf[:len(e.buf)+k]
		p = p[k:]
	}
	return n, nil
}

// Close seals the last span; it does not close the underlying writer.
func (e *Writer) Close() error {
	if e.close || e.err != nil {
		return e.err
	}
	e.close = true
	e.err = e.seal(true)
	return e.err
}

// Reader decrypts an encrypted file read in order.
type Reader struct {
	r    *bufio.Reader
	name string
	aead cipher.AEAD
	in   []byte
	cur  []byte
	i    int64
	err  error
}

// NewReader reads the encrypted file name from r with the set's data key.
func NewReader(r io.Reader, dataKey []byte, name string) (*Reader, error) {
	br := bufio.NewReaderSize(r, sealedSpan+1)
	hdr := make([]byte, HeaderSize)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, fmt.Errorf("%w: %s has no whole encryption header: %v", ErrSpan, name, err)
	}
	if string(hdr[:len(magic)]) != magic {
		return nil, fmt.Errorf("%s is not a vmlua encrypted file (no %q header)", name, magic)
	}
	aead, err := fileAEAD(dataKey, hdr[len(magic):], name)
	if err != nil {
		return nil, err
	}
	return &Reader{r: br, name: name, aead: aead, in: make([]byte, sealedSpan)}, nil
}

func spanErr(name string, i int64, n int, why string) error {
	off := int64(HeaderSize) + i*sealedSpan
	return fmt.Errorf("%w: span %d of %s (stored bytes %d to %d) %s", ErrSpan, i, name, off, off+int64(n)-1, why)
}

// Read returns decrypted bytes; only authenticated bytes are returned.
func (d *Reader) Read(p []byte) (int, error) {
	for len(d.cur) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		d.err = d.next()
	}
	n := copy(p, d.cur)
	d.cur = d.cur[n:]
	return n, nil
}

func (d *Reader) next() error {
	if d.i < 0 {
		return io.EOF
	}
	n, err := io.ReadFull(d.r, d.in)
	switch {
	case err == io.ErrUnexpectedEOF || err == io.EOF:
	case err != nil:
		return err
	}
	last := n < sealedSpan
	if !last {
		if _, perr := d.r.Peek(1); perr == io.EOF {
			last = true
		} else if perr != nil {
			return perr
		}
	}
	if n < Overhead {
		return spanErr(d.name, d.i, n, "is missing or cut: the file ends early")
	}
	nonce, ad := nonceAD(d.i, last)
	out, oerr := d.aead.Open(d.in[:0], nonce[:], d.in[:n], ad[:])
	if oerr != nil {
		why := "fails authentication: it was altered, moved or cut, or the key is another set's"
		return spanErr(d.name, d.i, n, why)
	}
	d.i++
	if last {
		d.i = -1
	}
	d.cur = out
	if len(out) == 0 {
		return d.next()
	}
	return nil
}

// ReaderAt decrypts an encrypted file at random: each read decrypts the
// spans it touches.
type ReaderAt struct {
	src    func(off, n int64) ([]byte, error)
	name   string
	aead   cipher.AEAD
	stored int64
	size   int64
	spans  int64
}

// NewReaderAt reads the encrypted file name of stored bytes with the
// set's data key; src returns the stored bytes [off, off+n) (the header
// is read at once).
func NewReaderAt(src func(off, n int64) ([]byte, error), stored int64, dataKey []byte, name string) (*ReaderAt, error) {
	size, err := PlainSize(stored)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	hdr, err := src(0, int64(HeaderSize))
	if err != nil {
		return nil, err
	}
	if len(hdr) != HeaderSize || string(hdr[:len(magic)]) != magic {
		return nil, fmt.Errorf("%s is not a vmlua encrypted file (no %q header)", name, magic)
	}
	aead, err := fileAEAD(dataKey, hdr[len(magic):], name)
	if err != nil {
		return nil, err
	}
	return &ReaderAt{src: src, name: name, aead: aead, stored: stored, size: size, spans: max(1, (size+SpanSize-1)/SpanSize)}, nil
}

// Size is the plaintext size.
func (r *ReaderAt) Size() int64 { return r.size }

// Span decrypts span i.
func (r *ReaderAt) Span(i int64) ([]byte, error) {
	if i < 0 || i >= r.spans {
		return nil, fmt.Errorf("%w: %s has no span %d", ErrSpan, r.name, i)
	}
	off := int64(HeaderSize) + i*sealedSpan
	n := min(int64(sealedSpan), r.stored-off)
	b, err := r.src(off, n)
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != n {
		return nil, spanErr(r.name, i, len(b), "is cut")
	}
	nonce, ad := nonceAD(i, i == r.spans-1)
	out, err := r.aead.Open(b[:0:0], nonce[:], b, ad[:])
	if err != nil {
		return nil, spanErr(r.name, i, len(b), "fails authentication: it was altered, moved or cut, or the key is another set's")
	}
	return out, nil
}

// Range returns plaintext [off, off+n).
func (r *ReaderAt) Range(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off+n > r.size {
		return nil, fmt.Errorf("%w: %s: bytes %d to %d lie past its end (%d bytes)", ErrSpan, r.name, off, off+n-1, r.size)
	}
	out := make([]byte, 0, n)
	for i := off / SpanSize; int64(len(out)) < n; i++ {
		b, err := r.Span(i)
		if err != nil {
			return nil, err
		}
		base := i * SpanSize
		lo := max(off, base) - base
		hi := min(off+n, base+int64(len(b))) - base
		if lo >= hi {
			return nil, spanErr(r.name, i, len(b), "is shorter than its place says")
		}
		out = append(out, b[lo:hi]...)
	}
	return out, nil
}

// CatalogMAC is the hex HMAC-SHA256 of a catalog's bytes under a key
// derived from the set's data key.
func CatalogMAC(dataKey, b []byte) (string, error) {
	if len(dataKey) != KeySize {
		return "", fmt.Errorf("a data key of %d bytes, not %d", len(dataKey), KeySize)
	}
	k, err := hkdf.Key(sha256.New, dataKey, nil, "vmlua spancrypt v1 catalog mac", 32)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, k)
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil)), nil
}

// CheckCatalogMAC reports whether mac is b's CatalogMAC (in constant
// time).
func CheckCatalogMAC(dataKey, b []byte, mac string) bool {
	want, err := CatalogMAC(dataKey, b)
	if err != nil {
		return false
	}
	return hmac.Equal([]byte(want), []byte(mac))
}
