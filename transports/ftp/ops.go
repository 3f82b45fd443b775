package ftp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/textproto"
	"path"
	"strings"
	"sync"

	"github.com/jlaffaye/ftp"

	"github.com/vmlua/vmlua/transports"
)

func (t *Transport) full(p string) (string, error) {
	c, err := transports.CleanPath(p)
	if err != nil {
		return "", err
	}
	return path.Join(t.root, c), nil
}

// mapErr recognises the FTP replies that mean a full target.
func mapErr(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		switch {
		case te.Code == 452 || te.Code == ftp.StatusExceededStorage:
			return fmt.Errorf("%w (%d %s)", transports.ErrNoSpace, te.Code, te.Msg)
		case te.Code == ftp.StatusActionAborted && strings.Contains(strings.ToLower(te.Msg), "writing"):
			// vsftpd: "451 Failure writing to local file." (ENOSPC, quota)
			return fmt.Errorf("the server failed writing the file (%d %s), most likely it is out of space or over quota: %w", te.Code, te.Msg, transports.ErrNoSpace)
		}
	}
	return err
}

func (t *Transport) wrap(op, p string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("ftp %s %q on %s: %w", op, p, t.url, mapErr(err))
}

// kind says what is at abs: "file" (with size), "dir" or "" (nothing).
func kind(c *ftp.ServerConn, abs string) (k string, size int64, err error) {
	size, err = c.FileSize(abs)
	if err == nil {
		return "file", size, nil
	}
	var te *textproto.Error
	if !errors.As(err, &te) {
		return "", 0, err
	}
	if err := c.ChangeDir(abs); err == nil {
		return "dir", 0, nil
	} else if !errors.As(err, &te) {
		return "", 0, err
	}
	return "", 0, nil
}

func notExist(op, p string, t *Transport) error {
	return fmt.Errorf("ftp %s %q on %s: %w", op, p, t.url, fs.ErrNotExist)
}

// Stat describes a file or directory (SIZE and MDTM, or CWD).
func (t *Transport) Stat(ctx context.Context, p string) (transports.FileInfo, error) {
	abs, err := t.full(p)
	if err != nil {
		return transports.FileInfo{}, err
	}
	var fi transports.FileInfo
	var k string
	err = t.do(ctx, func(c *ftp.ServerConn) error {
		var err error
		k, fi.Size, err = kind(c, abs)
		if err == nil && k == "file" && c.IsGetTimeSupported() {
			if mt, err := c.GetTime(abs); err == nil {
				fi.ModTime = mt
			}
		}
		return err
	})
	if err != nil {
		return transports.FileInfo{}, t.wrap("stat", p, err)
	}
	if k == "" {
		return transports.FileInfo{}, notExist("stat", p, t)
	}
	fi.Name = path.Base(abs)
	fi.IsDir = k == "dir"
	return fi, nil
}

// List returns a directory's entries (CWD into it, then LIST -a, so names
// are never taken for options or patterns).
func (t *Transport) List(ctx context.Context, p string) ([]transports.FileInfo, error) {
	abs, err := t.full(p)
	if err != nil {
		return nil, err
	}
	var out []transports.FileInfo
	missing := false
	err = t.do(ctx, func(c *ftp.ServerConn) error {
		out, missing = nil, false
		if err := c.ChangeDir(abs); err != nil {
			var te *textproto.Error
			if errors.As(err, &te) && te.Code == ftp.StatusFileUnavailable {
				missing = true
				return nil
			}
			return err
		}
		es, err := c.List("")
		for _, e := range es {
			if e.Name == "." || e.Name == ".." {
				continue
			}
			fi := transports.FileInfo{Name: e.Name, ModTime: e.Time, IsDir: e.Type == ftp.EntryTypeFolder}
			if !fi.IsDir {
				fi.Size = int64(e.Size)
			}
			out = append(out, fi)
		}
		return err
	})
	if err != nil {
		return nil, t.wrap("list", p, err)
	}
	if missing {
		return nil, notExist("list", p, t)
	}
	return out, nil
}

