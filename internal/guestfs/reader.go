package guestfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/diskfs/go-diskfs/backend"
)

// guard is the disk as the libraries see it: it keeps the first error a
// read of the disk returned (other than the end of the disk), so that an
// operation whose library ignored it still fails with it.
type guard struct {
	r    io.ReaderAt
	size int64
	mu   sync.Mutex
	err  error
}

// ReadAt reads the disk; a failure other than io.EOF at the disk's end is
// kept for take.
func (g *guard) ReadAt(p []byte, off int64) (int, error) {
	n, err := g.r.ReadAt(p, off)
	if err != nil && !(errors.Is(err, io.EOF) && off+int64(n) >= g.size) {
		g.mu.Lock()
		if g.err == nil {
			g.err = err
		}
		g.mu.Unlock()
	}
	return n, err
}

// take returns and forgets the read error kept since the last take.
func (g *guard) take() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	err := g.err
	g.err = nil
	return err
}

// check returns err, or the read error kept (which wins: it is why the
// library failed, or what it ignored).
func (g *guard) check(err error) error {
	if rerr := g.take(); rerr != nil {
		return &ReadError{Err: rerr}
	}
	return err
}

// ReadError is an operation that failed because the disk could not be
// read (a damaged span of a restore point): what the library made of it,
// if anything, is not returned.
type ReadError struct{ Err error }

func (e *ReadError) Error() string { return "reading the disk: " + e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

// storage adapts the disk to go-diskfs's backend.Storage, read-only.
type storage struct {
	*io.SectionReader
	g *guard
}

var _ backend.Storage = (*storage)(nil)

func newStorage(g *guard) *storage {
	return &storage{SectionReader: io.NewSectionReader(g, 0, g.size), g: g}
}

func (s *storage) Stat() (fs.FileInfo, error)              { return diskInfo{s.g.size}, nil }
func (s *storage) Close() error                            { return nil }
func (s *storage) Sys() (*os.File, error)                  { return nil, backend.ErrNotSuitable }
func (s *storage) Writable() (backend.WritableFile, error) { return nil, backend.ErrIncorrectOpenMode }
func (s *storage) Path() string                            { return "" }

// diskInfo is the FileInfo of the disk.
type diskInfo struct{ size int64 }

func (d diskInfo) Name() string       { return "disk" }
func (d diskInfo) Size() int64        { return d.size }
func (d diskInfo) Mode() fs.FileMode  { return 0o444 }
func (d diskInfo) ModTime() time.Time { return time.Time{} }
func (d diskInfo) IsDir() bool        { return false }
func (d diskInfo) Sys() any           { return nil }
