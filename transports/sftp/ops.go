package sftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"sync"

	"github.com/pkg/sftp"

	"github.com/vmlua/vmlua/transports"
)

// URL is the URL the transport was opened with, without secrets.
func (t *Transport) URL() string { return t.url }

// Root is the absolute directory on the server the transport is rooted at.
func (t *Transport) Root() string { return t.root }

// full maps a transport path to an absolute server path.
func (t *Transport) full(p string) (string, error) {
	c, err := transports.CleanPath(p)
	if err != nil {
		return "", err
	}
	return path.Join(t.root, c), nil
}

// wrap adds the operation and path to err and normalises SFTP status codes.
func (t *Transport) wrap(op, p string, err error) error {
	if err == nil {
		return nil
	}
	var se *sftp.StatusError
	if errors.As(err, &se) {
		switch se.FxCode() {
		case sftp.ErrSSHFxNoSuchFile:
			err = fmt.Errorf("%w (%s)", fs.ErrNotExist, se.Error())
		case sftp.ErrSSHFxPermissionDenied:
			err = fmt.Errorf("%w (%s)", fs.ErrPermission, se.Error())
		case sftp.ErrSSHFxOpUnsupported:
			err = transports.Permanent(fmt.Errorf("the server does not support it (%s)", se.Error()))
		}
	}
	return fmt.Errorf("sftp %s %q on %s: %w", op, p, t.url, err)
}

func ctxErr(ctx context.Context, op, p string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sftp %s %q: %w", op, p, err)
	}
	return nil
}

// Stat describes a file or directory.
func (t *Transport) Stat(ctx context.Context, p string) (transports.FileInfo, error) {
	f, err := t.full(p)
	if err != nil {
		return transports.FileInfo{}, err
	}
	if err := ctxErr(ctx, "stat", p); err != nil {
		return transports.FileInfo{}, err
	}
	fi, err := t.c.Stat(f)
	if err != nil {
		return transports.FileInfo{}, t.wrap("stat", p, err)
	}
	return info(path.Base(f), fi), nil
}

func info(name string, fi os.FileInfo) transports.FileInfo {
	out := transports.FileInfo{Name: name, ModTime: fi.ModTime(), IsDir: fi.IsDir()}
	if !fi.IsDir() {
		out.Size = fi.Size()
	}
	return out
}

// List returns a directory's entries.
func (t *Transport) List(ctx context.Context, p string) ([]transports.FileInfo, error) {
	f, err := t.full(p)
	if err != nil {
		return nil, err
	}
	fis, err := t.c.ReadDirContext(ctx, f)
	if err != nil {
		return nil, t.wrap("list", p, err)
	}
	out := make([]transports.FileInfo, 0, len(fis))
	for _, fi := range fis {
		out = append(out, info(fi.Name(), fi))
	}
	return out, nil
}

// MkdirAll creates a directory and its parents.
func (t *Transport) MkdirAll(ctx context.Context, p string) error {
	f, err := t.full(p)
	if err != nil {
		return err
	}
	if err := ctxErr(ctx, "mkdir", p); err != nil {
		return err
	}
	return t.wrap("mkdir", p, t.c.MkdirAll(f))
}

// Rename moves from onto to, replacing a file at to.
func (t *Transport) Rename(ctx context.Context, from, to string) error {
	ff, err := t.full(from)
	if err != nil {
		return err
	}
	ft, err := t.full(to)
	if err != nil {
		return err
	}
	if err := ctxErr(ctx, "rename", from); err != nil {
		return err
	}
	if t.posix {
		return t.wrap("rename", from+" to "+to, t.c.PosixRename(ff, ft))
	}
	// Plain SFTP rename refuses an existing destination (OpenSSH does):
	// remove it first. Not atomic, but the source is complete.
	if err := t.c.Rename(ff, ft); err != nil {
		if fi, serr := t.c.Stat(ft); serr == nil && !fi.IsDir() {
			if rerr := t.c.Remove(ft); rerr != nil {
				return t.wrap("rename", from+" to "+to, rerr)
			}
			err = t.c.Rename(ff, ft)
		}
		return t.wrap("rename", from+" to "+to, err)
	}
	return nil
}

// Remove deletes a file or an empty directory.
func (t *Transport) Remove(ctx context.Context, p string) error {
	f, err := t.full(p)
	if err != nil {
		return err
	}
	if err := ctxErr(ctx, "remove", p); err != nil {
		return err
	}
	if err := t.c.Remove(f); err != nil {
		if _, serr := t.c.Lstat(f); errors.Is(serr, fs.ErrNotExist) {
			return t.wrap("remove", p, serr)
		}
		return t.wrap("remove", p, err)
	}
	return nil
}

