package vmfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vmlua/vmlua/transports"
	"github.com/vmware/govmomi/vim25/soap"
)

// Create implements transports.Transport: one streaming PUT on /folder.
// The length is not known in advance, so the body goes chunked (soap.Upload
// with ContentLength 0 leaves it to net/http, which then uses chunked
// transfer encoding); the bytes flow through an io.Pipe, so memory stays
// constant.
//
// The request does not end with the caller's context: Abort finishes the
// PUT normally and then deletes the file, so the server has closed the file
// before it is deleted and nothing reappears afterwards. Only when nobody
// aborts within cleanupGrace of the context ending is the request cut.
func (t *Transport) Create(ctx context.Context, p string) (transports.Writer, error) {
	r, err := t.rel(p)
	if err != nil {
		return nil, err
	}
	if r == "" {
		return nil, fmt.Errorf("create %s on %s: %w", p, t.URL(), transports.NotRegular(p, "a directory"))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	u, ticket, err := t.ds.ServiceTicket(ctx, r, http.MethodPut)
	if err != nil {
		return nil, t.wrap("create", p, err)
	}
	param := soap.DefaultUpload
	if ticket != nil {
		param.Ticket, param.Close = ticket, true
	}
	reqCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var timer *time.Timer
	var tmu sync.Mutex
	stop := context.AfterFunc(ctx, func() {
		tmu.Lock()
		timer = time.AfterFunc(cleanupGrace, cancel)
		tmu.Unlock()
	})
	pr, pw := io.Pipe()
	w := &writer{t: t, ctx: ctx, rel: r, name: p, pw: pw, done: make(chan struct{})}
	w.release = func() {
		stop()
		tmu.Lock()
		if timer != nil {
			timer.Stop()
		}
		tmu.Unlock()
		cancel()
	}
	go func() {
		err := t.c.Upload(reqCtx, pr, u, &param)
		if err != nil {
			err = uploadErr(err)
		}
		w.err = err
		pr.CloseWithError(errOr(err, errUploadEnded))
		close(w.done)
	}()
	return w, nil
}

var errUploadEnded = errors.New("the upload request has already ended")

func errOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// uploadErr maps soap.Upload's bare status errors.
func uploadErr(err error) error {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "507"), strings.HasPrefix(msg, "413"):
		return fmt.Errorf("%w: the datastore answered %s", transports.ErrNoSpace, msg)
	case strings.HasPrefix(msg, "401"), strings.HasPrefix(msg, "403"):
		return fmt.Errorf("%w: the datastore answered %s", transports.ErrAuth, msg)
	case strings.HasPrefix(msg, "404"):
		return fmt.Errorf("%w: the datastore answered %s (does the folder exist?)", fs.ErrNotExist, msg)
	}
	return err
}

type writer struct {
	t       *Transport
	ctx     context.Context
	rel     string
	name    string
	pw      *io.PipeWriter
	done    chan struct{}
	err     error // the upload's result, set before done closes
	release func()
	closed  bool
}

func (w *writer) Write(b []byte) (int, error) {
	if w.closed {
		return 0, fmt.Errorf("write %s on %s: already closed", w.name, w.t.URL())
	}
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := w.pw.Write(b)
	if err != nil {
		if errors.Is(err, io.ErrClosedPipe) {
			// net/http closed the body because the request failed: the
			// request's own error says why
			<-w.done
			err = errOr(w.err, err)
		}
		return n, fmt.Errorf("write %s on %s: the upload failed: %w", w.name, w.t.URL(), err)
	}
	return n, nil
}

// finish ends the request body and waits for the server's answer.
func (w *writer) finish() error {
	w.closed = true
	w.pw.Close()
	<-w.done
	w.release()
	return w.err
}

// Close implements transports.Writer: the server's answer to the PUT.
func (w *writer) Close() error {
	if w.closed {
		return nil
	}
	if err := w.finish(); err != nil {
		return fmt.Errorf("upload %s to %s: %w", w.name, w.t.URL(), err)
	}
	return nil
}

// Abort implements transports.Writer: finish the PUT, then delete the file.
func (w *writer) Abort() error {
	if w.closed {
		return nil
	}
	w.finish()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), cleanupGrace)
	defer cancel()
	err := w.t.delete(ctx, w.rel, w.name)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	return err
}
