package backup_test

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/file"
)

// opsLog records the renames into place (the last step of every upload)
// that a file target opened as ops:///DIR sees, with what they put there.
type opsLog struct {
	mu      sync.Mutex
	renames []string // paths, in order
	bodies  map[string][]byte
}

var (
	opsMu   sync.Mutex
	opsLogs = map[string]*opsLog{} // root dir -> log
)

type opsTransport struct {
	transports.Transport
	log *opsLog
}

// opsFailCreate, when set, fails the Create of the paths it returns an
// error for.
var opsFailCreate func(p string) error

func (o opsTransport) Create(ctx context.Context, p string) (transports.Writer, error) {
	if f := opsFailCreate; f != nil {
		if err := f(p); err != nil {
			return nil, err
		}
	}
	return o.Transport.Create(ctx, p)
}

func (o opsTransport) Rename(ctx context.Context, from, to string) error {
	var b []byte
	if strings.HasSuffix(to, ".json") {
		if rc, err := o.Open(ctx, from, 0); err == nil {
			b, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	if err := o.Transport.Rename(ctx, from, to); err != nil {
		return err
	}
	o.log.mu.Lock()
	o.log.renames = append(o.log.renames, to)
	if b != nil {
		o.log.bodies[to] = b // the last version
	}
	o.log.mu.Unlock()
	return nil
}

// CreateExclusive records the lock's creation, which is how it is put into
// place (the file transport links it; no rename).
func (o opsTransport) CreateExclusive(ctx context.Context, p string, data []byte) error {
	if err := transports.CreateExclusive(ctx, o.Transport, p, data); err != nil {
		return err
	}
	o.log.mu.Lock()
	o.log.renames = append(o.log.renames, p)
	o.log.mu.Unlock()
	return nil
}

func init() {
	transports.Register(transports.Scheme{Name: "ops", URLForm: "ops:///dir", Help: "tests: file:// that records renames",
		Open: func(ctx context.Context, u *url.URL, _ transports.Options) (transports.Transport, error) {
			ft, err := file.New(u.Path)
			if err != nil {
				return nil, err
			}
			opsMu.Lock()
			l := opsLogs[u.Path]
			if l == nil {
				l = &opsLog{bodies: map[string][]byte{}}
				opsLogs[u.Path] = l
			}
			opsMu.Unlock()
			return opsTransport{ft, l}, nil
		}})
}

// A set is written with one upload per file, progress.json only at the
// start and after every disk, and catalog.json last; the last progress.json
// already lists every disk (restore force=true of a set cut off before its
// catalog has them all).
func TestASetUploadsEachFileOnceAndProgressOnlyPerDisk(t *testing.T) {
	defer sets.SetProgressEvery(time.Hour)()
	e := simtest.Start(t, vsim.Options{WriteRate: 50})
	dest := "ops://" + e.Dir
	err, recs := e.Run(t, `
		local set = require("vm").open("name:DB01"):backup{ to = arg.ops }
		print("SET " .. set.id)
	`, simtest.RunOptions{Args: []string{"ops=" + dest}, Mod: func(o *runtime.Options) {
		if err := o.Grants.Allow(dest); err != nil {
			t.Fatal(err)
		}
	}})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	id := printed(recs, "SET ")
	cat := readCatalogAt(t, e.Dir, id)
	opsMu.Lock()
	l := opsLogs[e.Dir]
	opsMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	var progress, lock, final int
	uploaded := map[string]int{}
	for i, p := range l.renames {
		switch {
		case path.Base(p) == sets.LockName:
			lock++
		case path.Base(p) == catalog.ProgressName:
			progress++
		case path.Base(p) == catalog.FileName:
			final++
			if i != len(l.renames)-1 {
				t.Errorf("catalog.json is not the last file written: %v", l.renames[i:])
			}
		default:
			uploaded[path.Base(p)]++
		}
	}
	if lock != 1 || final != 1 {
		t.Errorf("lock written %d times, catalog %d times; want 1 and 1", lock, final)
	}
	if want := 1 + len(cat.Disks); progress < 2 || progress > want {
		t.Errorf("progress.json written %d times for %d disks, want at most %d (the start and after each disk)", progress, len(cat.Disks), want)
	}
	for _, f := range cat.Files {
		if uploaded[f.Name] != 1 {
			t.Errorf("%s uploaded %d times", f.Name, uploaded[f.Name])
		}
		delete(uploaded, f.Name)
	}
	if len(uploaded) > 0 {
		t.Errorf("files uploaded that the catalog does not list: %v", uploaded)
	}
	p, err := catalog.Parse(l.bodies[id+"/"+catalog.ProgressName])
	if err != nil {
		t.Fatal(err)
	}
	if p.Complete || len(p.Disks) != len(cat.Disks) || len(p.Files) != len(cat.Files) {
		t.Errorf("the last progress.json lists %d disks and %d files (complete=%v), the catalog %d and %d", len(p.Disks), len(p.Files), p.Complete, len(cat.Disks), len(cat.Files))
	}
}

// The configuration files are read before the freeze, whether they wait in
// memory to be stored during it or (too big) are stored before it: the
// stored .vmx names the base disks, not the REDO logs of the snapshot.
func TestConfigFilesAreTakenBeforeTheFreeze(t *testing.T) {
	for _, c := range []struct {
		name     string
		buffered int
	}{{"stored during the freeze", 8 << 20}, {"streamed before the freeze", 1}} {
		t.Run(c.name, func(t *testing.T) {
			defer backup.SetConfigBuffered(c.buffered)()
			e := simtest.Start(t, vsim.Options{WriteRate: 50})
			err, recs := e.Run(t, `
				local backup = require "backup"
				local set = require("vm").open("name:DB01"):backup{ to = arg.dest }
				assert(backup.verify{ at = arg.dest, set = set.id }.ok, "verify")
				print("SET " .. set.id)
			`, simtest.RunOptions{})
			if err != nil {
				t.Fatalf("%v\n%s", err, recs)
			}
			cat := readCatalogAt(t, e.Dir, printed(recs, "SET "))
			kinds := ""
			for _, f := range cat.Files {
				kinds += f.Kind + " "
			}
			if !strings.Contains(kinds, "config ") || !strings.Contains(kinds, "nvram ") || !strings.HasSuffix(kinds, " disk descriptor disk descriptor ") {
				t.Errorf("files by kind, in order: %s", kinds)
			}
			b, err := os.ReadFile(filepath.Join(e.Dir, filepath.FromSlash(cat.ID), "DB01.vmx"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), ".vmdk") || strings.Contains(string(b), "-00000") {
				t.Errorf("the stored .vmx was not read before the freeze:\n%s", b)
			}
		})
	}
}

// A configuration file that cannot be stored (stored in the background,
// during the freeze) fails the backup like any file: the error names it,
// no snapshot and no part of the set are left, and the lock is released.
func TestAConfigFileThatCannotBeStoredFailsTheBackup(t *testing.T) {
	opsFailCreate = func(p string) error {
		if strings.Contains(p, ".nvram.") {
			return fmt.Errorf("%w: the test's target is full", transports.ErrNoSpace)
		}
		return nil
	}
	defer func() { opsFailCreate = nil }()
	e := simtest.Start(t, vsim.Options{WriteRate: 50})
	dest := "ops://" + e.Dir
	err, recs := e.Run(t, `
		local v = require("vm").open("name:DB01")
		local ok, err = pcall(v.backup, v, { to = arg.ops })
		assert(not ok, "the backup did not fail")
		assert(#v:snapshots() == 0, "a snapshot is left")
		error(err)
	`, simtest.RunOptions{Args: []string{"ops=" + dest}, Mod: func(o *runtime.Options) {
		if err := o.Grants.Allow(dest); err != nil {
			t.Fatal(err)
		}
	}})
	if err == nil || !strings.Contains(err.Error(), "nvram") || !strings.Contains(err.Error(), "space") {
		t.Fatalf("error %v, want one naming the nvram and the space\n%s", err, recs)
	}
	ents, _ := os.ReadDir(filepath.Join(e.Dir, "DB01"))
	for _, en := range ents {
		t.Errorf("left in the VM's folder: %s", en.Name())
	}
}
