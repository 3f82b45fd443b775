package nfsserve

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5"
)

// File is a file of the point as the datastore shows it: small content
// (Data), or a disk's flat image read from Disk.
type File struct {
	Name string // in the VM's folder
	Data []byte
	Disk io.ReaderAt
	Size int64 // a disk's size (Data's length otherwise)
}

// cowDir is the scratch folder's subfolder of the flat disks' written
// blocks (not shown in the export).
const cowDir = ".vmlua-overlay"

// Block is the unit a flat disk is copied on write by.
const Block = 64 << 10

// Overlay is the datastore's file system: the point's files in folder
// Dir, read-only, and a scratch folder that takes every change.
type Overlay struct {
	Dir     string // the VM's folder
	scratch string
	mod     time.Time
	mu      sync.Mutex
	base    map[string]File // by name in Dir
	gone    map[string]bool // base files removed or replaced
	cows    map[string]*cow // flat disks, by name
}

var _ billy.Filesystem = (*Overlay)(nil)
var _ billy.Change = (*Overlay)(nil)

// NewOverlay serves files in folder dir, changes going to scratch (an
// existing folder, left with what was written).
func NewOverlay(dir string, files []File, scratch string) (*Overlay, error) {
	if st, err := os.Stat(scratch); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("the scratch folder %s is not a folder: %v", scratch, err)
	}
	if err := os.MkdirAll(filepath.Join(scratch, dir), 0o755); err != nil {
		return nil, err
	}
	o := &Overlay{Dir: dir, scratch: scratch, mod: time.Now(), base: map[string]File{}, gone: map[string]bool{}, cows: map[string]*cow{}}
	for _, f := range files {
		if f.Disk == nil {
			f.Size = int64(len(f.Data))
		}
		o.base[f.Name] = f
		if f.Disk != nil {
			os.MkdirAll(filepath.Join(scratch, cowDir, dir), 0o755)
			sf := filepath.Join(scratch, cowDir, dir, f.Name)
			fh, err := os.OpenFile(sf, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return nil, err
			}
			if err := fh.Truncate(f.Size); err != nil {
				fh.Close()
				return nil, err
			}
			o.cows[f.Name] = &cow{base: f.Disk, size: f.Size, f: fh, bits: make([]uint64, (f.Size/Block+64)/64)}
		}
	}
	return o, nil
}

// Close closes the copy-on-write files.
func (o *Overlay) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, c := range o.cows {
		c.f.Close()
	}
	return nil
}

// WrittenBlocks is how many blocks of each flat disk were written.
func (o *Overlay) WrittenBlocks() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]int{}
	for n, c := range o.cows {
		out[n] = c.written()
	}
	return out
}

// clean makes p relative and clean ("" the root).
func clean(p string) string {
	p = path.Clean("/" + filepath.ToSlash(p))
	return strings.TrimPrefix(p, "/")
}

// baseFile returns the base file p names, if it is one still shown.
func (o *Overlay) baseFile(p string) (File, bool) {
	dir, name := path.Split(p)
	if path.Clean(dir) != o.Dir {
		return File{}, false
	}
	f, ok := o.base[name]
	if !ok || o.gone[name] {
		return File{}, false
	}
	return f, true
}

func (o *Overlay) real(p string) string {
	if p == cowDir || strings.HasPrefix(p, cowDir+"/") {
		p = "_" + p // the export cannot reach the copy-on-write data
	}
	return filepath.Join(o.scratch, filepath.FromSlash(p))
}

// copied reports whether a small base file was copied into scratch.
func (o *Overlay) copied(p string) bool {
	_, err := os.Lstat(o.real(p))
	return err == nil
}

// info is a base file's FileInfo.
type info struct {
	name string
	size int64
	dir  bool
	mod  time.Time
}

