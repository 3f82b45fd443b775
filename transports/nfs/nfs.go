package nfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	nfsc "github.com/willscott/go-nfs-client/nfs"
	"github.com/willscott/go-nfs-client/nfs/rpc"
	"github.com/willscott/go-nfs-client/nfs/xdr"

	"github.com/vmlua/vmlua/transports"
)

const (
	defaultPort     = 2049 // NFS's registered port
	defaultInflight = 16
	maxInflight     = 64
	maxChunk        = 1 << 20
)

func init() {
	transports.Register(transports.Scheme{
		Name:        "nfs",
		DefaultPort: strconv.Itoa(defaultPort),
		URLForm:     "nfs://host[:port]/export/path[?mountport=N]",
		Help: "NFSv3 over TCP in user space (no kernel mount), AUTH_UNIX. Give mountport to do without the " +
			"portmapper. Uploads pipeline UNSTABLE writes and COMMIT at the end.",
		Exclusive: "LINK: the lock's content is written and committed under a temporary name, then hard-linked to its name, which the server refuses " +
			"(NFS3ERR_EXIST) when anything is there, atomically: the technique open(2)'s manual gives for NFS; a lost reply is recognised by the link count. " +
			"A server without hard links (NFS3ERR_NOTSUPP; go-nfs, whose LINK is broken) gets a guard made with SYMLINK, atomic as symlink(2), " +
			"under which the complete content is renamed onto the name if nothing is there (a guard a crash left is removed after 5 minutes). " +
			"Not CREATE in GUARDED mode: servers may check for the name and create the file in two steps (go-nfs does), and the file is empty until written; " +
			"EXCLUSIVE mode go-nfs refuses.",
		Options: []transports.Option{
			{Name: "mountport", Default: "(portmapper)", Help: "TCP port of the MOUNT service; without it the portmapper on port 111 is asked"},
			{Name: "uid", Default: "0", Help: "AUTH_UNIX user id the requests carry"},
			{Name: "gid", Default: "0", Help: "AUTH_UNIX group id the requests carry"},
			{Name: "inflight", Default: strconv.Itoa(defaultInflight), Help: "WRITE requests outstanding per upload"},
			{Name: "chunk", Default: "server's wtmax (≤ 1 MiB)", Help: "bytes per WRITE request"},
			transports.CreateOption,
			transports.BwlimitOption,
		},
		Open: func(ctx context.Context, u *url.URL, opts transports.Options) (transports.Transport, error) {
			return Open(ctx, u, opts)
		},
	})
}

// Transport is a mounted NFSv3 export, rooted at a folder inside it.
type Transport struct {
	url      string
	host     string
	nfsAddr  string
	export   string
	root     string // inside the export, "" for its root
	v        *nfsc.Target
	auth     rpc.Auth
	credBody []byte
	chunk    int // bytes per WRITE
	rchunk   int // bytes per READ
	inflight int

	noLink atomic.Bool // LINK failed as unsupported: CreateExclusive uses a SYMLINK guard

	closeOnce sync.Once
}

var (
	_ transports.Transport        = (*Transport)(nil)
	_ transports.ExclusiveCreator = (*Transport)(nil)
)

type params struct {
	mountPort     int
	uid, gid      int
	inflight      int
	chunk         int
	nfsPort       int
	explicitPorts bool
	create        bool
}

