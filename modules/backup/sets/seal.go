package sets

import (
	"context"
	"errors"
	"io"
	"path"

	"github.com/vmlua/vmlua/internal/spancrypt"
	"github.com/vmlua/vmlua/transports"
)

// Seal encrypts the file name of a set onto w with the set's data key
// (nil: passes w through); Close seals the last span, and does not close
// w.
func Seal(w io.Writer, key []byte, name string) (io.WriteCloser, error) {
	if key == nil {
		return nopCloser{w}, nil
	}
	return spancrypt.NewWriter(w, key, name)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// SealBytes is the stored form of a small file name of a set: b itself,
// or encrypted under key.
func SealBytes(b []byte, key []byte, name string) ([]byte, error) {
	if key == nil {
		return b, nil
	}
	buf := make([]byte, 0, spancrypt.StoredSize(int64(len(b))))
	w := &appendWriter{buf}
	ew, err := spancrypt.NewWriter(w, key, name)
	if err == nil {
		_, err = ew.Write(b)
	}
	if err == nil {
		err = ew.Close()
	}
	return w.b, err
}

type appendWriter struct{ b []byte }

func (a *appendWriter) Write(p []byte) (int, error) { a.b = append(a.b, p...); return len(p), nil }

// UploadSealed is transports.Upload of a set's file p, encrypted under
// key (nil: as it is). opts.ExpectedSize is the plaintext's.
func UploadSealed(ctx context.Context, t transports.Transport, p string, r io.Reader, key []byte, opts transports.UploadOptions) (transports.UploadResult, error) {
	if key == nil {
		return transports.Upload(ctx, t, p, r, opts)
	}
	if opts.ExpectedSize > 0 {
		opts.ExpectedSize = spancrypt.StoredSize(opts.ExpectedSize)
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		ew, err := spancrypt.NewWriter(pw, key, path.Base(p))
		if err == nil {
			_, err = io.Copy(ew, r)
		}
		if err == nil {
			err = ew.Close()
		}
		pw.CloseWithError(err)
	}()
	res, err := transports.Upload(ctx, t, p, pr, opts)
	pr.CloseWithError(errors.New("the upload ended"))
	<-done // no Read on r runs after UploadSealed returns
	return res, err
}
