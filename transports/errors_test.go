package transports_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/textproto"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/vmlua/vmlua/transports"
)

// classCases are, per class, errors as transports return them: sentinels
// wrapped with context, errno values inside *fs.PathError, protocol
// replies.
var classCases = []struct {
	class transports.Class
	errs  []error
}{
	{transports.ClassNotFound, []error{
		fmt.Errorf("stat x: %w", fs.ErrNotExist),
		&fs.PathError{Op: "open", Path: "x", Err: syscall.ENOENT},
		&fs.PathError{Op: "open", Path: "a/x", Err: syscall.ENOTDIR},
	}},
	{transports.ClassExists, []error{
		fmt.Errorf("create x: %w", fs.ErrExist),
		&fs.PathError{Op: "rmdir", Path: "x", Err: syscall.ENOTEMPTY},
	}},
	{transports.ClassNotRegular, []error{
		transports.NotRegular("x", "a directory"),
		transports.NotRegular("x", "a named pipe (FIFO)"),
		&fs.PathError{Op: "read", Path: "x", Err: syscall.EISDIR},
	}},
	{transports.ClassPermission, []error{
		fmt.Errorf("open x: %w", fs.ErrPermission),
		&fs.PathError{Op: "open", Path: "x", Err: syscall.EACCES},
		&fs.PathError{Op: "open", Path: "x", Err: syscall.EPERM},
		&fs.PathError{Op: "open", Path: "x", Err: syscall.EROFS},
	}},
	{transports.ClassNoSpace, []error{
		fmt.Errorf("write: %w", transports.ErrNoSpace),
		&fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC},
		&fs.PathError{Op: "write", Path: "x", Err: syscall.EDQUOT},
	}},
	{transports.ClassInvalidName, []error{
		fmt.Errorf("create x: %w", transports.ErrInvalidName),
		&fs.PathError{Op: "open", Path: "x", Err: syscall.ENAMETOOLONG},
	}},
	{transports.ClassAuth, []error{fmt.Errorf("login: %w", transports.ErrAuth)}},
	{transports.ClassInvalid, []error{
		fmt.Errorf("path: %w", transports.ErrOutsideRoot),
		fmt.Errorf("url: %w", transports.ErrUnknownScheme),
		fmt.Errorf("url: %w", transports.ErrPasswordInURL),
	}},
	{transports.ClassRefused, []error{
		fmt.Errorf("stor: %w", &textproto.Error{Code: 553, Msg: "Could not create file."}),
		transports.Permanent(errors.New("unsupported")),
	}},
	{transports.ClassCanceled, []error{context.Canceled, fmt.Errorf("x: %w", context.DeadlineExceeded)}},
	{transports.ClassTransient, []error{
		errors.New("connection reset by peer"),
		io.ErrUnexpectedEOF,
		&fs.PathError{Op: "read", Path: "x", Err: syscall.ECONNRESET},
		&textproto.Error{Code: 421, Msg: "Timeout."},
		&textproto.Error{Code: 450, Msg: "busy"},
	}},
}

// Each class of error is recognised, whatever wraps it, and every class but
// transient fails at once: the retry wrapper calls the transport once.
func TestErrorClasses(t *testing.T) {
	for _, c := range classCases {
		for _, e := range c.errs {
			t.Run(string(c.class)+": "+e.Error(), func(t *testing.T) {
				if got := transports.Classify(e); got != c.class {
					t.Fatalf("Classify(%v) = %q, want %q", e, got, c.class)
				}
				if got := transports.Classify(fmt.Errorf("op on server: %w", e)); got != c.class {
					t.Fatalf("Classify of the wrapped error = %q, want %q", got, c.class)
				}
				base, _ := newFile(t)
				f := &faulty{Transport: base, statErrs: []error{e, e, e, e, e, e}}
				_, err := transports.Retry(f, quickRetry).Stat(context.Background(), "")
				want := int64(1)
				if c.class == transports.ClassTransient {
					want = int64(quickRetry.Attempts)
				}
				if got := f.stats.Load(); got != want {
					t.Errorf("a %s error: the transport was called %d times, want %d", c.class, got, want)
				}
				if !errors.Is(err, e) {
					t.Errorf("the retry wrapper returned %v, want it to wrap %v", err, e)
				}
			})
		}
	}
	if transports.Classify(nil) != "" || transports.IsPermanent(nil) {
		t.Error("nil has a class")
	}
}

// counting counts Open calls.
type counting struct {
	transports.Transport
	opens atomic.Int64
}

func (c *counting) Open(ctx context.Context, p string, off int64) (io.ReadCloser, error) {
	c.opens.Add(1)
	return c.Transport.Open(ctx, p, off)
}

// Reading a directory or a named pipe as a file through the run's retry
// wrapper fails at once with ErrNotRegular: one call, no back-off.
func TestReadingANonFileIsNotRetried(t *testing.T) {
	base, dir := newFile(t)
	if err := os.Mkdir(filepath.Join(dir, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"dir", "fifo"} {
		t.Run(name, func(t *testing.T) {
			c := &counting{Transport: base}
			r, err := transports.Retry(c, quickRetry).Open(context.Background(), name, 0)
			if err == nil {
				r.Close()
				t.Fatalf("Open(%s) succeeded", name)
			}
			if !errors.Is(err, transports.ErrNotRegular) || transports.Classify(err) != transports.ClassNotRegular {
				t.Errorf("Open(%s) = %v, want ErrNotRegular", name, err)
			}
			if n := c.opens.Load(); n != 1 {
				t.Errorf("Open(%s) was tried %d times, want once", name, n)
			}
			t.Logf("user sees: %v", err)
		})
	}
}
