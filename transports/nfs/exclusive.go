package nfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"

	nfsc "github.com/willscott/go-nfs-client/nfs"
	"github.com/willscott/go-nfs-client/nfs/rpc"
	"github.com/willscott/go-nfs-client/nfs/xdr"

	"github.com/vmlua/vmlua/transports"
)

// guardAttempts bounds symlinkExcl's tries.
const guardAttempts = 5

// nfsProc3Link is NFSPROC3_LINK (RFC 1813), which the library does not
// offer.
const nfsProc3Link = 15

// errNoLink: the server does not make hard links (NFS3ERR_NOTSUPP, or
// NFS3ERR_INVAL from go-nfs, which decodes LINK's arguments as SYMLINK's).
var errNoLink = errors.New("the server does not make hard links")

// CreateExclusive implements transports.ExclusiveCreator. With LINK: data
// goes to a temporary file (written and committed, so complete), which is
// then hard-linked to p; LINK fails with NFS3ERR_EXIST when anything is at
// p, atomically on the server, as link(2) does (the technique open(2)'s
// manual gives for NFS). A reply lost on the way, or a server that
// answers a lost race with another error, is told apart by the temporary
// file's link count: 2 means the link was made. A server without hard
// links gets a guard made with SYMLINK instead
// (transports.CreateExclusiveGuarded): symlink(2) is atomic too.
func (t *Transport) CreateExclusive(ctx context.Context, p string, data []byte) error {
	if !t.noLink.Load() {
		err := t.createByLink(ctx, p, data)
		if !errors.Is(err, errNoLink) {
			return err
		}
		t.noLink.Store(true)
	}
	return transports.CreateExclusiveGuarded(ctx, t, p, data, t.symlinkExcl)
}

func (t *Transport) createByLink(ctx context.Context, p string, data []byte) error {
	c, err := transports.CleanPath(p)
	if err != nil {
		return err
	}
	if c == "" {
		return fmt.Errorf("nfs create exclusively: the transport's root is a directory")
	}
	f, _ := t.full(c)
	tmp := transports.TempName(c)
	if err := transports.WriteNew(ctx, t, tmp, data); err != nil {
		return err
	}
	defer transports.RemoveQuietly(ctx, t, tmp)
	ftmp, _ := t.full(tmp)
	_, tmpFH, err := run2(ctx, t.v, ftmp)
	if err != nil {
		return t.wrap("create exclusively", p, err)
	}
	dir, name := path.Split(f)
	_, dirFH, err := run2(ctx, t.v, dir)
	if err != nil {
		return t.wrap("create exclusively", p, err)
	}
	_, err = run(ctx, func() (struct{}, error) { return struct{}{}, t.link(tmpFH, dirFH, name) })
	if err == nil {
		return nil
	}
	if errors.Is(err, os.ErrExist) {
		return t.wrap("create exclusively", p, fmt.Errorf("%s exists: %w", p, fs.ErrExist))
	}
	if ctx.Err() != nil {
		return t.wrap("create exclusively", p, err)
	}
	if fa, aerr := run(ctx, func() (*nfsc.Fattr, error) { return t.v.GetAttr(tmpFH) }); aerr == nil && fa.Nlink >= 2 {
		return nil // the link was made; its reply said otherwise or was lost
	}
	if _, _, lerr := run2(ctx, t.v, f); lerr == nil {
		return t.wrap("create exclusively", p, fmt.Errorf("%s exists (%v): %w", p, err, fs.ErrExist))
	}
	if isStatus(err, nfsc.NFS3ErrNotSupp) || isStatus(err, nfsc.NFS3ErrInval) {
		return fmt.Errorf("%w: %w", errNoLink, err)
	}
	return t.wrap("create exclusively", p, err)
}

// link is LINK3: a new name in dir for the file fh.
func (t *Transport) link(fh, dir []byte, name string) error {
	type link3Args struct {
		rpc.Header
		File []byte
		Link nfsc.Diropargs3
	}
	res, err := t.v.Call(&link3Args{
		Header: rpc.Header{Rpcvers: 2, Prog: nfsc.Nfs3Prog, Vers: nfsc.Nfs3Vers, Proc: nfsProc3Link, Cred: t.auth, Verf: rpc.AuthNull},
		File:   fh,
		Link:   nfsc.Diropargs3{FH: dir, Filename: name},
	})
	if err != nil {
		return err
	}
	st, err := xdr.ReadUint32(res)
	if err != nil {
		return err
	}
	return nfsc.NFS3Error(st)
}

// symlinkExcl makes p a symbolic link to a target of its own, failing
// with fs.ErrExist when anything is at p. go-nfs answers a symlink onto an
// existing name with NFS3ERR_ACCES, and a reply can be lost: the link's
// target tells whose it is; when nothing is there any more (its maker
// removed it meanwhile: NFS3ERR_NOENT, or NFS3ERR_STALE for the handle
// just looked up), it tries again, guardAttempts times in all.
func (t *Transport) symlinkExcl(ctx context.Context, p string) error {
	f, err := t.full(p)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		var b [8]byte
		_, _ = rand.Read(b[:])
		target := "vmlua-guard-" + hex.EncodeToString(b[:])
		_, err = run(ctx, func() (struct{}, error) { return struct{}{}, t.v.Symlink(target, f) })
		if err == nil || ctx.Err() != nil {
			return t.wrap("make the guard", p, err)
		}
		if errors.Is(err, os.ErrExist) {
			return t.wrap("make the guard", p, fmt.Errorf("%s exists: %w", p, fs.ErrExist))
		}
		got, rerr := run(ctx, func() (string, error) {
			fl, err := t.v.Open(f)
			if err != nil {
				return "", err
			}
			return fl.Readlink()
		})
		switch {
		case rerr == nil && got == target:
			return nil // ours: the reply said otherwise or was lost
		case rerr == nil:
			return t.wrap("make the guard", p, fmt.Errorf("%s exists (%v): %w", p, err, fs.ErrExist))
		case !(errors.Is(rerr, os.ErrNotExist) || isStatus(rerr, nfsc.NFS3ErrStale)):
			return t.wrap("make the guard", p, err)
		case attempt == guardAttempts:
			// every try met a guard that was gone a moment later: other
			// clients keep taking it (the temporary file beside it was
			// written, so it is not a permission problem)
			return t.wrap("make the guard", p, fmt.Errorf("%s keeps being taken by other clients (%v): %w", p, err, fs.ErrExist))
		}
	}
}

// isStatus reports whether err is the NFS3ERR status code.
func isStatus(err error, code uint32) bool {
	var ne *nfsc.Error
	return errors.As(err, &ne) && ne.ErrorNum == code
}
