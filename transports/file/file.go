package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/vmlua/vmlua/transports"
)

func init() {
	transports.Register(transports.Scheme{
		Name:    "file",
		URLForm: "file:///absolute/path",
		Help: "A directory on this machine or on a file system mounted here. " +
			"Files are fsynced before they are renamed into place and the directory is fsynced after. " +
			"Paths cannot leave the directory, not even through a symlink inside it.",
		Exclusive: "link(2): the lock's content is written and synced under a temporary name, then hard-linked to its name, which fails when anything is there " +
			"(atomic on local file systems and on NFS and SMB mounts). A file system without hard links (vfat) falls back to open(2) with O_EXCL.",
		Options: []transports.Option{
			transports.CreateOption,
			transports.BwlimitOption,
		},
		Open: open,
	})
}

func open(ctx context.Context, u *url.URL, opts transports.Options) (transports.Transport, error) {
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("file URL %s: host %q given: use file:///absolute/path", transports.Redact(u.String()), u.Host)
	}
	if u.Opaque != "" || !filepath.IsAbs(u.Path) {
		return nil, fmt.Errorf("file URL %s: the path must be absolute, as in file:///srv/backup", transports.Redact(u.String()))
	}
	create := true
	if v := opts.Param(u, "create"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("file URL %s: create=%q: want true or false", transports.Redact(u.String()), v)
		}
		create = b
	}
	if create {
		if err := os.MkdirAll(u.Path, 0o750); err != nil {
			return nil, fmt.Errorf("file URL %s: %w", transports.Redact(u.String()), mapErr(err))
		}
	} else if _, err := os.Stat(u.Path); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("file URL %s: folder %s does not exist, and create=false says not to make it: is the file system it is on (a NAS) mounted? %w", transports.Redact(u.String()), u.Path, fs.ErrNotExist)
	}
	return New(u.Path)
}

// Transport is a directory on a local file system.
type Transport struct {
	root *os.Root
	dir  string

	dmu      sync.Mutex
	deferred map[string]bool // directory -> a Rename into it was not synced (DeferDirSync)
}

// syncedDirs counts directory syncs (tests).
var syncedDirs atomic.Int64

var (
	_ transports.Transport        = (*Transport)(nil)
	_ transports.ExclusiveCreator = (*Transport)(nil)
)

// New returns a transport rooted at the existing directory dir.
func New(dir string) (*Transport, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("file transport %s: %w", dir, err)
	}
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("file transport: %w", mapErr(err))
	}
	return &Transport{root: r, dir: abs}, nil
}

// URL implements transports.Transport.
func (t *Transport) URL() string { return (&url.URL{Scheme: "file", Path: t.dir}).String() }

// Dir is the directory the transport is rooted at.
func (t *Transport) Dir() string { return t.dir }

// Close implements transports.Transport.
func (t *Transport) Close() error { return t.root.Close() }

// errPathEscapes is the text os.Root uses for a path that leaves it; it
// has no exported sentinel.
const errPathEscapes = "path escapes from parent"

// mapErr maps OS errors to the transport sentinels: ENOSPC/EDQUOT to
// ErrNoSpace, os.Root's escape error to ErrOutsideRoot. Not-found errors
// already satisfy errors.Is(err, fs.ErrNotExist).
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: %w", transports.ErrNoSpace, err)
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if e.Error() == errPathEscapes {
			return fmt.Errorf("%w: %w", transports.ErrOutsideRoot, err)
		}
	}
	if errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	return err
}

func clean(p string) (string, error) {
	c, err := transports.CleanPath(p)
	if err != nil {
		return "", err
	}
	if c == "" {
		return ".", nil
	}
	return c, nil
}

func (t *Transport) wrap(op, p string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %s in %s: %w", op, p, t.dir, mapErr(err))
}

// Stat implements transports.Transport.
func (t *Transport) Stat(ctx context.Context, p string) (transports.FileInfo, error) {
	c, err := clean(p)
	if err != nil {
		return transports.FileInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return transports.FileInfo{}, err
	}
	fi, err := t.root.Stat(c)
	if err != nil {
		return transports.FileInfo{}, t.wrap("stat", p, err)
	}
	return info(fi), nil
}

func info(fi fs.FileInfo) transports.FileInfo {
	out := transports.FileInfo{Name: fi.Name(), ModTime: fi.ModTime(), IsDir: fi.IsDir()}
	if !out.IsDir {
		out.Size = fi.Size()
	}
	return out
}

