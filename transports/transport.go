package transports

import (
	"context"
	"io"
	"time"
)

// FileInfo describes one entry of a transport.
type FileInfo struct {
	Name    string    // base name, no directory part
	Size    int64     // bytes; 0 for directories
	ModTime time.Time // zero when the server does not say
	IsDir   bool
}

// Transport is the one interface every backend implements (restic's
// backend.Backend, smaller). Paths are slash-separated and relative to the
// URL the transport was opened with; "" and "." name that root. A path that
// would leave the root ("../x", "/abs") is refused with ErrOutsideRoot by
// every implementation (use CleanPath).
//
// Errors: a missing path yields an error for which errors.Is(err,
// fs.ErrNotExist) is true; authentication failures wrap ErrAuth; a full
// target wraps ErrNoSpace. Every method honours ctx.
type Transport interface {
	// URL is the URL this transport was opened with, without any secret.
	URL() string
	Stat(ctx context.Context, path string) (FileInfo, error)
	// List returns the entries of a directory, in no particular order.
	List(ctx context.Context, path string) ([]FileInfo, error)
	// MkdirAll creates a directory and its parents; existing ones are fine.
	MkdirAll(ctx context.Context, path string) error
	// Rename moves from onto to, replacing to if it is a file.
	Rename(ctx context.Context, from, to string) error
	// Remove deletes a file or an empty directory.
	Remove(ctx context.Context, path string) error
	// Create opens path for writing, truncating it. This is the raw,
	// non-atomic primitive: callers that upload data use Upload (atomic.go),
	// which writes under a temporary name and renames when complete.
	Create(ctx context.Context, path string) (Writer, error)
	// Open reads path from byte offset on.
	Open(ctx context.Context, path string, offset int64) (io.ReadCloser, error)
	// Close releases connections. The transport is unusable afterwards.
	Close() error
}

// Writer is a streaming upload in progress. Close finishes it and reports
// any error the server reported (a successful Close means every byte was
// accepted). Abort stops it and removes what was written, best effort; after
// Abort, Close is a no-op.
type Writer interface {
	io.Writer
	Close() error
	Abort() error
}
