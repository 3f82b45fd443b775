package sets

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/file"
)

// recorder is a file transport that records every rename into place (the
// last step of an Upload) with the bytes it put there, and can hold a
// rename until released or fail it.
type recorder struct {
	transports.Transport
	mu      sync.Mutex
	renames []string            // final names, in order
	bodies  map[string][][]byte // final name -> every version renamed onto it
	hold    chan struct{}       // when set, renames onto progress.json wait for it
	held    chan struct{}       // told when a rename waits on hold
	fail    error               // when set, renames onto progress.json fail with it
}

func newRecorder(t *testing.T) *recorder {
	ft, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ft.Close() })
	return &recorder{Transport: ft, bodies: map[string][][]byte{}}
}

func (r *recorder) Rename(ctx context.Context, from, to string) error {
	r.mu.Lock()
	hold, held, fail := r.hold, r.held, r.fail
	r.mu.Unlock()
	if strings.HasSuffix(to, catalog.ProgressName) {
		if hold != nil {
			held <- struct{}{}
			<-hold
		}
		if fail != nil {
			return fail
		}
	}
	rc, err := r.Open(ctx, from, 0)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if err := r.Transport.Rename(ctx, from, to); err != nil {
		return err
	}
	r.mu.Lock()
	r.renames = append(r.renames, filepath.Base(to))
	r.bodies[filepath.Base(to)] = append(r.bodies[filepath.Base(to)], b)
	r.mu.Unlock()
	return nil
}

func (r *recorder) count(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies[name])
}

