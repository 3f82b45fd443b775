package testservers

import (
	"context"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/vmlua/vmlua/internal/nfsserve"
	gonfs "github.com/willscott/go-nfs"
	"github.com/willscott/go-nfs/helpers"
)

// GoNFSOptions change what GoNFSWith serves.
type GoNFSOptions struct {
	// DiskSize, when > 0, serves a tmpfs of that many bytes instead of a
	// directory on the disk, for the disk-full case.
	DiskSize int64
}

// GoNFS starts an in-process NFSv3 server (willscott/go-nfs over an osfs of
// a fresh directory) on a free port of 127.0.0.1. It serves MOUNT and NFS on
// the same port and only the export "/export" (other mount paths get
// MNT3ERR_NOENT). Stopped when the test ends.
func GoNFS(t testing.TB) *NFSServer { return GoNFSWith(t, GoNFSOptions{}) }

// GoNFSWith is GoNFS with options.
func GoNFSWith(t testing.TB, opts GoNFSOptions) *NFSServer {
	t.Helper()
	dir := Dir(t)
	if opts.DiskSize > 0 {
		dir = SmallDisk(t, opts.DiskSize, 0, 0)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testservers: GoNFS listen: %v", err)
	}
	tl := &trackingListener{Listener: l, conns: map[net.Conn]struct{}{}}
	h := nfsserve.Locked(helpers.NewCachingHandler(&exportHandler{Handler: helpers.NewNullAuthHandler(closingFS{osfs.New(dir)}), export: "/export"}, 4096))
	done := make(chan struct{})
	go func() { _ = gonfs.Serve(tl, h); close(done) }()
	t.Cleanup(func() { tl.kill(); <-done })
	port := l.Addr().(*net.TCPAddr).Port
	return &NFSServer{Host: "127.0.0.1", Port: port, MountPort: port, Export: "/export", Path: "", DataDir: dir, Kill: tl.kill}
}

type exportHandler struct {
	gonfs.Handler
	export string
}

func (h *exportHandler) Mount(ctx context.Context, c net.Conn, req gonfs.MountRequest) (gonfs.MountStatus, billy.Filesystem, []gonfs.AuthFlavor) {
	st, fs, auths := h.Handler.Mount(ctx, c, req)
	if p := string(req.Dirpath); p != h.export && p != h.export+"/" {
		// go-nfs v0.0.4 builds a root handle even for a refused mount, so
		// the file system must not be nil.
		return gonfs.MountStatusErrNoEnt, fs, nil
	}
	return st, fs, auths
}

// closingFS works around a go-nfs v0.0.4 leak: its WRITE handler returns
// on a failed write without closing the file (nfs_onwrite.go), so a file
// that hit ENOSPC keeps its blocks allocated after REMOVE and the disk
// never empties. Files from closingFS close themselves when a write fails.
type closingFS struct{ billy.Filesystem }

func (c closingFS) OpenFile(name string, flag int, perm os.FileMode) (billy.File, error) {
	f, err := c.Filesystem.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &closingFile{File: f}, nil
}

func (c closingFS) Open(name string) (billy.File, error) { return c.OpenFile(name, os.O_RDONLY, 0) }

func (c closingFS) Create(name string) (billy.File, error) {
	return c.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

func (c closingFS) Capabilities() billy.Capability { return billy.Capabilities(c.Filesystem) }

func (c closingFS) change() billy.Change {
	ch, ok := c.Filesystem.(billy.Change)
	if !ok {
		panic("testservers: osfs no longer implements billy.Change")
	}
	return ch
}

func (c closingFS) Chmod(name string, mode os.FileMode) error { return c.change().Chmod(name, mode) }
func (c closingFS) Lchown(name string, uid, gid int) error    { return c.change().Lchown(name, uid, gid) }
func (c closingFS) Chown(name string, uid, gid int) error     { return c.change().Chown(name, uid, gid) }
func (c closingFS) Chtimes(name string, atime, mtime time.Time) error {
	return c.change().Chtimes(name, atime, mtime)
}

type closingFile struct {
	billy.File
	closed bool
}

func (f *closingFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	if err != nil && !f.closed {
		f.closed = true
		_ = f.File.Close()
	}
	return n, err
}

func (f *closingFile) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	return f.File.Close()
}

// trackingListener remembers accepted connections so kill can cut them all.
type trackingListener struct {
	net.Listener
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	l.conns[c] = struct{}{}
	return c, nil
}

func (l *trackingListener) kill() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	l.Listener.Close()
	for c := range l.conns {
		c.Close()
	}
}
