package vmfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vmlua/vmlua/internal/datastore"
	"github.com/vmlua/vmlua/internal/taskwait"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// ErrNoVSphere: the run has no vSphere session for vmfs:// to use.
var ErrNoVSphere = errors.New("vmfs:// needs a vSphere connection: open a VM first or give --url")

func init() {
	transports.Register(transports.Scheme{
		Name:    "vmfs",
		URLForm: "vmfs://datastore/path (also vmfs://[datastore] path)",
		Help: "A folder on a datastore of the connected vSphere (vCenter or ESXi), reached through the run's own session: " +
			"files move through the datastore's HTTP interface (/folder), folders through the FileManager, listings through the datastore browser. " +
			"No credentials are needed: open a VM first (vm.open), or give the run a vSphere --url. " +
			"When v:export writes to a vmfs:// folder of the same vSphere, the disk is copied on the server (CopyVirtualDisk, the book's " +
			"`vmkfstools -e ... -d vmfs`) instead of being streamed through vmlua. Paths cannot leave the URL's folder.",
		Exclusive: "a guard folder made with FileManager.MakeDirectory without its parents, which fails (FileAlreadyExists) when anything is there — mkdir on the host, atomic: " +
			"the run that makes `.<name>.vmlua-guard` renames the lock's complete content (uploaded under a temporary name) onto its name if nothing is there, then removes the guard. " +
			"Not MoveDatastoreFile without force: the API does not say it is atomic (the simulator checks, then renames). A guard a crash left is removed after 5 minutes.",
		Options: []transports.Option{
			{Name: "datacenter", Help: "the datacenter (name or inventory path) whose datastore is meant, when several datacenters have a datastore of that name; default: the first that has one"},
			transports.CreateOption,
			transports.BwlimitOption,
		},
		Open: open,
		// Only the bracketed form needs a parser of its own; the host form
		// is a plain URL.
		ParseURL: func(raw string) (*url.URL, error) {
			if _, _, ok := cutBracket(raw); !ok {
				return url.Parse(raw)
			}
			// The query (create=, datacenter=) follows the path.
			head, query, _ := strings.Cut(raw, "?")
			ds, _, err := ParseURL(head)
			if err != nil {
				return nil, err
			}
			// The path as written: Open cleans it, and grants refuse a
			// ".." in it rather than resolve it.
			_, rest, _ := cutBracket(head)
			return &url.URL{Scheme: "vmfs", Host: ds, Path: "/" + strings.TrimSpace(rest), RawQuery: query}, nil
		},
		// A datastore whose name is no URL host is written bracketed.
		FormatURL: func(u *url.URL) string {
			if u.User != nil || hostSafe(u.Host) {
				return u.String()
			}
			s := FormatURL(u.Host, strings.TrimPrefix(u.Path, "/"))
			if u.RawQuery != "" {
				s += "?" + u.RawQuery
			}
			return s
		},
	})
}

func open(ctx context.Context, u *url.URL, opts transports.Options) (transports.Transport, error) {
	ds, dir, err := fromURL(u)
	if err != nil {
		return nil, err
	}
	create := true
	if v := opts.Param(u, "create"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("vmfs URL %s: create=%q: want true or false", u.Redacted(), v)
		}
		create = b
	}
	c, err := clientFrom(opts.Env)
	if err != nil {
		return nil, err
	}
	t, err := New(ctx, c, ds, dir, opts.Param(u, "datacenter"))
	if err != nil {
		return nil, err
	}
	if create {
		if err := t.MkdirAll(ctx, ""); err != nil {
			return nil, err
		}
	} else if fi, err := t.Stat(ctx, ""); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", t.URL(), transports.MissingFolder(t.ds.Path(t.root)))
		}
		return nil, fmt.Errorf("%s: %w", t.URL(), err)
	} else if !fi.IsDir {
		return nil, fmt.Errorf("%s: %s is a file, not a folder", t.URL(), t.ds.Path(t.root))
	}
	return t, nil
}

