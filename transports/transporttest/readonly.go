package transporttest

import (
	"bytes"
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmlua/vmlua/transports"
)

// retryCounter is a slog handler that counts the Retry wrapper's
// "retrying" records.
type retryCounter struct{ n *atomic.Int64 }

func (c retryCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c retryCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "transport call failed, retrying" {
		c.n.Add(1)
	}
	return nil
}
func (c retryCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c retryCounter) WithGroup(string) slog.Handler      { return c }

// ReadOnlyIsNotRetried checks that writing to tr, rooted at a folder the
// transport may read but not write (a read-only mount, a folder without
// write permission), fails at once through transports.Retry: the error is
// permanent, so a fleet does not spend seconds per VM retrying it.
func ReadOnlyIsNotRetried(t *testing.T, tr transports.Transport) {
	t.Helper()
	var n atomic.Int64
	rt := transports.Retry(tr, transports.RetryOptions{Attempts: 5, Initial: time.Millisecond, Max: time.Millisecond, Logger: slog.New(retryCounter{&n})})
	ctx := ctxT(t)
	for _, op := range []struct {
		name string
		do   func() error
	}{
		{"MkdirAll", func() error { return rt.MkdirAll(ctx, "sub/dir") }},
		{"Upload", func() error {
			_, err := transports.Upload(ctx, rt, "file.bin", bytes.NewReader([]byte("data")), transports.UploadOptions{})
			return err
		}},
	} {
		n.Store(0)
		err := op.do()
		if err == nil {
			t.Errorf("%s on a read-only target succeeded", op.name)
			continue
		}
		if !transports.IsPermanent(err) {
			t.Errorf("%s on a read-only target: the error is not permanent: %v", op.name, err)
		}
		if got := n.Load(); got != 0 {
			t.Errorf("%s on a read-only target was retried %d times: %v", op.name, got, err)
		}
	}
}
