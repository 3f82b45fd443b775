package pointfs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/modules/backup/sets/pointread"
	"github.com/vmlua/vmlua/transports"
)

// Options choose what a mount shows.
type Options struct {
	// VM, when set, shows that VM's points only; Point (with VM) that
	// one point ("latest": the newest complete set).
	VM, Point string
	// CacheBytes bounds the memory of every image's verified spans and
	// decoded frames together (0: pointread.DefaultCache).
	CacheBytes int64
	// Log receives a line per opened image and per failed read.
	Log *slog.Logger
}

// Mount is a mounted file system of restore points.
type Mount struct {
	Dir    string
	Points []*catalog.Catalog // what it shows, oldest first
	srv    *fuse.Server
	cancel context.CancelFunc
	root   *dirNode
	once   sync.Once
	err    error
}

// MountTarget mounts the points of target t that o selects on dir, an
// empty folder, read-only, and returns once the kernel shows it. ctx
// bounds finding the points; the mount lives until Unmount.
func MountTarget(ctx context.Context, t transports.Transport, dir string, o Options) (*Mount, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	var points []*catalog.Catalog
	switch {
	case o.VM != "" && o.Point != "":
		cat, err := pointread.Resolve(ctx, t, o.VM, o.Point)
		if err != nil {
			return nil, err
		}
		points = []*catalog.Catalog{cat}
	default:
		var err error
		if points, err = pointread.Points(ctx, t, o.VM); err != nil {
			return nil, err
		}
	}
	if len(points) == 0 {
		what := "any VM"
		if o.VM != "" {
			what = "VM " + o.VM
		}
		return nil, fmt.Errorf("there is no complete set of %s on %s: nothing to mount (vmlua sets list shows the sets)", what, t.URL())
	}
	// the mount's reads outlive ctx, but keep its keyring (encrypted sets)
	rctx, cancel := context.WithCancel(sets.WithKeyring(context.Background(), sets.KeyringOf(ctx)))
	fsys := &fsys{t: t, ctx: rctx, cache: pointread.NewCache(o.CacheBytes), log: o.Log}
	root := fsys.tree(points)
	sec := time.Hour // the tree does not change while mounted
	srv, err := fs.Mount(dir, root, &fs.Options{
		EntryTimeout: &sec, AttrTimeout: &sec, NegativeTimeout: &sec,
		MountOptions: fuse.MountOptions{FsName: "vmlua:" + transports.Redact(t.URL()), Name: "vmlua", Options: []string{"ro"}, MaxReadAhead: 1 << 20},
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("mount %s: %w (is FUSE available: /dev/fuse and fusermount3, from Debian's fuse3?)", dir, err)
	}
	return &Mount{Dir: dir, Points: points, srv: srv, cancel: cancel, root: root}, nil
}

// Unmount unmounts the file system and closes every opened image. A
// mount busy with an open file is an error (close it and try again).
func (m *Mount) Unmount() error {
	if err := m.srv.Unmount(); err != nil {
		return fmt.Errorf("unmount %s: %w (is a file in it still open?)", m.Dir, err)
	}
	m.srv.Wait()
	m.cancel()
	return nil
}

// fsys is what every node of one mount shares.
type fsys struct {
	t     transports.Transport
	ctx   context.Context
	cache *pointread.Cache
	log   *slog.Logger
}

// dirNode is a folder of the tree: the root, a VM, or a point.
type dirNode struct {
	fs.Inode
	mtime    time.Time
	children func(ctx context.Context, n *dirNode)
}

var _ = (fs.NodeOnAdder)((*dirNode)(nil))
var _ = (fs.NodeGetattrer)((*dirNode)(nil))

func (n *dirNode) OnAdd(ctx context.Context) { n.children(ctx, n) }

func (n *dirNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFDIR | 0o555
	out.SetTimes(nil, &n.mtime, &n.mtime)
	return 0
}

// tree builds the root: a folder per VM, a folder per point in it, and
// "latest".
func (f *fsys) tree(points []*catalog.Catalog) *dirNode {
	byVM := map[string][]*catalog.Catalog{}
	var vms []string
	for _, p := range points {
		vm := sets.DirName(p.VM.Name)
		if byVM[vm] == nil {
			vms = append(vms, vm)
		}
		byVM[vm] = append(byVM[vm], p)
	}
	newest := points[len(points)-1].Finished
	return &dirNode{mtime: newest, children: func(ctx context.Context, root *dirNode) {
		for _, vm := range vms {
			ps := byVM[vm]
			vmDir := &dirNode{mtime: ps[len(ps)-1].Finished, children: func(ctx context.Context, d *dirNode) {
				for _, p := range ps {
					name := p.ID[strings.LastIndex(p.ID, "/")+1:]
					pd := &dirNode{mtime: p.Finished, children: func(ctx context.Context, pd *dirNode) {
						for _, disk := range p.Disks {
							img := &imageNode{f: f, cat: p, disk: disk}
							pd.AddChild(pointread.ImageName(disk), pd.NewPersistentInode(ctx, img, fs.StableAttr{Mode: syscall.S_IFREG}), false)
						}
					}}
					d.AddChild(name, d.NewPersistentInode(ctx, pd, fs.StableAttr{Mode: syscall.S_IFDIR}), false)
				}
				last := ps[len(ps)-1].ID
				link := &fs.MemSymlink{Data: []byte(last[strings.LastIndex(last, "/")+1:])}
				d.AddChild("latest", d.NewPersistentInode(ctx, link, fs.StableAttr{Mode: syscall.S_IFLNK}), false)
			}}
			root.AddChild(vm, root.NewPersistentInode(ctx, vmDir, fs.StableAttr{Mode: syscall.S_IFDIR}), false)
		}
	}}
}

// imageNode is a disk of a point: a raw image file, its index built on
// the first open and kept until the mount ends.
type imageNode struct {
	fs.Inode
	f    *fsys
	cat  *catalog.Catalog
	disk catalog.Disk
	mu   sync.Mutex
	d    *pointread.Disk
}

var _ = (fs.NodeGetattrer)((*imageNode)(nil))
var _ = (fs.NodeOpener)((*imageNode)(nil))

func (n *imageNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | 0o444
	out.Size = uint64(n.disk.Capacity)
	out.Blksize = 1 << 20
	out.Blocks = (out.Size + 511) / 512
	out.SetTimes(nil, &n.cat.Finished, &n.cat.Finished)
	return 0
}

// open returns the image's Disk, indexing the chain the first time.
func (n *imageNode) open() (*pointread.Disk, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.d != nil {
		return n.d, nil
	}
	d, err := pointread.Open(n.f.ctx, n.f.t, n.cat, n.disk.ID, pointread.Options{Cache: n.f.cache})
	if err != nil {
		return nil, err
	}
	go func() { // the index runs on while the image is read
		st, err := d.Wait(n.f.ctx)
		if err != nil {
			return
		}
		n.f.log.Info("mount: image indexed", "set", n.cat.ID, "disk", n.disk.ID, "layers", st.Layers, "stored_bytes", st.StoredBytes, "took", st.Took.Round(time.Millisecond).String())
		if dmg := d.Damage(); dmg != "" {
			n.f.log.Warn("mount: the image is damaged: reads of what depends on the damage fail (EIO)", "set", n.cat.ID, "disk", n.disk.ID, "damage", dmg)
		}
	}()
	n.d = d
	return d, nil
}

func (n *imageNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	d, err := n.open()
	if err != nil {
		n.f.log.Error("mount: cannot open the image", "set", n.cat.ID, "disk", n.disk.ID, "error", err)
		return nil, 0, syscall.EIO
	}
	return &handle{n: n, d: d}, fuse.FOPEN_KEEP_CACHE, 0
}

// handle is an open image.
type handle struct {
	n *imageNode
	d *pointread.Disk
}

var _ = (fs.FileReader)((*handle)(nil))
var _ = (fs.FileLseeker)((*handle)(nil))
var _ = (fs.FileFlusher)((*handle)(nil))

// Flush answers ENOSYS, on which the kernel sends no FLUSH again on this
// mount (fuse(4)): the images are read-only, there is nothing to flush,
// and a process that serves the mount and has one of its images open when
// it exits (a test, a script's drill) would otherwise wait in do_exit
// forever for the FLUSH reply from the server it was.
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	flushes.Add(1)
	return syscall.ENOSYS
}

// flushes counts the FLUSH requests mounts received (a test reads it).
var flushes atomic.Int64

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.d.ReadAt(dest, off)
	if err != nil && err != io.EOF {
		h.n.f.log.Error("mount: read failed", "set", h.n.cat.ID, "disk", h.n.disk.ID, "error", err)
		return nil, syscall.EIO
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// SEEK_DATA and SEEK_HOLE (lseek(2)).
const (
	seekData = 3
	seekHole = 4
)

func (h *handle) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	size := h.d.Size()
	if int64(off) >= size {
		return 0, syscall.ENXIO
	}
	if whence != seekData && whence != seekHole {
		return 0, syscall.EINVAL
	}
	ext, err := h.d.Map(int64(off), size-int64(off))
	for _, e := range ext {
		if e.Zero == (whence == seekHole) {
			return uint64(e.Offset), 0
		}
	}
	if err != nil {
		return 0, syscall.EIO
	}
	if whence == seekHole {
		return uint64(size), 0 // the implicit hole at the end
	}
	return 0, syscall.ENXIO
}