func (r *recorder) last(t *testing.T, name string) *catalog.Catalog {
	t.Helper()
	r.mu.Lock()
	bs := r.bodies[name]
	r.mu.Unlock()
	if len(bs) == 0 {
		t.Fatalf("%s was never written", name)
	}
	c, err := catalog.Parse(bs[len(bs)-1])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func withProgressEvery(t *testing.T, d time.Duration) {
	old := progressEvery
	progressEvery = d
	t.Cleanup(func() { progressEvery = old })
}

func testSetWriter(t *testing.T, rec *recorder) *Writer {
	cat := catalog.New()
	cat.ID, cat.Started = "VM/20250101T000000Z", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cat.VM.Name = "VM"
	if err := rec.MkdirAll(context.Background(), cat.ID); err != nil {
		t.Fatal(err)
	}
	return NewWriter(context.Background(), rec, cat.ID, cat)
}

func file1(name string) catalog.File {
	return catalog.File{Name: name, Size: 1, SHA256: strings.Repeat("0", 64), Compression: "none", Kind: catalog.KindConfig}
}

// progress.json is written when the set starts and after every disk, not
// after every small file: each write is an upload (two fsyncs on file://).
func TestProgressIsWrittenAtTheStartAndAfterEveryDiskOnly(t *testing.T) {
	withProgressEvery(t, time.Hour)
	rec := newRecorder(t)
	sw := testSetWriter(t, rec)
	sw.Progress()
	if err := sw.Wait(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a.vmx", "a.nvram", "vmware.log", "a-flat.vmdk.vls.zst", "a.vmdk"} {
		if err := sw.Add(file1(n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := rec.count(catalog.ProgressName); n != 1 {
		t.Fatalf("progress.json written %d times after the start and five files, want 1 (the start)", n)
	}
	if err := sw.AddDisk(catalog.Disk{ID: "scsi0:0", Capacity: 1 << 20, Format: catalog.FormatSparse1, File: "a-flat.vmdk.vls.zst", Descriptor: "a.vmdk"}); err != nil {
		t.Fatal(err)
	}
	if err := sw.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := rec.count(catalog.ProgressName); n != 2 {
		t.Fatalf("progress.json written %d times after a disk, want 2", n)
	}
	p := rec.last(t, catalog.ProgressName)
	if p.Complete || len(p.Files) != 5 || len(p.Disks) != 1 || p.Disks[0].ID != "scsi0:0" {
		t.Errorf("the progress catalog after the disk does not list what is stored: complete=%v files=%d disks=%+v", p.Complete, len(p.Files), p.Disks)
	}
}

// With files stored for longer than progressEvery, progress.json follows
// them (a slow target still shows how far a set got).
func TestProgressFollowsFilesOnceItIsOlderThanProgressEvery(t *testing.T) {
	withProgressEvery(t, 0)
	rec := newRecorder(t)
	sw := testSetWriter(t, rec)
	sw.Progress()
	for i, n := range []string{"a.vmx", "a.nvram", "vmware.log"} {
		if err := sw.Wait(); err != nil { // one at a time: none is coalesced
			t.Fatal(err)
		}
		if err := sw.Add(file1(n)); err != nil {
			t.Fatal(err)
		}
		if err := sw.Wait(); err != nil {
			t.Fatal(err)
		}
		if got := len(rec.last(t, catalog.ProgressName).Files); got != i+1 {
			t.Errorf("after file %d progress.json lists %d files", i+1, got)
		}
	}
	if n := rec.count(catalog.ProgressName); n != 4 {
		t.Errorf("progress.json written %d times, want 4", n)
	}
}

// catalog.json is written only after every progress.json write in flight
// has ended, so a late progress.json never lands in a complete set.
func TestTheCatalogWaitsForProgressWritesInFlight(t *testing.T) {
	withProgressEvery(t, time.Hour)
	rec := newRecorder(t)
	rec.hold, rec.held = make(chan struct{}), make(chan struct{}, 1)
	sw := testSetWriter(t, rec)
	sw.Progress()
	<-rec.held // the progress write is about to rename
	done := make(chan error, 1)
	go func() {
		sw.Update(func(c *catalog.Catalog) { c.Complete = true })
		done <- sw.WriteFinal()
	}()
	select {
	case err := <-done:
		t.Fatalf("catalog.json was written while a progress.json write was in flight (%v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(rec.hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if strings.Join(rec.renames, ",") != catalog.ProgressName+","+catalog.FileName {
		t.Errorf("renames %v, want progress.json then catalog.json", rec.renames)
	}
}

// A progress.json write that fails fails the set: the next file or the
// catalog reports it, and the catalog is not written.
func TestAFailedProgressWriteFailsTheSet(t *testing.T) {
	withProgressEvery(t, time.Hour)
	rec := newRecorder(t)
	boom := errors.New("no space left on device")
	rec.fail = boom
	sw := testSetWriter(t, rec)
	sw.Progress()
	_ = sw.Wait()
	if err := sw.Add(file1("a.vmx")); err == nil || !errors.Is(err, boom) {
		t.Errorf("add after a failed progress write: %v", err)
	}
	if err := sw.WriteFinal(); err == nil || !errors.Is(err, boom) {
		t.Errorf("writeFinal after a failed progress write: %v", err)
	}
	if _, err := os.Stat(filepath.Join(rec.Transport.(*file.Transport).Dir(), sw.dir, catalog.FileName)); err == nil {
		t.Error("catalog.json was written after a failed progress write")
	}
}

// deferring is a recorder whose directory syncs can be deferred: it
// records each flush among the renames.
type deferring struct {
	*recorder
	deferred []string
}

func (d *deferring) DeferDirSync(dir string) (func(context.Context) error, error) {
	d.mu.Lock()
	d.deferred = append(d.deferred, dir)
	d.mu.Unlock()
	return func(context.Context) error {
		d.mu.Lock()
		d.renames = append(d.renames, "flush "+dir)
		d.mu.Unlock()
		return nil
	}, nil
}

// The set folder's directory syncs are deferred to one flush, made after
// the last progress.json and before catalog.json is renamed into place;
// a failed set ends the deferral too (discard).
func TestTheSetFolderIsSyncedOnceBeforeTheCatalog(t *testing.T) {
	withProgressEvery(t, time.Hour)
	for _, failed := range []bool{false, true} {
		d := &deferring{recorder: newRecorder(t)}
		cat := catalog.New()
		cat.ID, cat.Started, cat.VM.Name = "VM/20250101T000000Z", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), "VM"
		if err := d.MkdirAll(context.Background(), cat.ID); err != nil {
			t.Fatal(err)
		}
		sw := NewWriter(context.Background(), d, cat.ID, cat)
		if len(d.deferred) != 1 || d.deferred[0] != cat.ID {
			t.Fatalf("deferred %q, want the set folder", d.deferred)
		}
		sw.Progress()
		if err := sw.Add(file1("a.vmx")); err != nil {
			t.Fatal(err)
		}
		want := []string{catalog.ProgressName, "flush " + cat.ID, catalog.FileName}
		if failed {
			if err := sw.Discard(); err != nil {
				t.Fatal(err)
			}
			want = want[:2]
		} else if err := sw.WriteFinal(); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(d.renames, ", "); got != strings.Join(want, ", ") {
			t.Errorf("failed=%v: renames and flushes %s, want %s", failed, got, strings.Join(want, ", "))
		}
	}
}
