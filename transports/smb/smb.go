package smb

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
	"syscall"
	"time"

	smb2 "github.com/cloudsoda/go-smb2"

	"github.com/vmlua/vmlua/transports"
)

const (
	defaultPort     = "445" // SMB over TCP
	defaultChunk    = 1 << 20
	defaultInflight = 4
	maxChunk        = 8 << 20
	maxInflight     = 16
)

func init() {
	transports.Register(transports.Scheme{
		Name:        "smb",
		Aliases:     []string{"cifs"},
		DefaultPort: defaultPort,
		URLForm:     "smb://[domain;]user@host[:port]/share/path",
		Help: "SMB 2/3 file share (Samba, Windows, NAS). The password comes from the named credentials; " +
			"signing and encryption are used when the server requires them. Uploads keep several writes in flight.",
		Exclusive: "a guard folder made with SMB's create-new disposition (FILE_CREATE), which the server refuses (STATUS_OBJECT_NAME_COLLISION) when anything is there: " +
			"the run that makes `.<name>.vmlua-guard` renames the lock's complete content (written under a temporary name) onto its name if nothing is there, then removes the guard. " +
			"Not FILE_CREATE on the lock itself: such a file is empty until its bytes arrive, and SMB's rename always replaces. A guard a crash left is removed after 5 minutes.",
		Options: []transports.Option{
			{Name: "chunk", Default: strconv.Itoa(defaultChunk), Help: "bytes per SMB write request of an upload"},
			{Name: "inflight", Default: strconv.Itoa(defaultInflight), Help: "concurrent write requests per upload"},
			transports.CreateOption,
			transports.BwlimitOption,
		},
		Open: func(ctx context.Context, u *url.URL, opts transports.Options) (transports.Transport, error) {
			return Open(ctx, u, opts)
		},
	})
}

// Transport is an open SMB share, rooted at a folder inside it.
type Transport struct {
	url      string
	addr     string
	shareNm  string
	root     string // inside the share, slash-separated, "" for the share's root
	sess     *smb2.Session
	share    *smb2.Share
	chunk    int
	inflight int

	closeOnce sync.Once
	closeErr  error
}

var (
	_ transports.Transport        = (*Transport)(nil)
	_ transports.ExclusiveCreator = (*Transport)(nil)
)