// Open reads p from offset on. The reader also implements io.WriterTo,
// which reads with many requests in flight.
func (t *Transport) Open(ctx context.Context, p string, offset int64) (io.ReadCloser, error) {
	f, err := t.full(p)
	if err != nil {
		return nil, err
	}
	if err := ctxErr(ctx, "open", p); err != nil {
		return nil, err
	}
	// Look first: OpenSSH's sftp-server opens what it is asked to with
	// open(2), which for a named pipe blocks until a writer comes, and
	// the whole session with it.
	fi, err := t.c.Stat(f)
	if err != nil {
		return nil, t.wrap("open", p, err)
	}
	if k := transports.ModeKind(fi.Mode()); k != "" {
		return nil, t.wrap("open", p, transports.NotRegular(p, k))
	}
	file, err := transports.Await(ctx, func() (*sftp.File, error) { return t.c.Open(f) }, func(f *sftp.File) { f.Close() })
	if err != nil {
		return nil, t.wrap("open", p, err)
	}
	if offset > 0 {
		if _, err := file.Seek(offset, io.SeekStart); err != nil {
			file.Close()
			return nil, t.wrap("open", p, err)
		}
	}
	r := &reader{t: t, p: p, f: file}
	r.stop = context.AfterFunc(ctx, func() { file.Close() })
	return r, nil
}

type reader struct {
	t    *Transport
	p    string
	f    *sftp.File
	stop func() bool
}

func (r *reader) Read(b []byte) (int, error) {
	n, err := r.f.Read(b)
	if err != nil && err != io.EOF {
		err = r.t.wrap("read", r.p, err)
	}
	return n, err
}

func (r *reader) WriteTo(w io.Writer) (int64, error) {
	n, err := r.f.WriteTo(w)
	return n, r.t.wrap("read", r.p, err)
}

func (r *reader) Close() error {
	r.stop()
	err := r.f.Close()
	if errors.Is(err, os.ErrClosed) {
		err = nil
	}
	return r.t.wrap("close", r.p, err)
}

// errAborted is what an aborted Writer's pending writes fail with.
var errAborted = errors.New("upload aborted")

// Create opens p for writing, truncating it. Bytes written go to the server
// with up to the transport's concurrency of write requests in flight
// (File.ReadFromWithConcurrency fed through a pipe: the stream's size
// need not be known).
func (t *Transport) Create(ctx context.Context, p string) (transports.Writer, error) {
	f, err := t.full(p)
	if err != nil {
		return nil, err
	}
	if err := ctxErr(ctx, "create", p); err != nil {
		return nil, err
	}
	file, err := t.c.OpenFile(f, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return nil, t.wrap("create", p, err)
	}
	pr, pw := io.Pipe()
	w := &writer{t: t, p: p, full: f, f: file, pw: pw, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		n, err := file.ReadFromWithConcurrency(pr, t.conc)
		w.n, w.err = n, err
		if err == nil {
			err = io.ErrClosedPipe // Write after Close
		}
		pr.CloseWithError(err)
	}()
	w.stop = context.AfterFunc(ctx, func() { pw.CloseWithError(ctx.Err()) })
	return w, nil
}

type writer struct {
	t    *Transport
	p    string
	full string
	f    *sftp.File
	pw   *io.PipeWriter
	stop func() bool
	done chan struct{}
	n    int64 // set by the goroutine before done closes
	err  error

	mu       sync.Mutex
	finished bool
}

func (w *writer) Write(b []byte) (int, error) {
	n, err := w.pw.Write(b)
	if err != nil {
		<-w.done
		if w.err != nil {
			err = w.err
		}
		return n, w.writeErr(err)
	}
	return n, nil
}

// writeErr wraps a failed write, recognising a full file system.
func (w *writer) writeErr(err error) error {
	if errors.Is(err, errAborted) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("sftp write %q: %w", w.p, err)
	}
	var se *sftp.StatusError
	if errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxFailure && w.t.full0(w.full) {
		return fmt.Errorf("sftp write %q on %s after %d bytes: the server's file system is full (%v): %w", w.p, w.t.url, w.n, err, transports.ErrNoSpace)
	}
	if errors.Is(err, sftp.ErrSSHFxConnectionLost) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("sftp write %q on %s: the connection to the server was lost after %d bytes: %w", w.p, w.t.url, w.n, err)
	}
	return w.t.wrap("write", w.p, err)
}

