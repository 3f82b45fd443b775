package guestfs

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
)

// TarStats says what WriteTar wrote.
type TarStats struct {
	Files, Folders, Links int
	Bytes                 int64    // content of the files
	Skipped               []string // entries of other kinds (devices, pipes, sockets), not in the archive
}

// WriteTar writes p as a tar archive to w: a folder with everything in
// it, or one file, named from p's last element on ("etc/", "etc/motd").
// Links are stored as links; devices, pipes and sockets are left out
// (TarStats.Skipped). A read of the disk that fails ends it with the
// error, and the archive is then incomplete: the caller must not keep it.
func (v *Volume) WriteTar(ctx context.Context, w io.Writer, p string) (TarStats, error) {
	var st TarStats
	root, err := v.Stat(p)
	if err != nil {
		return st, err
	}
	tw := tar.NewWriter(w)
	base := path.Dir(root.Path)
	if err := v.tarEntry(ctx, tw, base, root, &st); err != nil {
		return st, err
	}
	return st, tw.Close()
}

func (v *Volume) tarEntry(ctx context.Context, tw *tar.Writer, base string, e Entry, st *TarStats) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name := e.Path[len(base):]
	if base != "/" {
		name = name[1:]
	} else {
		name = e.Path[1:]
	}
	if e.Path == "/" {
		name = "."
	}
	h := &tar.Header{Name: name, Mode: int64(e.Mode.Perm()), ModTime: e.ModTime, Format: tar.FormatPAX}
	switch {
	case e.IsDir():
		h.Typeflag, h.Name = tar.TypeDir, name+"/"
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		st.Folders++
		es, err := v.List(e.Path)
		if err != nil {
			return err
		}
		for _, c := range es {
			if err := v.tarEntry(ctx, tw, base, c, st); err != nil {
				return err
			}
		}
		return nil
	case e.Mode&fs.ModeSymlink != 0:
		h.Typeflag, h.Linkname = tar.TypeSymlink, e.Link
		st.Links++
		return tw.WriteHeader(h)
	case e.Mode.IsRegular():
		r, fe, err := v.Open(e.Path)
		if err != nil {
			return err
		}
		h.Typeflag, h.Size = tar.TypeReg, fe.Size
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		n, err := io.Copy(tw, r)
		if err != nil {
			return err
		}
		if n != fe.Size {
			return fmt.Errorf("%s: read %d bytes of %d", e.Path, n, fe.Size)
		}
		st.Files++
		st.Bytes += n
		return nil
	default:
		st.Skipped = append(st.Skipped, e.Path)
		return nil
	}
}
