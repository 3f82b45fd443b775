package pointfs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"filippo.io/age"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/modules/backup/sets/pointread"
	"github.com/vmlua/vmlua/transports/file"
)

// fuseOK fails the test, saying why, when FUSE cannot work here.
func fuseOK(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Fatalf("FUSE is unavailable: %v (load the fuse module; a container needs --device /dev/fuse)", err)
	}
}

// points backs VM1 up twice (a full, then an incremental after more
// writes) and returns the target, the sets and the write counts.
func points(t *testing.T) (*simtest.Env, []string, []uint64) {
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 6 << 20})
	var ids []string
	var seqs []uint64
	for _, mode := range []string{"incremental", "incremental"} {
		if _, err := e.Sim.GuestWrite("VM1", 30); err != nil {
			t.Fatal(err)
		}
		id, seq := e.Backup(t, "VM1", mode)
		ids, seqs = append(ids, id), append(seqs, seq)
	}
	return e, ids, seqs
}

func mountAll(t *testing.T, e *simtest.Env, o Options) *Mount {
	t.Helper()
	ft, err := file.New(e.Dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ft.Close() })
	m, err := MountTarget(context.Background(), ft, t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Errorf("Unmount: %v", err)
		}
	})
	return m
}

func TestMountShowsEveryPointAsARawImage(t *testing.T) {
	fuseOK(t)
	e, ids, seqs := points(t)
	flushed := flushes.Load()
	m := mountAll(t, e, Options{})
	if len(m.Points) != 2 || m.Points[1].Mode != catalog.ModeIncremental {
		t.Fatalf("mounted points: %v", m.Points)
	}
	vmDir := filepath.Join(m.Dir, "VM1")
	img := pointread.ImageName(m.Points[0].Disks[0])
	for i, id := range ids {
		p := filepath.Join(vmDir, strings.TrimPrefix(id, "VM1/"), img)
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, e.Expected(t, "VM1", "scsi0:0", seqs[i])) {
			t.Fatalf("%s does not hold the disk at point %s", p, id)
		}
	}
	// two images read whole, two closes: the first FLUSH got ENOSYS, the
	// kernel sent no second (see handle.Flush)
	if n := flushes.Load() - flushed; n != 1 {
		t.Errorf("%d FLUSH requests for two closes, want 1 (ENOSYS stops them)", n)
	}
	if l, err := os.Readlink(filepath.Join(vmDir, "latest")); err != nil || l != strings.TrimPrefix(ids[1], "VM1/") {
		t.Fatalf("latest -> %q, %v", l, err)
	}

	f, err := os.Open(filepath.Join(vmDir, "latest", img))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	t.Run("SEEK_HOLE and SEEK_DATA find the zero areas", func(t *testing.T) {
		want := e.Expected(t, "VM1", "scsi0:0", seqs[1])
		hole, err := f.Seek(0, 4) // SEEK_HOLE
		if err != nil {
			t.Fatal(err)
		}
		data, err := f.Seek(hole, 3) // SEEK_DATA
		if err != nil || hole >= int64(len(want)) || data <= hole {
			t.Fatalf("SEEK_HOLE %d, SEEK_DATA %d (%v) in an image of %d bytes", hole, data, err, len(want))
		}
		if !bytes.Equal(want[hole:data], make([]byte, data-hole)) || bytes.Equal(want[:hole], make([]byte, hole)) {
			t.Fatalf("the hole [%d, %d) is not zeros, or what is before it is", hole, data)
		}
	})
	t.Run("the images are read-only", func(t *testing.T) {
		_, err := os.OpenFile(filepath.Join(vmDir, "latest", img), os.O_RDWR, 0)
		if !errors.Is(err, syscall.EROFS) && !errors.Is(err, syscall.EACCES) {
			t.Fatalf("open for writing: %v", err)
		}
		if err := os.WriteFile(filepath.Join(vmDir, "new"), nil, 0o644); err == nil {
			t.Fatal("a file could be created")
		}
	})
}

func TestADamagedSetReadsAsEIO(t *testing.T) {
	fuseOK(t)
	e, ids, _ := points(t)
	// damage the full's disk image in its middle
	cat, err := sets.ReadCatalog(context.Background(), mustFile(t, e.Dir), ids[0]+"/"+catalog.FileName)
	if err != nil {
		t.Fatal(err)
	}
	stored := filepath.Join(e.Dir, filepath.FromSlash(ids[0]), cat.Disks[0].File)
	b, _ := os.ReadFile(stored)
	b[len(b)/2] ^= 0xff
	os.WriteFile(stored, b, 0o644)

	m := mountAll(t, e, Options{VM: "VM1", Point: "latest"})
	if len(m.Points) != 1 || m.Points[0].ID != ids[1] {
		t.Fatalf("VM1@latest mounts %v", m.Points)
	}
	p := filepath.Join(m.Dir, "VM1", strings.TrimPrefix(ids[1], "VM1/"), pointread.ImageName(cat.Disks[0]))
	_, err = os.ReadFile(p)
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("reading a point whose full is damaged: %v, want EIO", err)
	}
}

func mustFile(t *testing.T, dir string) *file.Transport {
	ft, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ft.Close() })
	return ft
}

// TestAnEncryptedSetMountsWithTheIdentity: the mount's reads keep the
// keyring of the context it was made with, so an encrypted set reads as
// its image.
func TestAnEncryptedSetMountsWithTheIdentity(t *testing.T) {
	fuseOK(t)
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 6 << 20})
	id, _ := age.GenerateX25519Identity()
	if err := e.Sim.PauseGuest("VM1"); err != nil {
		t.Fatal(err)
	}
	seq, _ := e.Sim.WriteSeq("VM1")
	err, recs := e.Run(t, `
		local set = require("vm").open("name:VM1"):backup{ to = arg.dest, encrypt = { recipients = { arg.r } } }
		assert(set.complete)
	`, simtest.RunOptions{Args: []string{"r=" + id.Recipient().String()}})
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	ft, err := file.New(e.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ft.Close()
	ctx := sets.WithKeyring(context.Background(), &sets.Keyring{Identities: []age.Identity{id}})
	m, err := MountTarget(ctx, ft, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unmount()
	img := pointread.ImageName(m.Points[0].Disks[0])
	got, err := os.ReadFile(filepath.Join(m.Dir, "VM1", "latest", img))
	if err != nil {
		t.Fatalf("reading the encrypted point's image: %v", err)
	}
	if !bytes.Equal(got, e.Expected(t, "VM1", "scsi0:0", seq)) {
		t.Fatal("the encrypted point's image differs from the disk")
	}
}