// full0 reports whether the file system holding p has (almost) no room
// left, when the server can say (statvfs@openssh.com).
func (t *Transport) full0(p string) bool {
	if !t.vfs {
		return false
	}
	st, err := t.c.StatVFS(path.Dir(p))
	if err != nil {
		return false
	}
	return st.Bavail*st.Frsize < 1<<20 || st.Favail == 0
}

// Close finishes the upload: every byte was written once it returns nil.
func (w *writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return nil
	}
	w.finished = true
	w.stop()
	w.pw.Close()
	<-w.done
	cerr := w.f.Close()
	if w.err != nil {
		return w.writeErr(w.err)
	}
	if cerr != nil {
		var se *sftp.StatusError
		if errors.As(cerr, &se) && se.FxCode() == sftp.ErrSSHFxFailure && w.t.full0(w.full) {
			return fmt.Errorf("sftp close %q on %s: the server's file system is full (%v): %w", w.p, w.t.url, cerr, transports.ErrNoSpace)
		}
		return w.t.wrap("close", w.p, cerr)
	}
	return nil
}

// Abort stops the upload and removes the file (best effort).
func (w *writer) Abort() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return nil
	}
	w.finished = true
	w.stop()
	w.pw.CloseWithError(errAborted)
	<-w.done
	w.f.Close()
	if err := w.t.c.Remove(w.full); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return w.t.wrap("remove aborted upload", w.p, err)
	}
	return nil
}

// Close ends the SFTP session and the SSH connection.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		err1 := t.c.Close()
		err2 := t.sshc.Close()
		if err1 != nil && !errors.Is(err1, io.EOF) && !errors.Is(err1, os.ErrClosed) {
			t.closeErr = err1
		} else if err2 != nil && !errors.Is(err2, io.EOF) && !errors.Is(err2, os.ErrClosed) && !errors.Is(err2, net.ErrClosed) {
			t.closeErr = err2
		}
	})
	return t.closeErr
}

// CreateExclusive implements transports.ExclusiveCreator: data goes to a
// temporary file, which is then renamed onto p with the plain
// SSH_FXP_RENAME (never posix-rename@openssh.com, which replaces). SFTP
// (draft-ietf-secsh-filexfer-02, 6.5) makes that rename fail when p
// exists, and OpenSSH's sftp-server does it race-free with link(2) and
// unlink(2) (on a file system without hard links it falls back to a stat
// and rename(2), which is not atomic). The file appears complete. The
// refusal is a bare SSH_FX_FAILURE, so it is fs.ErrExist when p is there.
func (t *Transport) CreateExclusive(ctx context.Context, p string, data []byte) error {
	c, err := transports.CleanPath(p)
	if err != nil {
		return err
	}
	if c == "" {
		return fmt.Errorf("sftp create exclusively: the transport's root is a directory")
	}
	ff, _ := t.full(c)
	tmp := transports.TempName(c)
	ftmp, _ := t.full(tmp)
	if err := transports.WriteNew(ctx, t, tmp, data); err != nil {
		return err
	}
	_, err = transports.Await(ctx, func() (struct{}, error) { return struct{}{}, t.c.Rename(ftmp, ff) }, nil)
	if err == nil {
		return nil
	}
	_ = t.c.Remove(ftmp)
	if ctx.Err() == nil {
		if _, serr := t.c.Lstat(ff); serr == nil {
			return t.wrap("create exclusively", p, fmt.Errorf("%s exists (%v): %w", p, err, fs.ErrExist))
		}
	}
	return t.wrap("create exclusively", p, err)
}

// FreeSpace implements transports.SpaceReporter with the server's
// statvfs@openssh.com extension (f_bavail × f_frsize); a server without
// it cannot say (an error).
func (t *Transport) FreeSpace(ctx context.Context, p string) (int64, error) {
	full, err := t.full(p)
	if err != nil {
		return 0, t.wrap("free space of", p, err)
	}
	if !t.vfs {
		return 0, fmt.Errorf("free space of %s on %s: the SFTP server does not offer statvfs@openssh.com", p, t.url)
	}
	st, err := t.c.StatVFS(full)
	if err != nil {
		return 0, t.wrap("free space of", p, err)
	}
	return int64(st.Bavail * st.Frsize), nil
}
