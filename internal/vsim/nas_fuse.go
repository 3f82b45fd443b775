package vsim

import (
	"context"
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	nfsc "github.com/willscott/go-nfs-client/nfs"
)

// nasFS shows an NFS export, read through the NFS client
// (go-nfs-client), as a local folder (FUSE), so that the simulator's
// datastore code, which works on local files, reads and writes a NAS
// datastore's files on the NFS server, as an ESXi host does on its NFS
// mount. One lock serialises the client's calls.
type nasFS struct {
	mu sync.Mutex
	t  *nfsc.Target
}

// nasNode is a file or folder of the export, by its path in it.
type nasNode struct {
	fs.Inode
	n *nasFS
	p string
}

var (
	_ fs.NodeGetattrer = (*nasNode)(nil)
	_ fs.NodeLookuper  = (*nasNode)(nil)
	_ fs.NodeReaddirer = (*nasNode)(nil)
	_ fs.NodeOpener    = (*nasNode)(nil)
	_ fs.NodeCreater   = (*nasNode)(nil)
	_ fs.NodeMkdirer   = (*nasNode)(nil)
	_ fs.NodeUnlinker  = (*nasNode)(nil)
	_ fs.NodeRmdirer   = (*nasNode)(nil)
	_ fs.NodeRenamer   = (*nasNode)(nil)
	_ fs.NodeSetattrer = (*nasNode)(nil)
)

// errno maps an NFS client error to an errno.
func errno(err error) syscall.Errno {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, os.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, os.ErrExist):
		return syscall.EEXIST
	case errors.Is(err, os.ErrPermission):
		return syscall.EACCES
	}
	return syscall.EIO
}

func (x *nasNode) child(name string) string { return path.Join(x.p, name) }

// fill sets a FUSE attribute from an NFS one.
func fill(a *fuse.Attr, f *nfsc.Fattr) {
	a.Mode = f.FileMode & 0o7777
	switch f.Type {
	case 2: // NF3DIR
		a.Mode |= syscall.S_IFDIR
	case 5: // NF3LNK
		a.Mode |= syscall.S_IFLNK
	default:
		a.Mode |= syscall.S_IFREG
	}
	a.Size = f.Filesize
	a.Blocks = (f.Used + 511) / 512
	a.Nlink = max(f.Nlink, 1)
	a.Ino = f.Fileid
	a.Mtime, a.Mtimensec = uint64(f.Mtime.Seconds), f.Mtime.Nseconds
	a.Ctime, a.Ctimensec = uint64(f.Ctime.Seconds), f.Ctime.Nseconds
	a.Atime, a.Atimensec = uint64(f.Atime.Seconds), f.Atime.Nseconds
}

func (x *nasNode) getattr(p string) (*nfsc.Fattr, error) {
	x.n.mu.Lock()
	defer x.n.mu.Unlock()
	if p == "" {
		p = "."
	}
	return x.n.t.Getattr(p)
}

func (x *nasNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f, err := x.getattr(x.p)
	if err != nil {
		return errno(err)
	}
	fill(&out.Attr, f)
	return 0
}

func (x *nasNode) newChild(ctx context.Context, p string, f *nfsc.Fattr, out *fuse.EntryOut) *fs.Inode {
	fill(&out.Attr, f)
	return x.NewInode(ctx, &nasNode{n: x.n, p: p}, fs.StableAttr{Mode: out.Attr.Mode & syscall.S_IFMT})
}

func (x *nasNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	p := x.child(name)
	f, err := x.getattr(p)
	if err != nil {
		return nil, errno(err)
	}
	return x.newChild(ctx, p, f, out), 0
}

func (x *nasNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	x.n.mu.Lock()
	p := x.p
	if p == "" {
		p = "."
	}
	es, err := x.n.t.ReadDirPlus(p)
	x.n.mu.Unlock()
	if err != nil {
		return nil, errno(err)
	}
	var list []fuse.DirEntry
	for _, e := range es {
		if e.FileName == "." || e.FileName == ".." {
			continue
		}
		mode := uint32(syscall.S_IFREG)
		if e.Attr.Attr.Type == 2 {
			mode = syscall.S_IFDIR
		}
		list = append(list, fuse.DirEntry{Name: e.FileName, Mode: mode})
	}
	return fs.NewListDirStream(list), 0
}

func (x *nasNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	x.n.mu.Lock()
	defer x.n.mu.Unlock()
	f, err := x.n.t.Open(x.p)
	if err != nil {
		return nil, 0, errno(err)
	}
	if flags&syscall.O_TRUNC != 0 {
		if err := x.n.t.Setattr(x.p, nfsc.Sattr3{Size: nfsc.SetSize{SetIt: true}}); err != nil {
			return nil, 0, errno(err)
		}
	}
	return &nasFile{n: x.n, f: f}, fuse.FOPEN_DIRECT_IO, 0
}

func (x *nasNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	p := x.child(name)
	x.n.mu.Lock()
	f, err := x.n.t.OpenFile(p, os.FileMode(mode&0o777))
	if err == nil && flags&syscall.O_TRUNC != 0 {
		err = x.n.t.Setattr(p, nfsc.Sattr3{Size: nfsc.SetSize{SetIt: true}})
	}
	var a *nfsc.Fattr
	if err == nil {
		a, err = x.n.t.Getattr(p)
	}
	x.n.mu.Unlock()
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	return x.newChild(ctx, p, a, out), &nasFile{n: x.n, f: f}, fuse.FOPEN_DIRECT_IO, 0
}

