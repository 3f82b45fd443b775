package testservers

import (
	"context"
	"net"
	"sync"
	"testing"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	gonfs "github.com/willscott/go-nfs"
	"github.com/willscott/go-nfs/helpers"
)

// GoNFS starts an in-process NFSv3 server (willscott/go-nfs over an osfs of
// a fresh directory) on a free port of 127.0.0.1. It serves MOUNT and NFS on
// the same port and only the export "/export" (other mount paths get
// MNT3ERR_NOENT). Stopped when the test ends.
func GoNFS(t testing.TB) *NFSServer {
	t.Helper()
	dir := Dir(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testservers: GoNFS listen: %v", err)
	}
	tl := &trackingListener{Listener: l, conns: map[net.Conn]struct{}{}}
	h := helpers.NewCachingHandler(&exportHandler{Handler: helpers.NewNullAuthHandler(osfs.New(dir)), export: "/export"}, 4096)
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
