package guestfs

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"strings"

	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/filesystem/fat12"
	"github.com/diskfs/go-diskfs/filesystem/fat16"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
)

// fatFS reads FAT12, FAT16 and FAT32 through go-diskfs.
type fatFS struct {
	fs interface {
		ReadDir(p string) ([]iofs.DirEntry, error)
		OpenFile(p string, flag int) (filesystem.File, error)
	}
}

func openFAT(g *guard, p Partition) (reader, error) {
	s := newStorage(g)
	var err error
	x := &fatFS{}
	switch p.FS {
	case FSFAT12:
		x.fs, err = fat12.Read(s, p.Size, p.Start, sector)
	case FSFAT16:
		var f *fat16.FileSystem
		if f, err = fat16.Read(s, p.Size, p.Start, sector); err == nil {
			x.fs = f
		}
	default:
		var f *fat32.FileSystem
		if f, err = fat32.Read(s, p.Size, p.Start, sector); err == nil {
			x.fs = f
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.FS, err)
	}
	return x, nil
}

// rel is p as go-diskfs's FAT ReadDir takes it (io/fs's form).
func rel(p string) string {
	if p == "/" {
		return "."
	}
	return strings.TrimPrefix(p, "/")
}

func (x *fatFS) list(p string) ([]Entry, error) {
	des, err := x.fs.ReadDir(rel(p))
	if err != nil {
		if strings.Contains(err.Error(), "not found") || strings.Contains(err.Error(), "does not exist") {
			return nil, errors.Join(iofs.ErrNotExist, err)
		}
		return nil, err
	}
	out := make([]Entry, 0, len(des))
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			return nil, err
		}
		e := Entry{Name: de.Name(), ModTime: fi.ModTime(), Mode: 0o644}
		if de.IsDir() {
			e.Mode = iofs.ModeDir | 0o755
		} else {
			e.Size = fi.Size()
		}
		out = append(out, e)
	}
	return out, nil
}

func (x *fatFS) open(p string) (io.Reader, error) { return x.fs.OpenFile(p, os.O_RDONLY) }

func (x *fatFS) readlink(p string) (string, error) {
	return "", fmt.Errorf("%s: FAT has no links", p)
}