// clientFrom finds the run's vSphere client in Options.Env["vsphere"].
func clientFrom(env map[string]any) (*vim25.Client, error) {
	switch c := env[transports.EnvVSphere].(type) {
	case *vim25.Client:
		if c != nil {
			return c, nil
		}
	case interface{ VimClient() *vim25.Client }:
		if vc := c.VimClient(); vc != nil {
			return vc, nil
		}
	}
	return nil, ErrNoVSphere
}

// Transport is a folder on a datastore.
type Transport struct {
	c    *vim25.Client
	ds   *object.Datastore
	dc   *object.Datacenter
	fm   *object.FileManager
	vdm  *object.VirtualDiskManager
	name string // datastore name
	root string // folder inside the datastore; "" for its root
}

var (
	_ transports.Transport        = (*Transport)(nil)
	_ transports.ExclusiveCreator = (*Transport)(nil)
	_ transports.SpaceReporter    = (*Transport)(nil)
)

// New returns a transport rooted at dir (relative, clean) on the named
// datastore of c. datacenter, when not "", selects the datacenter.
func New(ctx context.Context, c *vim25.Client, datastore, dir, datacenter string) (*Transport, error) {
	if c == nil {
		return nil, ErrNoVSphere
	}
	root, err := transports.CleanPath(dir)
	if err != nil {
		return nil, err
	}
	ds, dc, err := findDatastore(ctx, c, datastore, datacenter)
	if err != nil {
		return nil, err
	}
	return &Transport{c: c, ds: ds, dc: dc, fm: object.NewFileManager(c), vdm: object.NewVirtualDiskManager(c), name: datastore, root: root}, nil
}

func findDatastore(ctx context.Context, c *vim25.Client, name, datacenter string) (*object.Datastore, *object.Datacenter, error) {
	ds, dc, err := datastore.InDatacenters(ctx, c, name, datacenter)
	if err != nil {
		return nil, nil, fmt.Errorf("vmfs: %w", err)
	}
	return ds, dc, nil
}

// URL implements transports.Transport.
func (t *Transport) URL() string { return FormatURL(t.name, t.root) }

// Close implements transports.Transport. The vSphere session belongs to
// the run, so there is nothing to release.
func (t *Transport) Close() error { return nil }

// Client is the vSphere client the transport uses.
func (t *Transport) Client() *vim25.Client { return t.c }

// rel turns a transport path into a path inside the datastore.
func (t *Transport) rel(p string) (string, error) {
	c, err := transports.CleanPath(p)
	if err != nil {
		return "", err
	}
	return path.Join(t.root, c), nil
}

// DatastorePath returns "[datastore] folder/p" for a transport path.
func (t *Transport) DatastorePath(p string) (string, error) {
	r, err := t.rel(p)
	if err != nil {
		return "", err
	}
	return t.ds.Path(r), nil
}

func (t *Transport) wrap(op, p string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %s on %s: %w", op, p, t.URL(), mapErr(err))
}

// mapErr maps vSphere faults onto the transport sentinels.
func mapErr(err error) error {
	var nsf object.DatastoreNoSuchFileError
	var nsd object.DatastoreNoSuchDirectoryError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return err
	case types.IsFileNotFound(err), errors.As(err, &nsf), errors.As(err, &nsd):
		return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	case isFault[*types.NoDiskSpace](err), isFault[*types.InsufficientStorageSpace](err), isFault[*types.FileTooLarge](err):
		return fmt.Errorf("%w: %w", transports.ErrNoSpace, err)
	case isFault[*types.NotAuthenticated](err), isFault[*types.NoPermission](err), isFault[*types.InvalidLogin](err):
		return fmt.Errorf("%w: %w", transports.ErrAuth, err)
	case isFault[*types.FileAlreadyExists](err):
		return fmt.Errorf("%w: %w", fs.ErrExist, err)
	case isFault[*types.FileNameTooLong](err), isFault[*types.InvalidDatastorePath](err), isFault[*types.InvalidName](err):
		return fmt.Errorf("%w: %w", transports.ErrInvalidName, err)
	case isFault[*types.NotADirectory](err):
		return fmt.Errorf("%w: %w", syscall.ENOTDIR, err)
	}
	return err
}