func parseParams(u *url.URL, p map[string]string) (params, error) {
	get := func(k string) string { return transports.Options{Params: p}.Param(u, k) }
	out := params{nfsPort: defaultPort, inflight: defaultInflight}
	for _, o := range []struct {
		name     string
		dst      *int
		min, max int
	}{
		{"mountport", &out.mountPort, 1, 65535},
		{"uid", &out.uid, 0, 1<<31 - 1},
		{"gid", &out.gid, 0, 1<<31 - 1},
		{"inflight", &out.inflight, 1, maxInflight},
		{"chunk", &out.chunk, 4096, maxChunk},
	} {
		if v := get(o.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < o.min || n > o.max {
				return out, fmt.Errorf("nfs option %s=%q: want a number from %d to %d", o.name, v, o.min, o.max)
			}
			*o.dst = n
		}
	}
	create, err := transports.Options{Params: p}.Create(u)
	if err != nil {
		return out, fmt.Errorf("nfs option %w", err)
	}
	out.create = create
	if ps := u.Port(); ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil {
			return out, fmt.Errorf("nfs URL %s: bad port", u.Redacted())
		}
		out.nfsPort = n
		out.explicitPorts = true
	}
	return out, nil
}

// run runs a blocking library call, giving up when ctx ends (the library's
// calls take no context).
func run[T any](ctx context.Context, f func() (T, error)) (T, error) {
	return transports.Await(ctx, f, nil)
}

// Open mounts the export named by u's path.
func Open(ctx context.Context, u *url.URL, opts transports.Options) (*Transport, error) {
	pr, err := parseParams(u, opts.Params)
	if err != nil {
		return nil, err
	}
	host := u.Hostname()
	if host == "" {
		return nil, fmt.Errorf("nfs URL %s: no host (want nfs://host[:port]/export/path)", u.Redacted())
	}
	clean := strings.Trim(path.Clean("/"+u.Path), "/")
	if clean == "" {
		return nil, fmt.Errorf("nfs URL %s: no export path (want nfs://host[:port]/export/path)", u.Redacted())
	}
	t := &Transport{host: host, nfsAddr: net.JoinHostPort(host, strconv.Itoa(pr.nfsPort)), inflight: pr.inflight, chunk: pr.chunk}
	cu := &url.URL{Scheme: "nfs", Host: u.Host, Path: "/" + clean, RawQuery: u.RawQuery}
	t.url = cu.String()

	hostname, _ := os.Hostname()
	au := rpc.NewAuthUnix(hostname, uint32(pr.uid), uint32(pr.gid))
	auth := au.Auth()
	t.auth, t.credBody = auth, auth.Body

	// MOUNT service
	mountPort := pr.mountPort
	if mountPort == 0 {
		mountPort, err = run(ctx, func() (int, error) {
			pm, err := rpc.DialPortmapper("tcp", host)
			if err != nil {
				return 0, err
			}
			defer pm.Close()
			return pm.Getport(rpc.Mapping{Prog: nfsc.MountProg, Vers: nfsc.MountVers, Prot: rpc.IPProtoTCP})
		})
		if err != nil || mountPort == 0 {
			if !pr.explicitPorts {
				return nil, fmt.Errorf("nfs %s: no MOUNT service found through the portmapper on port 111 (%v): give ?mountport=N", host, err)
			}
			mountPort = pr.nfsPort // go-nfs style: MOUNT on the NFS port
		}
	}
	mc, err := run(ctx, func() (*rpc.Client, error) { return nfsc.DialServiceAtPort(host, mountPort) })
	if err != nil {
		return nil, fmt.Errorf("nfs %s: connect to MOUNT on port %d: %w", host, mountPort, err)
	}
	defer mc.Close()

	// The export is the longest leading part of the path the server mounts.
	parts := strings.Split(clean, "/")
	var fh []byte
	var tried []string
	for i := len(parts); i > 0; i-- {
		exp := "/" + strings.Join(parts[:i], "/")
		tried = append(tried, exp)
		fh, err = run(ctx, func() ([]byte, error) { return mnt(mc, exp, auth) })
		if err == nil {
			t.export = exp
			t.root = strings.Join(parts[i:], "/")
			break
		}
		if !errors.Is(err, errMountRefused) {
			return nil, fmt.Errorf("nfs %s: mount %s: %w", host, exp, err)
		}
	}
	if t.export == "" {
		exports, xerr := run(ctx, func() ([]string, error) { return exportList(mc) })
		for _, e := range exports {
			for _, tr := range tried {
				if path.Clean(e) == tr {
					return nil, fmt.Errorf("nfs %s: the server exports %s but refuses to mount it for this client (uid %d, gid %d): %w: %v", host, tr, pr.uid, pr.gid, transports.ErrAuth, err)
				}
			}
		}
		list := "the server did not list its exports"
		if xerr == nil {
			list = "the server exports: " + strings.Join(exports, ", ")
		}
		return nil, fmt.Errorf("nfs %s: the server has no export matching %s (tried %s; %s): %w", host, "/"+clean, strings.Join(tried, ", "), list, fs.ErrNotExist)
	}
	nc, err := run(ctx, func() (*rpc.Client, error) { return nfsc.DialServiceAtPort(host, pr.nfsPort) })
	if err != nil {
		return nil, fmt.Errorf("nfs %s: connect to NFS on port %d: %w", host, pr.nfsPort, err)
	}
	v, err := run(ctx, func() (*nfsc.Target, error) { return nfsc.NewTargetWithClient(nc, auth, fh, t.export, 0) })
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nfs %s: export %s: %w", host, t.export, err)
	}
	t.v = v
	fsi, err := run(ctx, v.FSInfo)
	if err != nil {
		v.Close()
		return nil, fmt.Errorf("nfs %s: FSINFO: %w", host, err)
	}
	if w := int(fsi.WTMax); t.chunk == 0 || (w > 0 && t.chunk > w) {
		t.chunk = min(w, maxChunk)
		if t.chunk <= 0 {
			t.chunk = 64 << 10
		}
	}
	t.rchunk = min(int(fsi.RTMax), maxChunk)
	if t.rchunk <= 0 {
		t.rchunk = 64 << 10
	}
	if t.root != "" {
		fi, _, err := run2(ctx, v, t.root)
		if errors.Is(err, os.ErrNotExist) {
			if !pr.create {
				v.Close()
				return nil, fmt.Errorf("nfs %s: export %s: %w", host, t.export, transports.MissingFolder(t.root))
			}
			if err := t.MkdirAll(ctx, ""); err != nil {
				v.Close()
				return nil, err
			}
			fi, _, err = run2(ctx, v, t.root)
		}
		if err != nil {
			v.Close()
			return nil, t.wrap("open folder", "", err)
		}
		if !fi.IsDir() {
			v.Close()
			return nil, fmt.Errorf("nfs %s: %s in export %s is not a directory", host, t.root, t.export)
		}
	}
	return t, nil
}

