package sets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/vmlua/vmlua/internal/spancrypt"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// progressEvery is the longest a set's progress.json goes unwritten while
// files are stored. It is also written when the set starts and after every
// disk; writing it after every small file cost two fsyncs each on a file://
// target, most of an incremental's fixed time.
var progressEvery = 10 * time.Second

// SetProgressEvery sets how often progress.json follows stored files and
// returns a function that restores the old value (for tests).
func SetProgressEvery(d time.Duration) (restore func()) {
	old := progressEvery
	progressEvery = d
	return func() { progressEvery = old }
}

// Writer writes the files of one set and keeps its progress catalog.
//
// progress.json is written in the background (one write at a time, each
// with the catalog as it is when that write starts), so the backup goes on
// while the target makes it durable. Wait ends every write in flight:
// catalog.json is written only after that (WriteFinal), and so is the
// removal of a failed set (Discard), so no progress.json lands after
// either.
//
// The set folder's directory syncs (file:// syncs the directory after
// every rename) are deferred to one, made before catalog.json is written
// (transports.DeferDirSync): a set is complete only through its catalog,
// so the files before it need to be durable only by then.
type Writer struct {
	ctx       context.Context
	t         transports.Transport
	dir       string
	flushDirs func(context.Context) error

	mu     sync.Mutex // guards cat and the fields below
	cat    *catalog.Catalog
	last   time.Time // when the last progress.json write was asked for
	queued bool      // a progress.json write is asked for and has not started
	err    error     // the first progress.json write that failed

	wmu sync.Mutex // one progress.json write at a time
	wg  sync.WaitGroup

	key []byte // the data key of an encrypted set (Encrypt); nil: none
}

// Encrypt makes the set an encrypted one: it stores the wrapped data key
// (SealKey) and records the encryption in the catalog. Call it before
// any file is stored; files written through Seal are then encrypted, and
// WriteFinal authenticates the catalog.
func (s *Writer) Encrypt(key, wrapped []byte, e *catalog.Encryption) error {
	p := s.dir + "/" + e.KeyFile
	if _, err := transports.Upload(s.ctx, s.t, p, strings.NewReader(string(wrapped)), transports.UploadOptions{ExpectedSize: int64(len(wrapped))}); err != nil {
		return &runtime.Error{Code: runtime.CodeTransport, Path: p, Message: fmt.Sprintf("cannot store the set's wrapped key: %v", err), Err: err}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key = key
	s.cat.Encryption = e
	s.cat.Version = max(s.cat.Version, catalog.VersionEncrypted)
	return nil
}

// Key is the set's data key: nil for a set that is not encrypted (its
// files are stored through Seal, SealBytes, UploadSealed with it).
func (s *Writer) Key() []byte { return s.key }

func NewWriter(ctx context.Context, t transports.Transport, dir string, cat *catalog.Catalog) *Writer {
	flush, err := transports.DeferDirSync(t, dir)
	if err != nil { // the folder's syncs are not deferred, then
		flush = func(context.Context) error { return nil }
	}
	return &Writer{ctx: ctx, t: t, dir: dir, cat: cat, flushDirs: flush}
}

// Update changes the catalog while progress.json writes may read it.
func (s *Writer) Update(f func(c *catalog.Catalog)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.cat)
}

// Add lists stored files (in this order); progress.json follows when it
// has not been written for progressEvery. A failed earlier progress.json
// write is returned.
func (s *Writer) Add(files ...catalog.File) error {
	s.mu.Lock()
	s.cat.Files = append(s.cat.Files, files...)
	for _, f := range files {
		if f.Spans != nil {
			s.cat.Version = max(s.cat.Version, catalog.VersionSpans)
		}
	}
	due := time.Since(s.last) >= progressEvery
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if due {
		s.Progress()
	}
	return nil
}

// AddDisk lists a stored disk (its files are added already) and rewrites
// progress.json, so that a set cut off later still says which disks it
// holds whole (restore force=true).
func (s *Writer) AddDisk(d catalog.Disk) error {
	s.mu.Lock()
	s.cat.Disks = append(s.cat.Disks, d)
	if catalog.StreamVersion(d.Format) >= 2 {
		s.cat.Version = max(s.cat.Version, catalog.VersionContentSpans)
	}
	err := s.err
	s.mu.Unlock()
	if err != nil {
		return err
	}
	s.Progress()
	return nil
}

// Progress starts a progress.json write unless one is waiting to start
// (that one will carry the newest catalog).
func (s *Writer) Progress() {
	s.mu.Lock()
	s.last = time.Now()
	if s.queued {
		s.mu.Unlock()
		return
	}
	s.queued = true
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.wmu.Lock()
		defer s.wmu.Unlock()
		s.mu.Lock()
		s.queued = false
		b, err := s.cat.Marshal()
		failed := s.err != nil
		s.mu.Unlock()
		if failed { // the backup fails anyway; do not touch the target again
			return
		}
		if err == nil {
			err = s.upload(catalog.ProgressName, b)
		}
		if err != nil {
			s.mu.Lock()
			if s.err == nil {
				s.err = err
			}
			s.mu.Unlock()
		}
	}()
}

// Wait waits for the progress.json writes in flight and returns the first
// error of any.
func (s *Writer) Wait() error {
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Discard is Wait for a set that failed: it also ends the deferral of
// the folder's directory syncs.
func (s *Writer) Discard() error {
	err := s.Wait()
	_ = s.flushDirs(s.ctx)
	return err
}

// WriteFinal writes catalog.json, once no progress.json write is in
// flight and the folder's renames so far are durable (the catalog is the
// last file of a set).
func (s *Writer) WriteFinal() error {
	if err := s.Wait(); err != nil {
		return err
	}
	if err := s.flushDirs(s.ctx); err != nil {
		return &runtime.Error{Code: runtime.CodeTransport, Path: s.dir, Message: fmt.Sprintf("cannot make the set's files durable: %v", err), Err: err}
	}
	s.mu.Lock()
	if s.key != nil {
		if err := s.authenticate(); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	b, err := s.cat.Marshal()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.upload(catalog.FileName, b)
}

// authenticate sets the catalog's MAC (under s.mu).
func (s *Writer) authenticate() error {
	s.cat.Encryption.MAC = ""
	b, err := s.cat.MarshalWithoutMAC()
	if err != nil {
		return err
	}
	s.cat.Encryption.MAC, err = spancrypt.CatalogMAC(s.key, b)
	return err
}

func (s *Writer) upload(name string, b []byte) error {
	if _, err := transports.Upload(s.ctx, s.t, s.dir+"/"+name, strings.NewReader(string(b)), transports.UploadOptions{ExpectedSize: int64(len(b))}); err != nil {
		return &runtime.Error{Code: runtime.CodeTransport, Path: s.dir + "/" + name, Message: fmt.Sprintf("cannot write the set's catalog: %v", err), Err: err}
	}
	return nil
}

// RemoveAll removes a set folder and its files, best effort, even after
// cancellation (also a failed set of another module).
func RemoveAll(ctx context.Context, t transports.Transport, dir string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	fis, err := t.List(ctx, dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	var errs []error
	for _, fi := range fis {
		p := dir + "/" + fi.Name
		if fi.IsDir {
			errs = append(errs, RemoveAll(ctx, t, p))
			continue
		}
		errs = append(errs, t.Remove(ctx, p))
	}
	errs = append(errs, t.Remove(ctx, dir))
	return errors.Join(errs...)
}