func isFault[T types.BaseMethodFault](err error) bool {
	if !soap.IsSoapFault(err) && !soap.IsVimFault(err) {
		var te interface{ Fault() types.BaseMethodFault }
		if errors.As(err, &te) {
			return faultIs[T](te.Fault())
		}
		return false
	}
	var f any
	if soap.IsSoapFault(err) {
		f = soap.ToSoapFault(err).VimFault()
	} else {
		f = soap.ToVimFault(err)
	}
	return faultIs[T](f)
}

// faultIs reports whether f is a T (a pointer to a fault type) or the
// fault it points to: a method's SOAP fault detail decodes as a value
// (types.FileAlreadyExists), a task's error as a pointer.
func faultIs[T types.BaseMethodFault](f any) bool {
	if _, ok := f.(T); ok {
		return true
	}
	pt := reflect.TypeFor[T]()
	return f != nil && pt.Kind() == reflect.Pointer && reflect.TypeOf(f) == pt.Elem()
}

func waitTask(ctx context.Context, task *object.Task, err error) error {
	if err != nil {
		return err
	}
	_, err = taskwait.Wait(ctx, task)
	return err
}

// search lists dir (inside the datastore) with the given name pattern.
func (t *Transport) search(ctx context.Context, dir, pattern string) ([]transports.FileInfo, error) {
	b, err := t.ds.Browser(ctx)
	if err != nil {
		return nil, err
	}
	spec := types.HostDatastoreBrowserSearchSpec{
		Query:        []types.BaseFileQuery{&types.FolderFileQuery{}, &types.FileQuery{}},
		Details:      &types.FileQueryFlags{FileType: true, FileSize: true, Modification: true},
		MatchPattern: []string{pattern},
	}
	task, err := b.SearchDatastore(ctx, t.ds.Path(dir), &spec)
	if err != nil {
		return nil, err
	}
	info, err := taskwait.Wait(ctx, task)
	if err != nil {
		return nil, err
	}
	res, ok := info.Result.(types.HostDatastoreBrowserSearchResults)
	if !ok {
		return nil, fmt.Errorf("the datastore browser returned %T", info.Result)
	}
	out := make([]transports.FileInfo, 0, len(res.File))
	for _, f := range res.File {
		fi := f.GetFileInfo()
		e := transports.FileInfo{Name: path.Base(fi.Path)}
		if _, dir := f.(*types.FolderFileInfo); dir {
			e.IsDir = true
		} else {
			e.Size = fi.FileSize
		}
		if fi.Modification != nil {
			e.ModTime = *fi.Modification
		}
		out = append(out, e)
	}
	return out, nil
}