func (x *nasNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	p := x.child(name)
	x.n.mu.Lock()
	_, err := x.n.t.Mkdir(p, os.FileMode(mode&0o777))
	var a *nfsc.Fattr
	if err == nil {
		a, err = x.n.t.Getattr(p)
	}
	x.n.mu.Unlock()
	if err != nil {
		return nil, errno(err)
	}
	return x.newChild(ctx, p, a, out), 0
}

func (x *nasNode) Unlink(ctx context.Context, name string) syscall.Errno {
	x.n.mu.Lock()
	defer x.n.mu.Unlock()
	return errno(x.n.t.Remove(x.child(name)))
}

func (x *nasNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	x.n.mu.Lock()
	defer x.n.mu.Unlock()
	return errno(x.n.t.RmDir(x.child(name)))
}

func (x *nasNode) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	to := path.Join(newParent.(*nasNode).p, newName)
	x.n.mu.Lock()
	defer x.n.mu.Unlock()
	return errno(x.n.t.Rename(x.child(name), to))
}

func (x *nasNode) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	var s nfsc.Sattr3
	if sz, ok := in.GetSize(); ok {
		s.Size = nfsc.SetSize{SetIt: true, Size: sz}
	}
	if m, ok := in.GetMode(); ok {
		s.Mode = nfsc.SetMode{SetIt: true, Mode: m & 0o7777}
	}
	if mt, ok := in.GetMTime(); ok {
		s.Mtime = nfsc.SetTime{SetIt: 2, Time: nfsc.NFS3Time{Seconds: uint32(mt.Unix()), Nseconds: uint32(mt.Nanosecond())}}
	}
	x.n.mu.Lock()
	err := x.n.t.Setattr(x.p, s)
	x.n.mu.Unlock()
	if err != nil {
		return errno(err)
	}
	return x.Getattr(ctx, fh, out)
}

// nasFile is an open file of the export.
type nasFile struct {
	n *nasFS
	f *nfsc.File
}

var (
	_ fs.FileReader   = (*nasFile)(nil)
	_ fs.FileWriter   = (*nasFile)(nil)
	_ fs.FileReleaser = (*nasFile)(nil)
	_ fs.FileFlusher  = (*nasFile)(nil)
)

// Flush answers ENOSYS, on which the kernel sends no FLUSH again on this
// mount (fuse(4): "If the filesystem returns ENOSYS, subsequent flush
// requests are not sent"). The mount is served by the process whose
// simulated guests keep its files open: a process that exits (a failed
// test, a timeout's panic) with a file open on its own mount closes it
// in do_exit, and a FLUSH then waits forever for the server that was
// that process, leaving a zombie that go test waits for until CI's
// deadline. Nothing is lost: a write reaches the NFS server when it is
// made (Write is synchronous), so a flush has nothing to do.
func (h *nasFile) Flush(ctx context.Context) syscall.Errno {
	nasFlushes.Add(1)
	return syscall.ENOSYS
}

// nasFlushes counts the FLUSH requests NAS mounts received (a test reads it).
var nasFlushes atomic.Int64

func (h *nasFile) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.n.mu.Lock()
	defer h.n.mu.Unlock()
	n, err := h.f.ReadAt(dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, errno(err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *nasFile) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.n.mu.Lock()
	defer h.n.mu.Unlock()
	if _, err := h.f.Seek(off, io.SeekStart); err != nil {
		return 0, errno(err)
	}
	n, err := h.f.Write(data)
	if err != nil {
		return uint32(n), errno(err)
	}
	return uint32(n), 0
}

func (h *nasFile) Release(ctx context.Context) syscall.Errno {
	h.n.mu.Lock()
	defer h.n.mu.Unlock()
	h.f.Close()
	return 0
}

// mountNAS shows the export t at dir until the returned server is
// unmounted.
func mountNAS(dir string, t *nfsc.Target) (*fuse.Server, error) {
	zero := time.Duration(0)
	srv, err := fs.Mount(dir, &nasNode{n: &nasFS{t: t}}, &fs.Options{
		EntryTimeout: &zero, AttrTimeout: &zero, NegativeTimeout: &zero,
		MountOptions: fuse.MountOptions{FsName: "vsim-nas", Name: "vsim-nas", MaxWrite: 64 << 10},
	})
	if err != nil {
		return nil, err
	}
	probeFlush(dir)
	return srv, nil
}

// probeFlush opens and closes one file of the mount while its server
// runs, so that the kernel has learnt that this mount answers FLUSH with
// ENOSYS (Flush) before any file is left open at exit.
func probeFlush(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d iofs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		if f, err := os.Open(p); err == nil {
			f.Close()
		}
		return filepath.SkipAll
	})
}

// unmountNASDir unmounts a NAS mount, lazily when files are still open
// on it (a VM that still runs from it): the mount leaves the namespace,
// and the connection ends with its last file.
func unmountNASDir(srv *fuse.Server, dir string) {
	if err := srv.Unmount(); err != nil {
		syscall.Unmount(dir, syscall.MNT_DETACH)
	}
}
