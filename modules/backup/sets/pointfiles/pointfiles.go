package pointfiles

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/vmlua/vmlua/internal/guestfs"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets/pointread"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// Point is a restore point open for reading guest files. Safe for
// concurrent use; Close it when done.
type Point struct {
	Catalog *catalog.Catalog
	t       transports.Transport
	ctx     context.Context
	cache   *pointread.Cache
	mu      sync.Mutex
	disks   map[string]*pointread.Disk
	parts   map[string][]guestfs.Partition
	vols    map[string]*guestfs.Volume // by disk id and partition number
}

// Open resolves VM vmName's point on t ("" or "latest": the newest
// complete set; else its timestamp, as pointread.Resolve takes it).
// cacheBytes bounds the memory of verified spans and decoded frames
// shared by its disks (0: pointread's default). ctx bounds every read
// until Close.
func Open(ctx context.Context, t transports.Transport, vmName, point string, cacheBytes int64) (*Point, error) {
	cat, err := pointread.Resolve(ctx, t, vmName, point)
	if err != nil {
		return nil, err
	}
	return &Point{Catalog: cat, t: t, ctx: ctx, cache: pointread.NewCache(cacheBytes),
		disks: map[string]*pointread.Disk{}, parts: map[string][]guestfs.Partition{}, vols: map[string]*guestfs.Volume{}}, nil
}

// DiskID names a disk of the point: id itself if the point has it, the
// first disk (the catalog's order) when id is "". An unknown id is a
// runtime.Error coded not_found listing the disks.
func (p *Point) DiskID(id string) (string, error) {
	if len(p.Catalog.Disks) == 0 {
		return "", &runtime.Error{Code: runtime.CodeNotFound, Path: p.Catalog.ID, Message: "the point has no disk"}
	}
	if id == "" {
		return p.Catalog.Disks[0].ID, nil
	}
	var ids []string
	for _, d := range p.Catalog.Disks {
		if d.ID == id {
			return id, nil
		}
		ids = append(ids, d.ID)
	}
	return "", &runtime.Error{Code: runtime.CodeNotFound, Path: p.Catalog.ID, Message: fmt.Sprintf("the point has no disk %s (its disks: %s)", id, strings.Join(ids, ", "))}
}

// Disk opens disk id of the point (once; "" the first).
func (p *Point) Disk(id string) (*pointread.Disk, error) {
	id, err := p.DiskID(id)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if d := p.disks[id]; d != nil {
		return d, nil
	}
	d, err := pointread.Open(p.ctx, p.t, p.Catalog, id, pointread.Options{Cache: p.cache})
	if err != nil {
		return nil, err
	}
	p.disks[id] = d
	return d, nil
}

// Partitions returns the partitions of disk id and the file system in
// each (guestfs.Partitions).
func (p *Point) Partitions(id string) ([]guestfs.Partition, error) {
	d, err := p.Disk(id)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if ps, ok := p.parts[d.ID]; ok {
		return ps, nil
	}
	ps, err := guestfs.Partitions(d, d.Size())
	if err != nil {
		return nil, fmt.Errorf("disk %s of %s: %w", d.ID, p.Catalog.ID, err)
	}
	p.parts[d.ID] = ps
	return ps, nil
}

// ParsePath splits a guest path "[PART:]/path": PART is a partition's
// number (-1 when not given), path is absolute and clean.
func ParsePath(s string) (part int, path string, err error) {
	part = -1
	if i := strings.Index(s, ":"); i > 0 && !strings.Contains(s[:i], "/") {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 {
			return 0, "", runtime.Errorf(runtime.CodeInvalidArg, "%q: a path is /folder/file, or PART:/folder/file with PART a partition's number (vmlua files ls TARGET VM lists them)", s)
		}
		part, s = n, s[i+1:]
	}
	if !strings.HasPrefix(s, "/") {
		return 0, "", runtime.Errorf(runtime.CodeInvalidArg, "%q: a guest path starts with / (e.g. /etc/hostname, or 2:/etc/hostname for partition 2)", s)
	}
	return part, guestfs.Clean(s), nil
}