// Stat implements transports.Transport (through the datastore browser).
func (t *Transport) Stat(ctx context.Context, p string) (transports.FileInfo, error) {
	r, err := t.rel(p)
	if err != nil {
		return transports.FileInfo{}, err
	}
	if r == "" {
		return transports.FileInfo{Name: t.name, IsDir: true}, nil
	}
	dir, name := path.Split(r)
	pattern := name
	if strings.ContainsAny(name, `*?[]\`) {
		pattern = "*" // a glob character: list all and pick exactly
	}
	l, err := t.search(ctx, strings.TrimSuffix(dir, "/"), pattern)
	if err != nil {
		return transports.FileInfo{}, t.wrap("stat", p, err)
	}
	for _, e := range l {
		if e.Name == name {
			return e, nil
		}
	}
	return transports.FileInfo{}, fmt.Errorf("stat %s on %s: %w", p, t.URL(), fs.ErrNotExist)
}

// List implements transports.Transport.
func (t *Transport) List(ctx context.Context, p string) ([]transports.FileInfo, error) {
	r, err := t.rel(p)
	if err != nil {
		return nil, err
	}
	l, err := t.search(ctx, r, "*")
	return l, t.wrap("list", p, err)
}

// MkdirAll implements transports.Transport (FileManager.MakeDirectory
// with createParentDirectories).
func (t *Transport) MkdirAll(ctx context.Context, p string) error {
	r, err := t.rel(p)
	if err != nil {
		return err
	}
	if r == "" {
		return ctx.Err()
	}
	err = t.fm.MakeDirectory(ctx, t.ds.Path(r), t.dc, true)
	if err != nil && isFault[*types.FileAlreadyExists](err) {
		if fi, serr := t.Stat(ctx, p); serr == nil && fi.IsDir {
			return nil
		}
		return fmt.Errorf("mkdir %s on %s: a file of that name exists", p, t.URL())
	}
	return t.wrap("mkdir", p, err)
}

// Rename implements transports.Transport (FileManager.MoveDatastoreFile
// with force, which replaces an existing file).
func (t *Transport) Rename(ctx context.Context, from, to string) error {
	rf, err := t.rel(from)
	if err != nil {
		return err
	}
	rt, err := t.rel(to)
	if err != nil {
		return err
	}
	if rf == "" || rt == "" {
		return fmt.Errorf("rename %s to %s on %s: the transport's root cannot be renamed or replaced", from, to, t.URL())
	}
	task, err := t.fm.MoveDatastoreFile(ctx, t.ds.Path(rf), t.dc, t.ds.Path(rt), t.dc, true)
	return t.wrap("rename", from+" to "+to, waitTask(ctx, task, err))
}

// Remove implements transports.Transport. DeleteDatastoreFile removes
// folders recursively, so a folder is checked to be empty first.
func (t *Transport) Remove(ctx context.Context, p string) error {
	r, err := t.rel(p)
	if err != nil {
		return err
	}
	if r == "" {
		return fmt.Errorf("remove the transport's root %s: refused", t.URL())
	}
	fi, err := t.Stat(ctx, p)
	if err != nil {
		return err
	}
	if fi.IsDir {
		l, err := t.List(ctx, p)
		if err != nil {
			return err
		}
		if len(l) > 0 {
			return fmt.Errorf("remove %s on %s: the folder is not empty (%d entries); remove its files first", p, t.URL(), len(l))
		}
	}
	return t.delete(ctx, r, p)
}

func (t *Transport) delete(ctx context.Context, r, shown string) error {
	task, err := t.fm.DeleteDatastoreFile(ctx, t.ds.Path(r), t.dc)
	return t.wrap("remove", shown, waitTask(ctx, task, err))
}

// Open implements transports.Transport: a GET on /folder, with a Range
// header from offset on.
func (t *Transport) Open(ctx context.Context, p string, offset int64) (io.ReadCloser, error) {
	r, err := t.rel(p)
	if err != nil {
		return nil, err
	}
	if r == "" {
		return nil, fmt.Errorf("open %s on %s: %w", p, t.URL(), transports.NotRegular(p, "a directory"))
	}
	if offset < 0 {
		return nil, fmt.Errorf("open %s on %s: negative offset %d", p, t.URL(), offset)
	}
	u, ticket, err := t.ds.ServiceTicket(ctx, r, http.MethodGet)
	if err != nil {
		return nil, t.wrap("open", p, err)
	}
	param := soap.DefaultDownload
	if ticket != nil {
		param.Ticket, param.Close = ticket, true
	}
	if offset > 0 {
		param.Headers = map[string]string{"Range": fmt.Sprintf("bytes=%d-", offset)}
	}
	res, err := t.c.DownloadRequest(ctx, u, &param)
	if err != nil {
		return nil, t.wrap("open", p, err)
	}
	if res.Request != nil && res.Request.URL.Path != u.Path {
		res.Body.Close() // redirected to "dir/": a folder listing
		return nil, fmt.Errorf("open %s on %s: %w", p, t.URL(), transports.NotRegular(p, "a directory"))
	}
	switch res.StatusCode {
	case http.StatusPartialContent:
		return res.Body, nil
	case http.StatusOK:
		if offset > 0 { // the server ignored the Range: skip ourselves
			if _, err := io.CopyN(io.Discard, res.Body, offset); err != nil {
				res.Body.Close()
				if err == io.EOF {
					return io.NopCloser(strings.NewReader("")), nil
				}
				return nil, t.wrap("open", p, err)
			}
		}
		return res.Body, nil
	case http.StatusRequestedRangeNotSatisfiable:
		res.Body.Close()
		// offset at (or past) the end: nothing left to read
		if _, err := t.Stat(ctx, p); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	case http.StatusNotFound:
		res.Body.Close()
		return nil, fmt.Errorf("open %s on %s: %w", p, t.URL(), fs.ErrNotExist)
	default:
		res.Body.Close()
		return nil, fmt.Errorf("open %s on %s: the datastore answered %s", p, t.URL(), res.Status)
	}
}

// cleanupGrace is how long an upload whose caller's context ended is
// given to be aborted cleanly before its request is cancelled outright.
const cleanupGrace = 30 * time.Second

// CreateExclusive implements transports.ExclusiveCreator with a guard
// folder (transports.CreateExclusiveGuarded): FileManager.MakeDirectory
// without createParentDirectories makes a folder only where nothing is.
func (t *Transport) CreateExclusive(ctx context.Context, p string, data []byte) error {
	return transports.CreateExclusiveGuarded(ctx, t, p, data, t.mkdirExcl)
}

// mkdirExcl makes one folder; an existing one is fs.ErrExist
// (FileAlreadyExists).
func (t *Transport) mkdirExcl(ctx context.Context, p string) error {
	r, err := t.rel(p)
	if err != nil {
		return err
	}
	return t.wrap("mkdir", p, t.fm.MakeDirectory(ctx, t.ds.Path(r), t.dc, false))
}

// FreeSpace implements transports.SpaceReporter: the datastore's free
// space as vSphere reports it (summary.freeSpace, as of its last refresh;
// nothing is refreshed, so that asking changes nothing).
func (t *Transport) FreeSpace(ctx context.Context, _ string) (int64, error) {
	free, err := freeSpace(ctx, t.ds)
	if err != nil {
		return 0, t.wrap("free space of", "", err)
	}
	return free, nil
}

// FreeSpaceAt is the free space of the datastore a vmfs:// URL names,
// read without opening the URL's folder (opening creates it, or searches
// the datastore for it: a task), for vmlua doctor, which changes nothing.
func FreeSpaceAt(ctx context.Context, c *vim25.Client, rawURL string) (int64, error) {
	u, err := transports.Parse(rawURL)
	if err != nil {
		return 0, err
	}
	dsName, _, err := fromURL(u)
	if err != nil {
		return 0, err
	}
	ds, _, err := findDatastore(ctx, c, dsName, u.Query().Get("datacenter"))
	if err != nil {
		return 0, err
	}
	free, err := freeSpace(ctx, ds)
	if err != nil {
		return 0, fmt.Errorf("vmfs: free space of datastore %s: %w", dsName, err)
	}
	return free, nil
}

func freeSpace(ctx context.Context, ds *object.Datastore) (int64, error) {
	var m mo.Datastore
	if err := ds.Properties(ctx, ds.Reference(), []string{"summary.freeSpace"}, &m); err != nil {
		return 0, err
	}
	return m.Summary.FreeSpace, nil
}