// List implements transports.Transport. Entries are as lstat sees them: a
// symlink is listed as a non-directory.
func (t *Transport) List(ctx context.Context, p string) ([]transports.FileInfo, error) {
	c, err := clean(p)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := t.root.Open(c)
	if err != nil {
		return nil, t.wrap("list", p, err)
	}
	defer f.Close()
	fis, err := f.Readdir(-1)
	if err != nil {
		return nil, t.wrap("list", p, err)
	}
	out := make([]transports.FileInfo, 0, len(fis))
	for _, fi := range fis {
		out = append(out, info(fi))
	}
	return out, nil
}

// MkdirAll implements transports.Transport.
func (t *Transport) MkdirAll(ctx context.Context, p string) error {
	c, err := clean(p)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if c == "." {
		return nil
	}
	return t.wrap("mkdir", p, t.root.MkdirAll(c, 0o750))
}

// Rename implements transports.Transport. It fsyncs the directories
// involved so the rename is durable.
func (t *Transport) Rename(ctx context.Context, from, to string) error {
	cf, err := clean(from)
	if err != nil {
		return err
	}
	ct, err := clean(to)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := t.root.Rename(cf, ct); err != nil {
		return t.wrap("rename", from+" to "+to, err)
	}
	if err := t.syncDirOrDefer(path.Dir(ct)); err != nil {
		return t.wrap("rename", from+" to "+to, err)
	}
	if path.Dir(cf) != path.Dir(ct) {
		return t.wrap("rename", from+" to "+to, t.syncDirOrDefer(path.Dir(cf)))
	}
	return nil
}

// DeferDirSync implements transports.DirSyncDeferrer: Renames into dir
// leave its sync to flush, which syncs it once (when a Rename was
// deferred) and ends the deferral.
func (t *Transport) DeferDirSync(dir string) (func(context.Context) error, error) {
	c, err := clean(dir)
	if err != nil {
		return nil, err
	}
	t.dmu.Lock()
	if t.deferred == nil {
		t.deferred = map[string]bool{}
	}
	if _, ok := t.deferred[c]; !ok {
		t.deferred[c] = false
	}
	t.dmu.Unlock()
	var once sync.Once
	return func(ctx context.Context) error {
		var err error
		once.Do(func() {
			t.dmu.Lock()
			dirty, ok := t.deferred[c]
			delete(t.deferred, c)
			t.dmu.Unlock()
			if ok && dirty {
				if err = ctx.Err(); err == nil {
					err = t.wrap("sync directory", dir, t.syncDir(c))
				}
			}
		})
		return err
	}, nil
}

// syncDirOrDefer syncs dir, or notes that it must be synced when its
// syncs are deferred.
func (t *Transport) syncDirOrDefer(dir string) error {
	t.dmu.Lock()
	if _, ok := t.deferred[dir]; ok {
		t.deferred[dir] = true
		t.dmu.Unlock()
		return nil
	}
	t.dmu.Unlock()
	return t.syncDir(dir)
}

func (t *Transport) syncDir(dir string) error {
	syncedDirs.Add(1)
	d, err := t.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Remove implements transports.Transport.
func (t *Transport) Remove(ctx context.Context, p string) error {
	c, err := clean(p)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if c == "." {
		return fmt.Errorf("remove the transport's root %s: refused", t.dir)
	}
	return t.wrap("remove", p, t.root.Remove(c))
}

// Create implements transports.Transport.
func (t *Transport) Create(ctx context.Context, p string) (transports.Writer, error) {
	c, err := clean(p)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := t.openRegular(c, p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return nil, t.wrap("create", p, err)
	}
	return &writer{t: t, ctx: ctx, f: f, path: c, name: p}, nil
}

type writer struct {
	t    *Transport
	ctx  context.Context
	f    *os.File
	path string
	name string
	done bool
	off  int64 // bytes written
	kick int64 // writeback was asked for [0, kick)
	// kicks takes ranges to start the writeback of to a goroutine of
	// their own (sync_file_range can wait for the disk's queue; Write
	// should not); kicked is closed when that goroutine is gone. Both nil
	// until the first range.
	kicks  chan [2]int64
	kicked chan struct{}
}

// writebackEvery is how many written bytes make Write start their
// writeback (see startWriteback), so the disk works while the stream runs.
const writebackEvery = 16 << 20

// kickWriteback hands [w.kick, w.off) to the writeback goroutine without
// waiting: when that goroutine is still busy with the range before, the
// bytes stay in w.kick's range and go with the next one.
func (w *writer) kickWriteback() {
	if w.kicks == nil {
		w.kicks, w.kicked = make(chan [2]int64, 1), make(chan struct{})
		go func(f *os.File) {
			defer close(w.kicked)
			for r := range w.kicks {
				startWriteback(f, r[0], r[1])
			}
		}(w.f)
	}
	select {
	case w.kicks <- [2]int64{w.kick, w.off - w.kick}:
		w.kick = w.off
	default:
	}
}

// stopWriteback ends the writeback goroutine and waits for it, so that no
// sync_file_range is still running when the file is synced or closed.
func (w *writer) stopWriteback() {
	if w.kicks != nil {
		close(w.kicks)
		<-w.kicked
		w.kicks = nil
	}
}

func (w *writer) Write(b []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("write %s: already closed", w.name)
	}
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := w.f.Write(b)
	w.off += int64(n)
	if w.off-w.kick >= writebackEvery {
		w.kickWriteback()
	}
	return n, w.t.wrap("write", w.name, err)
}