// Volume opens the file system of partition part of disk id: part -1 is
// the disk's only file system this reads (an error naming them when
// there are several).
func (p *Point) Volume(id string, part int) (*guestfs.Volume, error) {
	ps, err := p.Partitions(id)
	if err != nil {
		return nil, err
	}
	d, _ := p.Disk(id)
	var pick *guestfs.Partition
	if part >= 0 {
		for i := range ps {
			if ps[i].Number == part {
				pick = &ps[i]
			}
		}
		if pick == nil {
			return nil, &runtime.Error{Code: runtime.CodeNotFound, Path: p.Catalog.ID, Message: fmt.Sprintf("disk %s has no partition %d (%s)", d.ID, part, describe(ps))}
		}
	} else {
		var readable []*guestfs.Partition
		for i := range ps {
			if guestfs.Readable(ps[i].FS) {
				readable = append(readable, &ps[i])
			}
		}
		switch len(readable) {
		case 0:
			return nil, &runtime.Error{Code: runtime.CodeNotFound, Path: p.Catalog.ID, Message: fmt.Sprintf("disk %s holds no file system vmlua reads (%s): open it with vmlua mount or serve nbd and the guest's tools", d.ID, describe(ps))}
		case 1:
			pick = readable[0]
		default:
			return nil, runtime.Errorf(runtime.CodeInvalidArg, "disk %s holds %d file systems (%s): name one as PART:/path, e.g. %d:/", d.ID, len(readable), describe(ps), readable[0].Number)
		}
	}
	key := fmt.Sprintf("%s#%d", d.ID, pick.Number)
	p.mu.Lock()
	defer p.mu.Unlock()
	if v := p.vols[key]; v != nil {
		return v, nil
	}
	v, err := guestfs.Open(d, d.Size(), *pick)
	if errors.Is(err, guestfs.ErrUnsupported) {
		return nil, &runtime.Error{Code: runtime.CodeInvalidArg, Path: p.Catalog.ID, Message: fmt.Sprintf("disk %s: %v", d.ID, err), Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("disk %s of %s: %w", d.ID, p.Catalog.ID, err)
	}
	p.vols[key] = v
	return v, nil
}

// describe lists partitions for a message.
func describe(ps []guestfs.Partition) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	if len(s) == 0 {
		return "no partitions"
	}
	return strings.Join(s, "; ")
}

// Resolve opens the file system a guest path "[PART:]/path" names on
// disk id and returns it with the path in it.
func (p *Point) Resolve(id, guestPath string) (*guestfs.Volume, string, error) {
	part, path, err := ParsePath(guestPath)
	if err != nil {
		return nil, "", err
	}
	v, err := p.Volume(id, part)
	return v, path, err
}

// NotFound turns a guest path that is not there into a runtime.Error
// coded not_found, and a read of a damaged span into one coded verify
// (other errors pass).
func (p *Point) NotFound(err error, guestPath string) error {
	var re *runtime.Error
	switch {
	case err == nil || errors.As(err, &re):
		return err
	case errors.Is(err, fs.ErrNotExist):
		return &runtime.Error{Code: runtime.CodeNotFound, Path: guestPath, Message: fmt.Sprintf("%s: no such file or folder in %s", guestPath, p.Catalog.ID), Err: err}
	case errors.Is(err, pointread.ErrDamaged):
		return &runtime.Error{Code: runtime.CodeVerify, Path: guestPath, Message: fmt.Sprintf("%s could not be read: %v (vmlua verify tells which sets are damaged; an earlier point may hold the file)", guestPath, err), Err: err}
	}
	return err
}

// ReadAll reads a guest file whole, at most limit bytes (a bigger file is
// an error saying to stream it).
func (p *Point) ReadAll(id, guestPath string, limit int64) ([]byte, error) {
	v, path, err := p.Resolve(id, guestPath)
	if err != nil {
		return nil, err
	}
	r, e, err := v.Open(path)
	if err != nil {
		return nil, p.NotFound(err, guestPath)
	}
	if e.Size > limit {
		return nil, runtime.Errorf(runtime.CodeInvalidArg, "%s is %d bytes, more than %d: copy it to a target instead of reading it into the script", guestPath, e.Size, limit)
	}
	b, err := io.ReadAll(r)
	return b, p.NotFound(err, guestPath)
}

// Close closes the point's disks.
func (p *Point) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, d := range p.disks {
		d.Close()
	}
	p.disks = map[string]*pointread.Disk{}
	p.vols = map[string]*guestfs.Volume{}
	return nil
}

// Stream opens guest path gp of vol for copying out: a file as it is (a
// link followed), a folder (or anything, with asTar) as a tar archive
// written as it is read (guestfs.Volume.WriteTar; its failure is the
// reader's error). name is what to call the copy: the file's name, or
// the folder's with .tar ("root.tar" for /). Close the reader when done.
func Stream(ctx context.Context, vol *guestfs.Volume, gp string, asTar bool) (name string, r io.ReadCloser, isTar bool, err error) {
	e, err := vol.Stat(gp)
	if err != nil {
		return "", nil, false, err
	}
	isTar = asTar || e.IsDir()
	name = path.Base(e.Path)
	if e.Path == "/" {
		name = "root"
	}
	if isTar {
		pr, pw := io.Pipe()
		go func() {
			_, err := vol.WriteTar(ctx, pw, gp)
			pw.CloseWithError(err)
		}()
		return name + ".tar", pr, true, nil
	}
	fr, _, err := vol.Open(gp)
	if err != nil {
		return "", nil, false, err
	}
	return name, io.NopCloser(fr), false, nil
}