// MkdirAll creates a directory and its parents.
func (t *Transport) MkdirAll(ctx context.Context, p string) error {
	abs, err := t.full(p)
	if err != nil {
		return err
	}
	return t.wrap("mkdir", p, t.do(ctx, func(c *ftp.ServerConn) error {
		if c.ChangeDir(abs) == nil {
			return nil
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(abs, t.root), "/")
		cur := t.root
		for _, part := range strings.Split(rel, "/") {
			cur = path.Join(cur, part)
			if c.ChangeDir(cur) == nil {
				continue
			}
			if err := c.MakeDir(cur); err != nil {
				if c.ChangeDir(cur) == nil { // made by someone else meanwhile
					continue
				}
				return err
			}
		}
		return nil
	}))
}

// Rename moves from onto to (RNFR/RNTO), replacing a file at to.
func (t *Transport) Rename(ctx context.Context, from, to string) error {
	af, err := t.full(from)
	if err != nil {
		return err
	}
	at, err := t.full(to)
	if err != nil {
		return err
	}
	missing := false
	err = t.do(ctx, func(c *ftp.ServerConn) error {
		err := c.Rename(af, at)
		if err != nil {
			if k, _, kerr := kind(c, af); kerr == nil && k == "" {
				missing = true
				return nil
			}
		}
		return err
	})
	if missing {
		return notExist("rename", from, t)
	}
	return t.wrap("rename", from+" to "+to, err)
}

// Remove deletes a file (DELE) or an empty directory (RMD).
func (t *Transport) Remove(ctx context.Context, p string) error {
	abs, err := t.full(p)
	if err != nil {
		return err
	}
	missing := false
	err = t.do(ctx, func(c *ftp.ServerConn) error {
		missing = false
		derr := c.Delete(abs)
		if derr == nil {
			return nil
		}
		k, _, kerr := kind(c, abs)
		switch {
		case kerr != nil:
			return kerr
		case k == "":
			missing = true
			return nil
		case k == "dir":
			// leave the directory before removing it
			if err := c.ChangeDir(t.root); err != nil {
				return err
			}
			return c.RemoveDir(abs)
		}
		return derr
	})
	if missing {
		return notExist("remove", p, t)
	}
	return t.wrap("remove", p, err)
}

// Open reads p from offset on (REST + RETR) on a connection of its own.
func (t *Transport) Open(ctx context.Context, p string, offset int64) (io.ReadCloser, error) {
	abs, err := t.full(p)
	if err != nil {
		return nil, err
	}
	c, _, err := t.get(ctx)
	if err != nil {
		return nil, t.wrap("open", p, err)
	}
	stop := context.AfterFunc(ctx, c.kill)
	resp, err := c.c.RetrFrom(abs, uint64(offset))
	if err != nil {
		var k string
		var te *textproto.Error
		if errors.As(err, &te) {
			k, _, _ = kind(c.c, abs)
		}
		stop()
		t.put(c, err)
		switch {
		case te != nil && k == "":
			return nil, notExist("open", p, t)
		case te != nil && k == "dir":
			return nil, t.wrap("open", p, fmt.Errorf("%w (%d %s)", transports.NotRegular(p, "a directory"), te.Code, te.Msg))
		}
		return nil, t.wrap("open", p, err)
	}
	return &reader{t: t, p: p, c: c, resp: resp, stop: stop}, nil
}

type reader struct {
	t    *Transport
	p    string
	c    *conn
	resp *ftp.Response
	stop func() bool
	once sync.Once
	err  error
}

func (r *reader) Read(b []byte) (int, error) {
	n, err := r.resp.Read(b)
	if err != nil && err != io.EOF {
		err = r.t.wrap("read", r.p, err)
	}
	return n, err
}

// Close ends the transfer; the connection goes back to the pool.
func (r *reader) Close() error {
	r.once.Do(func() {
		r.stop()
		err := r.resp.Close()
		// closing before the end is not an error of the file
		var te *textproto.Error
		if errors.As(err, &te) && (te.Code == ftp.StatusTransfertAborted || te.Code == ftp.StatusActionAborted) {
			err = nil
		}
		r.t.put(r.c, err)
		r.err = r.t.wrap("read", r.p, err)
	})
	return r.err
}

