package guestfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
)

// Entry is a file, folder or link of a file system.
type Entry struct {
	Name    string      // its name in its folder ("/" for the root)
	Path    string      // absolute, clean ("/etc/motd")
	Mode    fs.FileMode // type and permissions
	Size    int64       // bytes (a regular file's content)
	ModTime time.Time
	Link    string // a symbolic link's target, as stored
}

// IsDir reports whether the entry is a folder.
func (e Entry) IsDir() bool { return e.Mode.IsDir() }

// reader is what each file system's adapter gives: its folders, and the
// content of a regular file, by clean absolute path.
type reader interface {
	list(p string) ([]Entry, error) // entries without "." and ".."; Path is set by the Volume
	open(p string) (io.Reader, error)
	readlink(p string) (string, error)
}

// Volume is a file system of a disk, open for reading.
type Volume struct {
	Partition Partition
	g         *guard
	r         reader
	mu        sync.Mutex
}

// ErrUnsupported is wrapped by Open's error for a partition whose file
// system this package does not read (or none).
var ErrUnsupported = errors.New("this file system is not read here")

// Open opens the file system of partition p of the disk r (as Partitions
// found it). One this package does not read is an error wrapping
// ErrUnsupported; a read of the disk that fails, a *ReadError.
func Open(r io.ReaderAt, size int64, p Partition) (*Volume, error) {
	g := &guard{r: r, size: size}
	v := &Volume{Partition: p, g: g}
	var err error
	switch p.FS {
	case FSExt:
		v.r, err = openExt(g, p)
	case FSFAT12, FSFAT16, FSFAT32:
		v.r, err = openFAT(g, p)
	case "":
		err = fmt.Errorf("%w: %s holds no file system known", ErrUnsupported, p)
	default:
		err = fmt.Errorf("%w: %s (%s is read through vmlua mount or serve nbd and the guest's tools)", ErrUnsupported, p, p.FS)
	}
	if err = g.check(err); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return v, nil
}

// Clean makes p an absolute clean path ("" and "." are the root).
func Clean(p string) string { return path.Clean("/" + p) }

// do runs f under the Volume's lock and fails it with the disk's read
// error if one happened meanwhile.
func (v *Volume) do(f func() error) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.g.take()
	return v.g.check(f())
}

// notFound is the error of a path that is not there.
func notFound(p string) error {
	return &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
}

// List returns the entries of folder p, sorted by name. A file is an
// error (List of a file's path is its own entry through Stat).
func (v *Volume) List(p string) ([]Entry, error) {
	p = Clean(p)
	var out []Entry
	err := v.do(func() error {
		var err error
		out, err = v.listLocked(p)
		return err
	})
	return out, err
}

func (v *Volume) listLocked(p string) ([]Entry, error) {
	if p != "/" {
		e, err := v.statLocked(p)
		if err != nil {
			return nil, err
		}
		if !e.IsDir() {
			return nil, &fs.PathError{Op: "list", Path: p, Err: errors.New("not a folder")}
		}
	}
	es, err := v.r.list(p)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", p, err)
	}
	for i := range es {
		es[i].Path = path.Join(p, es[i].Name)
		if es[i].Mode&fs.ModeSymlink != 0 {
			if es[i].Link, err = v.r.readlink(es[i].Path); err != nil {
				return nil, fmt.Errorf("read link %s: %w", es[i].Path, err)
			}
		}
	}
	sort.Slice(es, func(i, j int) bool { return es[i].Name < es[j].Name })
	return es, nil
}

// Stat returns the entry of p (a link is not followed).
func (v *Volume) Stat(p string) (Entry, error) {
	p = Clean(p)
	var e Entry
	err := v.do(func() error {
		var err error
		e, err = v.statLocked(p)
		return err
	})
	return e, err
}

func (v *Volume) statLocked(p string) (Entry, error) {
	if p == "/" {
		return Entry{Name: "/", Path: "/", Mode: fs.ModeDir | 0o755}, nil
	}
	dir, name := path.Split(p)
	es, err := v.listLocked(path.Clean(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return Entry{}, notFound(p)
	}
	if err != nil {
		return Entry{}, err
	}
	for _, e := range es {
		if e.Name == name {
			return e, nil
		}
	}
	if v.Partition.FS != FSExt { // FAT: names match whatever their case
		for _, e := range es {
			if strings.EqualFold(e.Name, name) {
				return e, nil
			}
		}
	}
	return Entry{}, notFound(p)
}

// Open opens regular file p for reading (a link is followed, within the
// file system). Its reads fail with the disk's read error, if any.
func (v *Volume) Open(p string) (io.Reader, Entry, error) {
	p = Clean(p)
	var e Entry
	var r io.Reader
	err := v.do(func() error {
		var err error
		for hops := 0; ; hops++ {
			if e, err = v.statLocked(p); err != nil {
				return err
			}
			if e.Mode&fs.ModeSymlink == 0 {
				break
			}
			if hops == 40 {
				return &fs.PathError{Op: "open", Path: p, Err: errors.New("too many levels of symbolic links")}
			}
			t := e.Link
			if !path.IsAbs(t) {
				t = path.Join(path.Dir(p), t)
			}
			p = Clean(t)
		}
		if !e.Mode.IsRegular() {
			return &fs.PathError{Op: "open", Path: p, Err: fmt.Errorf("not a regular file (%s)", e.Mode.Type())}
		}
		r, err = v.r.open(p)
		return err
	})
	if err != nil {
		return nil, Entry{}, err
	}
	return &fileReader{v: v, r: io.LimitReader(r, e.Size), left: e.Size, path: p}, e, nil
}

// fileReader reads a file of a Volume: under its lock, failing with the
// disk's read error, and with an error if the file ends early.
type fileReader struct {
	v    *Volume
	r    io.Reader
	left int64
	path string
}

func (f *fileReader) Read(p []byte) (int, error) {
	f.v.mu.Lock()
	defer f.v.mu.Unlock()
	n, err := f.r.Read(p)
	f.left -= int64(n)
	if rerr := f.v.g.take(); rerr != nil {
		return 0, fmt.Errorf("%s: %w", f.path, &ReadError{Err: rerr})
	}
	if err == io.EOF && f.left > 0 {
		return n, fmt.Errorf("%s: the file system gave %d bytes too few", f.path, f.left)
	}
	if err != nil && err != io.EOF {
		return n, fmt.Errorf("%s: %w", f.path, err)
	}
	return n, err
}