// ReadFrom lets io.Copy into a raw Writer use copy_file_range/splice.
func (w *writer) ReadFrom(r io.Reader) (int64, error) {
	if w.done {
		return 0, fmt.Errorf("write %s: already closed", w.name)
	}
	n, err := w.f.ReadFrom(r)
	return n, w.t.wrap("write", w.name, err)
}

func (w *writer) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	w.stopWriteback()
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return w.t.wrap("close", w.name, err)
}

func (w *writer) Abort() error {
	if w.done {
		return nil
	}
	w.done = true
	w.stopWriteback()
	w.f.Close()
	err := w.t.root.Remove(w.path)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	return w.t.wrap("abort", w.name, err)
}

// Open implements transports.Transport. Only a regular file is opened:
// a directory, named pipe, device or socket is refused with
// transports.ErrNotRegular before it is opened (opening a FIFO blocks until
// a writer comes, whatever the run's context says). The open itself is
// non-blocking and checked again on the open descriptor, so a file swapped
// for a FIFO between the look and the open cannot block it either.
func (t *Transport) Open(ctx context.Context, p string, offset int64) (io.ReadCloser, error) {
	c, err := clean(p)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fi, err := t.root.Stat(c)
	if err != nil {
		return nil, t.wrap("open", p, err)
	}
	if k := transports.ModeKind(fi.Mode()); k != "" {
		return nil, t.wrap("open", p, transports.NotRegular(p, k))
	}
	f, err := t.openRegular(c, p, os.O_RDONLY)
	if err != nil {
		return nil, t.wrap("open", p, err)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, t.wrap("open", p, err)
		}
	}
	return f, nil
}

// openRegular opens c with flag and O_NONBLOCK (a FIFO's open returns at
// once instead of waiting for its other end) and refuses anything that
// is not a regular file once it is open. O_NONBLOCK changes nothing for a
// regular file.
func (t *Transport) openRegular(c, shown string, flag int) (*os.File, error) {
	f, err := t.root.OpenFile(c, flag|syscall.O_NONBLOCK, 0o640)
	if err != nil {
		if errors.Is(err, syscall.ENXIO) { // O_WRONLY on a FIFO nobody reads
			return nil, transports.NotRegular(shown, "a named pipe (FIFO)")
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if k := transports.ModeKind(fi.Mode()); k != "" {
		f.Close()
		return nil, transports.NotRegular(shown, k)
	}
	return f, nil
}

// link makes newname a hard link to oldname (a variable: tests stand in a
// file system without hard links).
var link = func(r *os.Root, oldname, newname string) error { return r.Link(oldname, newname) }

// noHardLinks reports whether err says the file system has no hard links.
func noHardLinks(err error) bool {
	return errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.ENOSYS)
}

// CreateExclusive implements transports.ExclusiveCreator with link(2): data
// is written and synced under a temporary name, which is then hard-linked
// to p; the link fails with EEXIST when anything is at p, atomically, on a
// local file system as on an NFS or SMB mount. On a file system without
// hard links (vfat, some FUSE ones) it falls back to open(2) with O_EXCL,
// as exclusive, whose file is empty for the moment before data lands.
func (t *Transport) CreateExclusive(ctx context.Context, p string, data []byte) error {
	c, err := clean(p)
	if err != nil {
		return err
	}
	if c == "." {
		return fmt.Errorf("create %s exclusively: the transport's root is a directory", t.dir)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tmp := transports.TempName(c)
	if err := t.writeExcl(tmp, data); err != nil {
		return t.wrap("create exclusively", p, err)
	}
	err = link(t.root, tmp, c)
	_ = t.root.Remove(tmp)
	if err != nil && noHardLinks(err) {
		err = t.writeExcl(c, data)
	}
	if err != nil {
		return t.wrap("create exclusively", p, err)
	}
	return t.wrap("create exclusively", p, t.syncDirOrDefer(path.Dir(c)))
}

// writeExcl creates c (failing when anything is there), writes data and
// syncs it; on failure nothing is left at c.
func (t *Transport) writeExcl(c string, data []byte) error {
	f, err := t.root.OpenFile(c, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = t.root.Remove(c)
	}
	return err
}