func run2(ctx context.Context, v *nfsc.Target, p string) (os.FileInfo, []byte, error) {
	type r struct {
		fi os.FileInfo
		fh []byte
	}
	x, err := run(ctx, func() (r, error) { fi, fh, err := v.Lookup(p); return r{fi, fh}, err })
	return x.fi, x.fh, err
}

var errMountRefused = errors.New("mount refused")

// mnt is MOUNTPROC3_MNT.
func mnt(c *rpc.Client, dirpath string, auth rpc.Auth) ([]byte, error) {
	type mount struct {
		rpc.Header
		Dirpath string
	}
	res, err := c.Call(&mount{rpc.Header{Rpcvers: 2, Prog: nfsc.MountProg, Vers: nfsc.MountVers, Proc: nfsc.MountProc3MNT, Cred: auth, Verf: rpc.AuthNull}, dirpath})
	if err != nil {
		return nil, err
	}
	st, err := xdr.ReadUint32(res)
	if err != nil {
		return nil, err
	}
	switch st {
	case nfsc.MNT3Ok:
		return xdr.ReadOpaque(res)
	case nfsc.MNT3ErrNoEnt, nfsc.MNT3ErrNotDir, nfsc.MNT3ErrInval:
		return nil, fmt.Errorf("%w (MNT status %d)", errMountRefused, st)
	case nfsc.MNT3ErrAcces, nfsc.MNT3ErrPerm:
		// ganesha also answers ACCES for a path it does not export
		return nil, fmt.Errorf("%w (MNT3ERR_ACCES/PERM)", errMountRefused)
	}
	return nil, fmt.Errorf("mount status %d", st)
}