func (i info) Name() string { return i.name }
func (i info) Size() int64  { return i.size }
func (i info) Mode() iofs.FileMode {
	if i.dir {
		return iofs.ModeDir | 0o755
	}
	return 0o644
}
func (i info) ModTime() time.Time { return i.mod }
func (i info) IsDir() bool        { return i.dir }
func (i info) Sys() any           { return nil }

func (o *Overlay) Stat(p string) (iofs.FileInfo, error) { return o.Lstat(p) }

func (o *Overlay) Lstat(p string) (iofs.FileInfo, error) {
	p = clean(p)
	o.mu.Lock()
	defer o.mu.Unlock()
	if p == "" {
		return info{name: "/", dir: true, mod: o.mod}, nil
	}
	if f, ok := o.baseFile(p); ok && (f.Disk != nil || !o.copied(p)) {
		return info{name: f.Name, size: f.Size, mod: o.mod}, nil
	}
	return os.Lstat(o.real(p))
}

func (o *Overlay) ReadDir(p string) ([]iofs.FileInfo, error) {
	p = clean(p)
	o.mu.Lock()
	defer o.mu.Unlock()
	seen := map[string]iofs.FileInfo{}
	des, err := os.ReadDir(o.real(p))
	if err != nil && !(errors.Is(err, iofs.ErrNotExist) && p == o.Dir) {
		return nil, err
	}
	for _, de := range des {
		if p == "" && de.Name() == cowDir {
			continue
		}
		if fi, err := de.Info(); err == nil {
			seen[de.Name()] = fi
		}
	}
	if p == o.Dir {
		for n, f := range o.base {
			if !o.gone[n] && (f.Disk != nil || seen[n] == nil) {
				seen[n] = info{name: n, size: f.Size, mod: o.mod}
			}
		}
	}
	out := make([]iofs.FileInfo, 0, len(seen))
	for _, fi := range seen {
		out = append(out, fi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (o *Overlay) Open(p string) (billy.File, error) { return o.OpenFile(p, os.O_RDONLY, 0) }

func (o *Overlay) Create(p string) (billy.File, error) {
	return o.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o666)
}

func (o *Overlay) OpenFile(p string, flag int, perm iofs.FileMode) (billy.File, error) {
	p = clean(p)
	o.mu.Lock()
	defer o.mu.Unlock()
	write := flag&(os.O_WRONLY|os.O_RDWR|os.O_APPEND|os.O_TRUNC) != 0
	if f, ok := o.baseFile(p); ok {
		switch {
		case f.Disk != nil && flag&os.O_TRUNC == 0:
			return &cowFile{name: p, c: o.cows[f.Name]}, nil
		case f.Disk != nil: // replaced: the disk goes, a scratch file takes its name
			o.gone[f.Name] = true
			o.cows[f.Name].f.Truncate(0)
		case !o.copied(p) && !write:
			return &memFile{name: p, r: bytes.NewReader(f.Data)}, nil
		case !o.copied(p) && flag&os.O_TRUNC == 0:
			if err := os.WriteFile(o.real(p), f.Data, 0o644); err != nil {
				return nil, err
			}
		}
	}
	if write || flag&os.O_CREATE != 0 {
		os.MkdirAll(filepath.Dir(o.real(p)), 0o755)
	}
	fh, err := os.OpenFile(o.real(p), flag, perm)
	if err != nil {
		return nil, err
	}
	return &osFile{File: fh, name: p}, nil
}

func (o *Overlay) Remove(p string) error {
	p = clean(p)
	o.mu.Lock()
	defer o.mu.Unlock()
	if f, ok := o.baseFile(p); ok {
		o.gone[f.Name] = true
		if c := o.cows[f.Name]; c != nil {
			c.f.Truncate(0)
		}
		if o.copied(p) {
			return os.Remove(o.real(p))
		}
		return nil
	}
	return os.Remove(o.real(p))
}

func (o *Overlay) Rename(from, to string) error {
	from, to = clean(from), clean(to)
	o.mu.Lock()
	defer o.mu.Unlock()
	if f, ok := o.baseFile(from); ok {
		if f.Disk != nil {
			return &os.PathError{Op: "rename", Path: from, Err: errors.New("a disk of the restore point cannot be renamed on this datastore; migrate the VM to another datastore")}
		}
		if !o.copied(from) {
			if err := os.WriteFile(o.real(from), f.Data, 0o644); err != nil {
				return err
			}
		}
		o.gone[f.Name] = true
	}
	if f, ok := o.baseFile(to); ok {
		if f.Disk != nil {
			return &os.PathError{Op: "rename", Path: to, Err: errors.New("a disk of the restore point cannot be replaced")}
		}
		o.gone[f.Name] = true
	}
	os.MkdirAll(filepath.Dir(o.real(to)), 0o755)
	return os.Rename(o.real(from), o.real(to))
}

func (o *Overlay) Join(elem ...string) string { return path.Join(elem...) }

func (o *Overlay) TempFile(dir, prefix string) (billy.File, error) {
	dir = clean(dir)
	os.MkdirAll(o.real(dir), 0o755)
	fh, err := os.CreateTemp(o.real(dir), prefix)
	if err != nil {
		return nil, err
	}
	return &osFile{File: fh, name: path.Join(dir, filepath.Base(fh.Name()))}, nil
}

func (o *Overlay) MkdirAll(p string, perm iofs.FileMode) error {
	return os.MkdirAll(o.real(clean(p)), perm)
}

func (o *Overlay) Symlink(target, link string) error { return os.Symlink(target, o.real(clean(link))) }

func (o *Overlay) Readlink(link string) (string, error) { return os.Readlink(o.real(clean(link))) }

func (o *Overlay) Chroot(p string) (billy.Filesystem, error) {
	return nil, errors.New("nfsserve: chroot is not supported")
}

func (o *Overlay) Root() string { return "/" }

// Capabilities: read, write, seek, truncate.
func (o *Overlay) Capabilities() billy.Capability {
	return billy.WriteCapability | billy.ReadCapability | billy.ReadAndWriteCapability | billy.SeekCapability | billy.TruncateCapability
}

// The attributes of a base file do not change; a scratch file's do.
func (o *Overlay) change(p string, f func(string) error) error {
	p = clean(p)
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.baseFile(p); ok && !o.copied(p) {
		return nil
	}
	if p == "" || p == o.Dir {
		return nil
	}
	return f(o.real(p))
}

func (o *Overlay) Chmod(p string, mode iofs.FileMode) error {
	return o.change(p, func(r string) error { return os.Chmod(r, mode) })
}
func (o *Overlay) Lchown(p string, uid, gid int) error { return nil }
func (o *Overlay) Chown(p string, uid, gid int) error  { return nil }
func (o *Overlay) Chtimes(p string, atime, mtime time.Time) error {
	return o.change(p, func(r string) error { return os.Chtimes(r, atime, mtime) })
}

// osFile is a scratch file, named as the export shows it.
type osFile struct {
	*os.File
	name string
}

func (f *osFile) Name() string  { return f.name }
func (f *osFile) Lock() error   { return nil }
func (f *osFile) Unlock() error { return nil }

// memFile is a small base file, read-only.
type memFile struct {
	name string
	r    *bytes.Reader
}

func (f *memFile) Name() string                            { return f.name }
func (f *memFile) Read(p []byte) (int, error)              { return f.r.Read(p) }
func (f *memFile) ReadAt(p []byte, off int64) (int, error) { return f.r.ReadAt(p, off) }
func (f *memFile) Seek(off int64, w int) (int64, error)    { return f.r.Seek(off, w) }
func (f *memFile) Write([]byte) (int, error)               { return 0, os.ErrPermission }
func (f *memFile) Close() error                            { return nil }
func (f *memFile) Lock() error                             { return nil }
func (f *memFile) Unlock() error                           { return nil }
func (f *memFile) Truncate(int64) error                    { return os.ErrPermission }