var errAborted = errors.New("upload aborted")

// Create streams into STOR through a pipe on a connection of its own.
func (t *Transport) Create(ctx context.Context, p string) (transports.Writer, error) {
	abs, err := t.full(p)
	if err != nil {
		return nil, err
	}
	c, _, err := t.get(ctx)
	if err != nil {
		return nil, t.wrap("create", p, err)
	}
	pp := newPipe()
	w := &writer{t: t, p: p, abs: abs, c: c, pw: pp, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		err := c.c.Stor(abs, pp)
		w.err = err
		pp.CloseRead(err)
	}()
	w.stop = context.AfterFunc(ctx, func() { pp.CloseWithError(ctx.Err()) })
	return w, nil
}

type writer struct {
	t    *Transport
	p    string
	abs  string
	c    *conn
	pw   *pipe
	stop func() bool
	done chan struct{}
	err  error // Stor's, once done is closed
	n    int64 // bytes accepted by Write

	mu       sync.Mutex
	finished bool
}

func (w *writer) Write(b []byte) (int, error) {
	n, err := w.pw.Write(b)
	w.n += int64(n)
	if err != nil {
		<-w.done
		if w.err != nil {
			err = w.err
		}
		var te *textproto.Error
		if !errors.As(err, &te) && !errors.Is(err, errAborted) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			return n, fmt.Errorf("ftp write %q on %s: the connection to the server broke after %d bytes (server down or network failure): %w", w.p, w.t.url, w.n, err)
		}
		return n, w.t.wrap("write", w.p, err)
	}
	return n, nil
}

// Close finishes the upload and returns the server's verdict.
func (w *writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return nil
	}
	w.finished = true
	w.stop()
	w.pw.CloseWithError(nil)
	<-w.done
	w.t.put(w.c, w.err)
	return w.t.wrap("write", w.p, w.err)
}

// Abort stops the upload and deletes what was written (best effort).
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
	w.t.put(w.c, w.err)
	err := w.t.do(context.Background(), func(c *ftp.ServerConn) error {
		if err := c.Delete(w.abs); err != nil {
			if k, _, kerr := kind(c, w.abs); kerr == nil && k == "" {
				return nil
			}
			return err
		}
		return nil
	})
	return w.t.wrap("remove aborted upload", w.p, err)
}

// guardAttempts bounds mkdirExcl's tries.
const guardAttempts = 5

// CreateExclusive implements transports.ExclusiveCreator with a guard
// folder (transports.CreateExclusiveGuarded): MKD makes a folder only where
// nothing is.
func (t *Transport) CreateExclusive(ctx context.Context, p string, data []byte) error {
	return transports.CreateExclusiveGuarded(ctx, t, p, data, t.mkdirExcl)
}

// mkdirExcl makes one folder with MKD; an existing one is fs.ErrExist
// (servers answer 550 for that as for any refusal: look).
func (t *Transport) mkdirExcl(ctx context.Context, p string) error {
	abs, err := t.full(p)
	if err != nil {
		return err
	}
	exists, taken := false, false
	err = t.do(ctx, func(c *ftp.ServerConn) error {
		var err error
		// A refused MKD where nothing is found afterwards most likely met
		// a folder that another client removed in between: try again. A
		// server that keeps refusing so is taken to be raced each time
		// (the temporary file beside it was stored, so it is not a
		// permission problem).
		for range guardAttempts {
			err = c.MakeDir(abs)
			var te *textproto.Error
			if err == nil || !errors.As(err, &te) {
				return err
			}
			k, _, kerr := kind(c, abs)
			if kerr != nil {
				return kerr
			}
			if k != "" {
				exists = true
				return nil
			}
		}
		taken = true
		return err
	})
	switch {
	case exists:
		return fmt.Errorf("ftp mkdir %q on %s: %w", p, t.url, fs.ErrExist)
	case taken:
		return fmt.Errorf("ftp mkdir %q on %s: it keeps being taken by other clients (%v): %w", p, t.url, err, fs.ErrExist)
	}
	return t.wrap("mkdir", p, err)
}