// exportList is MOUNTPROC3_EXPORT: the export paths.
func exportList(c *rpc.Client) ([]string, error) {
	res, err := c.Call(&rpc.Header{Rpcvers: 2, Prog: nfsc.MountProg, Vers: nfsc.MountVers, Proc: nfsc.MountProc3Export, Cred: rpc.AuthNull, Verf: rpc.AuthNull})
	if err != nil {
		return nil, err
	}
	var out []string
	for {
		more, err := xdr.ReadUint32(res)
		if err != nil {
			return out, err
		}
		if more == 0 {
			return out, nil
		}
		dir, err := xdr.ReadOpaque(res)
		if err != nil {
			return out, err
		}
		out = append(out, string(dir))
		for { // groups
			g, err := xdr.ReadUint32(res)
			if err != nil {
				return out, err
			}
			if g == 0 {
				break
			}
			if _, err := xdr.ReadOpaque(res); err != nil {
				return out, err
			}
		}
	}
}

// URL is the URL the transport was opened with.
func (t *Transport) URL() string { return t.url }

func (t *Transport) full(p string) (string, error) {
	c, err := transports.CleanPath(p)
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(path.Join(t.root, c), "/"), nil
}

func (t *Transport) wrap(op, p string, err error) error {
	if err == nil {
		return nil
	}
	if kind := statusKind(err); kind != nil {
		return fmt.Errorf("nfs %s:%s: %s %s: %w (%w)", t.host, t.export, op, p, kind, err)
	}
	return fmt.Errorf("nfs %s:%s: %s %s: %w", t.host, t.export, op, p, err)
}

// statusKind maps an NFS3ERR status the library leaves as a bare
// *nfsc.Error onto what transports.Classify knows (NOENT, EXIST and PERM
// it already turns into fs errors), or nil.
func statusKind(err error) error {
	var ne *nfsc.Error
	if !errors.As(err, &ne) {
		return nil
	}
	switch ne.ErrorNum {
	case nfsc.NFS3ErrNoSpc, nfsc.NFS3ErrDQuot:
		return transports.ErrNoSpace
	case nfsc.NFS3ErrAcces:
		return fs.ErrPermission
	case nfsc.NFS3ErrROFS:
		return syscall.EROFS
	case nfsc.NFS3ErrIsDir:
		return syscall.EISDIR
	case nfsc.NFS3ErrNotDir:
		return syscall.ENOTDIR
	case nfsc.NFS3ErrNameTooLong:
		return transports.ErrInvalidName
	case nfsc.NFS3ErrNotEmpty:
		return syscall.ENOTEMPTY
	}
	return nil
}

// typeKind names an NFS file type that is not a regular file, for
// transports.NotRegular; "" for a regular file.
func typeKind(fi os.FileInfo) string {
	fa, ok := fi.(*nfsc.Fattr)
	if !ok {
		if fi.IsDir() {
			return "a directory"
		}
		return ""
	}
	switch fa.Type {
	case nfsc.NF3Reg:
		return ""
	case nfsc.NF3Dir:
		return "a directory"
	case nfsc.NF3FIFO:
		return "a named pipe (FIFO)"
	case nfsc.NF3Sock:
		return "a socket"
	case nfsc.NF3Blk, nfsc.NF3Chr:
		return "a device"
	case nfsc.NF3Lnk:
		return "a symbolic link"
	}
	return "a special file"
}

func info(name string, fi os.FileInfo) transports.FileInfo {
	out := transports.FileInfo{Name: name, ModTime: fi.ModTime(), IsDir: fi.IsDir()}
	if !out.IsDir {
		out.Size = fi.Size()
	}
	return out
}