// Open connects, authenticates and mounts the share named in u.
func Open(ctx context.Context, u *url.URL, opts transports.Options) (*Transport, error) {
	t := &Transport{chunk: defaultChunk, inflight: defaultInflight}
	if err := t.params(u, opts.Params); err != nil {
		return nil, err
	}
	create, err := opts.Create(u)
	if err != nil {
		return nil, fmt.Errorf("smb URL %s: %w", u.Redacted(), err)
	}
	host := u.Hostname()
	if host == "" {
		return nil, fmt.Errorf("smb URL %s: no host (want %s)", u.Redacted(), "smb://[domain;]user@host[:port]/share/path")
	}
	port := u.Port()
	if port == "" {
		port = defaultPort
	}
	t.addr = net.JoinHostPort(host, port)
	p := strings.Trim(u.Path, "/")
	if p == "" {
		return nil, fmt.Errorf("smb URL %s: no share name (want smb://[domain;]user@host[:port]/share/path)", u.Redacted())
	}
	t.shareNm, t.root, _ = strings.Cut(p, "/")
	root, err := transports.CleanPath(t.root)
	if err != nil {
		return nil, fmt.Errorf("smb URL %s: %w", u.Redacted(), err)
	}
	t.root = root

	user, domain := opts.Credentials.User, opts.Credentials.Domain
	if u.User != nil && u.User.Username() != "" {
		user = u.User.Username()
		if d, un, ok := strings.Cut(user, ";"); ok {
			domain, user = d, un
		}
	}
	if user == "" {
		return nil, fmt.Errorf("smb URL %s: no user name: put it in the URL (smb://user@host/share) or in the named credentials", u.Redacted())
	}
	clean := &url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	ui := user
	if domain != "" {
		ui = domain + ";" + user
	}
	clean.User = url.User(ui)
	t.url = clean.String()

	d := &smb2.Dialer{Initiator: &smb2.NTLMInitiator{User: user, Password: opts.Credentials.Password, Domain: domain}}
	sess, err := d.Dial(ctx, t.addr)
	if err != nil {
		if isAuth(err) {
			return nil, fmt.Errorf("smb %s: log on as %q: %w (check the user, domain and password of credentials %q)", t.addr, ui, transports.ErrAuth, opts.Credentials.Name)
		}
		return nil, fmt.Errorf("smb %s: connect: %w", t.addr, err)
	}
	share, err := sess.WithContext(ctx).Mount(t.shareNm)
	if err != nil {
		_ = sess.Logoff()
		var re *smb2.ResponseError
		switch {
		case errors.As(err, &re) && re.Code == statusBadNetworkName:
			return nil, fmt.Errorf("smb %s: share %q does not exist on the server (check the first path element of the URL): %w", t.addr, t.shareNm, fs.ErrNotExist)
		case errors.As(err, &re) && (re.Code == statusAccessDenied || re.Code == statusNetworkAccessDenied):
			return nil, fmt.Errorf("smb %s: user %q may not use share %q: %w", t.addr, ui, t.shareNm, transports.ErrAuth)
		}
		return nil, fmt.Errorf("smb %s: mount share %q: %w", t.addr, t.shareNm, err)
	}
	t.sess, t.share = sess, share
	if err := t.checkRoot(ctx, create); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// checkRoot makes sure the URL's folder is there: made (with the folders
// above it) when create, else refused when missing.
func (t *Transport) checkRoot(ctx context.Context, create bool) error {
	if t.root == "" {
		return nil
	}
	fi, err := t.sh(ctx).Stat(t.root)
	if errors.Is(err, fs.ErrNotExist) {
		if !create {
			return fmt.Errorf("smb %s: share %s: %w", t.addr, t.shareNm, transports.MissingFolder(t.root))
		}
		if err := t.sh(ctx).MkdirAll(t.root, 0o755); err != nil {
			return t.wrap("make the folder", t.root, err)
		}
		fi, err = t.sh(ctx).Stat(t.root)
	}
	if err != nil {
		return t.wrap("open folder", t.root, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("smb %s: share %s: %s is a file, not a folder", t.addr, t.shareNm, t.root)
	}
	return nil
}

// NT status codes (MS-ERREF) this package maps to vmlua errors.
const (
	statusAccessDenied        = 0xC0000022
	statusLogonFailure        = 0xC000006D
	statusAccountRestriction  = 0xC000006E
	statusPasswordExpired     = 0xC0000071
	statusAccountDisabled     = 0xC0000072
	statusWrongPassword       = 0xC000006A
	statusNoSuchUser          = 0xC0000064
	statusAccountLockedOut    = 0xC0000234
	statusDiskFull            = 0xC000007F
	statusQuotaExceeded       = 0xC0000044
	statusNetworkAccessDenied = 0xC00000CA
	statusBadNetworkName      = 0xC00000CC
	statusObjectNameCollision = 0xC0000035
	statusObjectNameInvalid   = 0xC0000033
	statusNameTooLong         = 0xC0000106
	statusFileIsADirectory    = 0xC00000BA
	statusNotADirectory       = 0xC0000103
	statusDirectoryNotEmpty   = 0xC0000101
	statusMediaWriteProtected = 0xC00000A2
	statusObjectPathInvalid   = 0xC0000039
)

func isAuth(err error) bool {
	var re *smb2.ResponseError
	if errors.As(err, &re) {
		switch re.Code {
		case statusLogonFailure, statusAccountRestriction, statusPasswordExpired, statusAccountDisabled,
			statusWrongPassword, statusNoSuchUser, statusAccountLockedOut, statusAccessDenied:
			return true
		}
	}
	return false
}

func (t *Transport) params(u *url.URL, p map[string]string) error {
	get := func(k string) string { return transports.Options{Params: p}.Param(u, k) }
	for _, o := range []struct {
		name string
		dst  *int
		max  int
	}{{"chunk", &t.chunk, maxChunk}, {"inflight", &t.inflight, maxInflight}} {
		if v := get(o.name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > o.max {
				return fmt.Errorf("smb option %s=%q: want a number from 1 to %d", o.name, v, o.max)
			}
			*o.dst = n
		}
	}
	return nil
}

// URL is the URL without any secret.
func (t *Transport) URL() string { return t.url }

// full maps a transport path to a share path (no leading separator).
func (t *Transport) full(p string) (string, error) {
	c, err := transports.CleanPath(p)
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(path.Join(t.root, c), "/"), nil
}

func (t *Transport) sh(ctx context.Context) *smb2.Share { return t.share.WithContext(ctx) }

// wrap adds context and maps NT status codes onto vmlua's error kinds.
func (t *Transport) wrap(op, p string, err error) error {
	if err == nil {
		return nil
	}
	var re *smb2.ResponseError
	if errors.As(err, &re) {
		var kind error
		switch re.Code {
		case statusDiskFull, statusQuotaExceeded:
			return fmt.Errorf("smb %s %s: %w: %v", op, p, transports.ErrNoSpace, err)
		case statusObjectNameInvalid, statusNameTooLong, statusObjectPathInvalid:
			kind = transports.ErrInvalidName
		case statusFileIsADirectory:
			kind = syscall.EISDIR
		case statusNotADirectory:
			kind = syscall.ENOTDIR
		case statusDirectoryNotEmpty:
			kind = syscall.ENOTEMPTY
		case statusMediaWriteProtected:
			kind = syscall.EROFS
		}
		if kind != nil {
			return fmt.Errorf("smb //%s/%s: %s %s: %w (%w)", t.addr, t.shareNm, op, p, kind, err)
		}
	}
	return fmt.Errorf("smb //%s/%s: %s %s: %w", t.addr, t.shareNm, op, p, err)
}

func fileInfo(fi os.FileInfo) transports.FileInfo {
	out := transports.FileInfo{Name: fi.Name(), ModTime: fi.ModTime(), IsDir: fi.IsDir()}
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
	fi, err := t.sh(ctx).Stat(f)
	if err != nil {
		return transports.FileInfo{}, t.wrap("stat", p, err)
	}
	out := fileInfo(fi)
	out.Name = path.Base("/" + f)
	if f == "" {
		out.Name = ""
	}
	return out, nil
}

// List returns a directory's entries.
func (t *Transport) List(ctx context.Context, p string) ([]transports.FileInfo, error) {
	f, err := t.full(p)
	if err != nil {
		return nil, err
	}
	fis, err := t.sh(ctx).ReadDir(f)
	if err != nil {
		return nil, t.wrap("list", p, err)
	}
	out := make([]transports.FileInfo, 0, len(fis))
	for _, fi := range fis {
		if fi.Name() == "." || fi.Name() == ".." {
			continue
		}
		out = append(out, fileInfo(fi))
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
	return t.wrap("mkdir", p, t.sh(ctx).MkdirAll(f, 0o755))
}

// Rename moves from onto to, replacing a file at to.
func (t *Transport) Rename(ctx context.Context, from, to string) error {
	a, err := t.full(from)
	if err != nil {
		return err
	}
	b, err := t.full(to)
	if err != nil {
		return err
	}
	return t.wrap("rename", from+" to "+to, t.sh(ctx).Rename(a, b))
}

// Remove deletes a file or an empty directory.
func (t *Transport) Remove(ctx context.Context, p string) error {
	f, err := t.full(p)
	if err != nil {
		return err
	}
	if f == "" {
		return fmt.Errorf("smb remove: refusing to remove the transport's root")
	}
	return t.wrap("remove", p, t.sh(ctx).Remove(f))
}

// Open reads p from offset on.
func (t *Transport) Open(ctx context.Context, p string, offset int64) (io.ReadCloser, error) {
	f, err := t.full(p)
	if err != nil {
		return nil, err
	}
	fh, err := t.sh(ctx).Open(f)
	if err != nil {
		return nil, t.wrap("open", p, err)
	}
	// A directory opens (SMB opens both with one CREATE); refuse it here,
	// not at the first read. (Samba opens a named pipe or device too, and
	// refuses to read it: "permission denied", at once.)
	if fi, err := fh.Stat(); err != nil || fi.IsDir() {
		fh.Close()
		if err == nil {
			err = transports.NotRegular(p, "a directory")
		}
		return nil, t.wrap("open", p, err)
	}
	if offset != 0 {
		if _, err := fh.Seek(offset, io.SeekStart); err != nil {
			fh.Close()
			return nil, t.wrap("seek", p, err)
		}
	}
	return &reader{f: fh, t: t, p: p}, nil
}

type reader struct {
	f    *smb2.File
	t    *Transport
	p    string
	read bool // some bytes were read
}

func (r *reader) Read(b []byte) (int, error) {
	n, err := r.f.Read(b)
	if err != nil && err != io.EOF {
		if errors.Is(err, fs.ErrPermission) && !r.read {
			// Samba shows a named pipe or a device as a file and opens
			// it, then refuses every read
			err = fmt.Errorf("the server opened the file but refuses to read it (Samba does so for a named pipe or a device, which a share shows as a file): %w", err)
		}
		err = r.t.wrap("read", r.p, err)
	}
	r.read = r.read || n > 0
	return n, err
}

func (r *reader) Close() error { return r.f.Close() }

// Create opens p for writing (truncating it) and returns a Writer with
// several writes in flight.
func (t *Transport) Create(ctx context.Context, p string) (transports.Writer, error) {
	f, err := t.full(p)
	if err != nil {
		return nil, err
	}
	if f == "" {
		return nil, fmt.Errorf("smb create: the transport's root is a directory")
	}
	// The file's requests run under a context the caller's cancellation
	// does not cut at once, so that Abort can still close the handle and
	// remove the file (Samba refuses to delete a file with an open handle);
	// a hung server is cut cleanupTimeout after the cancellation.
	fctx, fcancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(cleanupTimeout, fcancel) })
	fsh := t.share.WithContext(fctx)
	fh, err := fsh.Create(f)
	if err != nil {
		stop()
		fcancel()
		return nil, t.wrap("create", p, err)
	}
	w := newParallelWriter(ctx, fh, t.chunk, t.inflight, func(err error) error { return t.wrap("write", p, err) })
	w.finish = func(abort bool) error {
		defer fcancel()
		defer stop()
		cerr := fh.Close()
		if abort {
			_ = fsh.Remove(f)
			return nil
		}
		return t.wrap("close", p, cerr)
	}
	return w, nil
}

// Close unmounts the share and logs off. Safe to call more than once.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = t.share.WithContext(ctx).Umount()
		t.closeErr = t.sess.WithContext(ctx).Logoff()
	})
	return t.closeErr
}

// CreateExclusive implements transports.ExclusiveCreator with a guard
// folder (transports.CreateExclusiveGuarded): SMB's CREATE with the
// FILE_CREATE disposition makes a folder only where nothing is.
func (t *Transport) CreateExclusive(ctx context.Context, p string, data []byte) error {
	return transports.CreateExclusiveGuarded(ctx, t, p, data, t.mkdirExcl)
}

// mkdirExcl makes one folder (FILE_CREATE); an existing one is fs.ErrExist.
func (t *Transport) mkdirExcl(ctx context.Context, p string) error {
	f, err := t.full(p)
	if err != nil {
		return err
	}
	return t.wrap("mkdir", p, t.sh(ctx).Mkdir(f, 0o755))
}
