package nfsserve

import (
	"context"
	iofs "io/fs"
	"log/slog"
	"net"
	"sync"

	"github.com/go-git/go-billy/v5"
	gonfs "github.com/willscott/go-nfs"
	"github.com/willscott/go-nfs/helpers"
)

// Serve serves o over NFSv3 (and MOUNT, on the same port) on l, to
// clients mounting export, until ctx ends; it then closes l and every
// connection. allow, when not nil, admits only connections it accepts
// (by remote address); the others are closed at once.
func Serve(ctx context.Context, l net.Listener, o *Overlay, export string, allow func(net.Addr) bool, log *slog.Logger) error {
	tl := &listener{Listener: l, conns: map[net.Conn]struct{}{}, allow: allow, log: log}
	h := Locked(helpers.NewCachingHandler(&exportHandler{Handler: helpers.NewNullAuthHandler(o), export: export, log: log}, 4096))
	done := make(chan error, 1)
	go func() { done <- gonfs.Serve(tl, h) }()
	select {
	case <-ctx.Done():
		tl.kill()
		<-done
		return nil
	case err := <-done:
		tl.kill()
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
}

// exportHandler mounts export only.
type exportHandler struct {
	gonfs.Handler
	export string
	log    *slog.Logger
}

func (h *exportHandler) Mount(ctx context.Context, c net.Conn, req gonfs.MountRequest) (gonfs.MountStatus, billy.Filesystem, []gonfs.AuthFlavor) {
	st, fs, _ := h.Handler.Mount(ctx, c, req)
	if p := string(req.Dirpath); p != h.export && p != h.export+"/" {
		h.log.Warn("serve nfs: a mount of another path refused", "client", c.RemoteAddr().String(), "path", p, "export", h.export)
		// go-nfs v0.0.4 builds a root handle even for a refused mount
		return gonfs.MountStatusErrNoEnt, fs, nil
	}
	h.log.Info("serve nfs: mounted", "client", c.RemoteAddr().String(), "path", p(req))
	// AUTH_SYS first, as knfsd answers for a sec=sys export: ESXi mounts
	// NFSv3 with AUTH_SYS only (vSphere Storage, "NFS Security"), and a
	// client may refuse a server whose list lacks its flavour; AUTH_NULL
	// stays for the clients that send it (go-nfs-client). go-nfs checks no
	// credential either way.
	return st, fs, []gonfs.AuthFlavor{gonfs.AuthFlavorUnix, gonfs.AuthFlavorNull}
}

func p(req gonfs.MountRequest) string { return string(req.Dirpath) }

// Locked serialises go-nfs v0.0.4's CachingHandler h: its path to handle
// map is read without its lock (searchReverseCache iterates a slice
// appendReverseHandle is appending to), a data race as soon as several
// clients are connected at once. VerifierFor and DataForVerifier keep the
// directory listing cache (gonfs.CachingHandler) working through it.
func Locked(h gonfs.Handler) gonfs.Handler { return &locked{Handler: h} }

type locked struct {
	gonfs.Handler
	mu sync.Mutex
}

func (h *locked) ToHandle(fs billy.Filesystem, path []string) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.Handler.ToHandle(fs, path)
}

func (h *locked) FromHandle(fh []byte) (billy.Filesystem, []string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.Handler.FromHandle(fh)
}

func (h *locked) InvalidateHandle(fs billy.Filesystem, fh []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.Handler.InvalidateHandle(fs, fh)
}

func (h *locked) VerifierFor(path string, contents []iofs.FileInfo) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.Handler.(gonfs.CachingHandler).VerifierFor(path, contents)
}

func (h *locked) DataForVerifier(path string, verifier uint64) []iofs.FileInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.Handler.(gonfs.CachingHandler).DataForVerifier(path, verifier)
}

// listener admits the allowed clients and remembers connections, so
// that kill cuts them all.
type listener struct {
	net.Listener
	allow  func(net.Addr) bool
	log    *slog.Logger
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.allow != nil && !l.allow(c.RemoteAddr()) {
			l.log.Warn("serve nfs: a client not allowed was refused", "client", c.RemoteAddr().String())
			c.Close()
			continue
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			return nil, net.ErrClosed
		}
		l.conns[c] = struct{}{}
		l.mu.Unlock()
		return c, nil
	}
}

func (l *listener) kill() {
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