// Stat describes one path.
func (t *Transport) Stat(ctx context.Context, p string) (transports.FileInfo, error) {
	f, err := t.full(p)
	if err != nil {
		return transports.FileInfo{}, err
	}
	fi, _, err := run2(ctx, t.v, f)
	if err != nil {
		return transports.FileInfo{}, t.wrap("stat", p, err)
	}
	name := path.Base(f)
	if f == "" {
		name = ""
	}
	return info(name, fi), nil
}

// List returns a directory's entries (READDIRPLUS).
func (t *Transport) List(ctx context.Context, p string) ([]transports.FileInfo, error) {
	f, err := t.full(p)
	if err != nil {
		return nil, err
	}
	if f == "" {
		f = "."
	}
	es, err := run(ctx, func() ([]*nfsc.EntryPlus, error) { return t.v.ReadDirPlus(f) })
	if err != nil {
		return nil, t.wrap("list", p, err)
	}
	out := make([]transports.FileInfo, 0, len(es))
	for _, e := range es {
		if e.FileName == "." || e.FileName == ".." {
			continue
		}
		out = append(out, info(e.FileName, e))
	}
	return out, nil
}

// MkdirAll creates a directory and its parents.
func (t *Transport) MkdirAll(ctx context.Context, p string) error {
	f, err := t.full(p)
	if err != nil {
		return err
	}
	if f == "" {
		return nil
	}
	parts := strings.Split(f, "/")
	for i := range parts {
		d := strings.Join(parts[:i+1], "/")
		fi, _, err := run2(ctx, t.v, d)
		if err == nil {
			if !fi.IsDir() {
				return t.wrap("mkdir", p, fmt.Errorf("%s is a file", d))
			}
			continue
		}
		if !errors.Is(err, os.ErrNotExist) {
			return t.wrap("mkdir", p, err)
		}
		if _, err := run(ctx, func() ([]byte, error) { return t.v.Mkdir(d, 0o755) }); err != nil && !errors.Is(err, os.ErrExist) {
			return t.wrap("mkdir", p, err)
		}
	}
	return nil
}

// Rename moves from onto to; NFS RENAME replaces an existing file.
func (t *Transport) Rename(ctx context.Context, from, to string) error {
	a, err := t.full(from)
	if err != nil {
		return err
	}
	b, err := t.full(to)
	if err != nil {
		return err
	}
	_, err = run(ctx, func() (struct{}, error) { return struct{}{}, t.v.Rename(a, b) })
	return t.wrap("rename", from+" to "+to, err)
}

// Remove deletes a file or an empty directory.
func (t *Transport) Remove(ctx context.Context, p string) error {
	f, err := t.full(p)
	if err != nil {
		return err
	}
	if f == "" {
		return fmt.Errorf("nfs remove: refusing to remove the transport's root")
	}
	fi, _, err := run2(ctx, t.v, f)
	if err != nil {
		return t.wrap("remove", p, err)
	}
	_, err = run(ctx, func() (struct{}, error) {
		if fi.IsDir() {
			return struct{}{}, t.v.RmDir(f)
		}
		return struct{}{}, t.v.Remove(f)
	})
	return t.wrap("remove", p, err)
}

// Open reads p from offset on.
func (t *Transport) Open(ctx context.Context, p string, offset int64) (io.ReadCloser, error) {
	f, err := t.full(p)
	if err != nil {
		return nil, err
	}
	fi, fh, err := run2(ctx, t.v, f)
	if err != nil {
		return nil, t.wrap("open", p, err)
	}
	if k := typeKind(fi); k != "" {
		// a FIFO would read as an empty file, a device as whatever the
		// server makes of it: neither is a backup's file
		return nil, t.wrap("open", p, transports.NotRegular(p, k))
	}
	return t.openPipelined(ctx, p, fh, offset, fi.Size())
}

// Close unmounts (drops the connection).
func (t *Transport) Close() error {
	t.closeOnce.Do(func() { t.v.Close() })
	return nil
}
