package guestfs

import (
	"fmt"
	"io"
	"io/fs"

	"github.com/hashicorp/golang-lru/v2"
	"github.com/masahiro331/go-ext4-filesystem/ext4"
)

// extFS reads ext2, ext3 and ext4 through go-ext4-filesystem.
type extFS struct{ fs *ext4.FileSystem }

func openExt(g *guard, p Partition) (reader, error) {
	cache, err := lru.New[string, any](8192) // inodes, by number
	if err != nil {
		return nil, err
	}
	f, err := ext4.NewFS(*io.NewSectionReader(g, p.Start, p.Size), cache)
	if err != nil {
		return nil, err
	}
	// what the library would read as block numbers: refused, never
	// read wrong
	sb := f.GetSuperBlock()
	switch {
	case sb.FeatureIncompatInlineData():
		return nil, fmt.Errorf("%w: this ext4 keeps small files inside their inodes (inline_data), which vmlua does not read: use vmlua mount and debugfs", ErrUnsupported)
	case sb.FeatureIncompatEncrypt():
		return nil, fmt.Errorf("%w: this ext4 has encrypted folders: use vmlua mount and the guest's keys", ErrUnsupported)
	}
	return &extFS{f}, nil
}

func (x *extFS) list(p string) ([]Entry, error) {
	des, err := x.fs.ReadDir(p)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(des))
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			return nil, err
		}
		e := Entry{Name: de.Name(), Mode: fi.Mode(), ModTime: fi.ModTime()}
		if fi.Mode().IsRegular() || fi.Mode()&fs.ModeSymlink != 0 {
			e.Size = fi.Size()
		}
		out = append(out, e)
	}
	return out, nil
}

func (x *extFS) open(p string) (io.Reader, error) { return x.fs.Open(p) }

func (x *extFS) readlink(p string) (string, error) { return x.fs.ReadLink(p) }
