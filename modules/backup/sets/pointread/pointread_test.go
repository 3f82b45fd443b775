package pointread

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/vmlua/vmlua/internal/pcomp"
	"github.com/vmlua/vmlua/internal/spancrypt"
	"github.com/vmlua/vmlua/internal/spansum"
	"github.com/vmlua/vmlua/internal/sparse"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/file"
)

// chain writes the sets of one VM's disk as a backup writes them (the
// stream formats and compression of internal/sparse and internal/pcomp,
// a catalog with span digests), so that every point can be checked
// against the image it holds.
type chain struct {
	t      testing.TB
	dir    string
	ft     transports.Transport
	algo   string
	sets   []*catalog.Catalog
	images [][]byte
	// encrypted chains (newEncryptedChain): each set's data key is
	// wrapped to id's recipient, and ctx carries id
	id  *age.X25519Identity
	ctx context.Context
}

// newEncryptedChain is newChain whose sets are encrypted as a backup
// encrypts them.
func newEncryptedChain(t *testing.T, algo string) *chain {
	c := newChain(t, algo)
	c.id, _ = age.GenerateX25519Identity()
	c.ctx = sets.WithKeyring(context.Background(), &sets.Keyring{Identities: []age.Identity{c.id}})
	return c
}

func newChain(t testing.TB, algo string) *chain {
	dir := t.TempDir()
	ft, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ft.Close() })
	return &chain{t: t, dir: dir, ft: ft, algo: algo, ctx: context.Background()}
}

const diskFile = "DB01-flat.vmdk.vls"

// add stores img as the next set: a full when changed is nil, else an
// incremental whose delta holds the changed ranges.
func (c *chain) add(img []byte, changed [][2]int64) *catalog.Catalog {
	t := c.t
	i := len(c.sets)
	id := catalog.SetID("DB01", time.Date(2026, 1, 2, 3, 4, 5+i, 0, time.UTC))
	name := diskFile + pcomp.Ext(c.algo)
	var key, wrapped []byte
	var enc *catalog.Encryption
	if c.id != nil {
		var err error
		if key, wrapped, enc, err = sets.SealKey([]string{c.id.Recipient().String()}); err != nil {
			t.Fatal(err)
		}
	}
	var stored bytes.Buffer
	ew, err := sets.Seal(&stored, key, name)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := pcomp.NewWriter(ew, c.algo, 2)
	if err != nil {
		t.Fatal(err)
	}
	var sw *sparse.Writer
	format := catalog.FormatSparse2
	if changed == nil {
		sw = sparse.NewWriter(pw, int64(len(img)))
		sw.Write(img)
	} else {
		format = catalog.FormatDelta2
		sw = sparse.NewDeltaWriter(pw, int64(len(img)))
		pos := int64(0)
		for _, r := range changed {
			sw.Keep(r[0] - pos)
			sw.Write(img[r[0]:r[1]])
			pos = r[1]
		}
		sw.Keep(int64(len(img)) - pos)
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ew.Close(); err != nil {
		t.Fatal(err)
	}
	spans, _ := spansum.Read(bytes.NewReader(stored.Bytes()))
	desc := []byte("# Disk DescriptorFile\n")
	dsum := sha256.Sum256(desc)
	cat := catalog.New()
	cat.Version, cat.ID, cat.Complete, cat.VM.Name = catalog.VersionContentSpans, id, true, "DB01"
	d := catalog.Disk{ID: "scsi0:0", Capacity: int64(len(img)), Format: format, File: name, Descriptor: "DB01.vmdk", ContentSHA256: sw.Sum()}
	if changed != nil {
		prev := c.sets[i-1]
		cat.Mode, cat.Parent, cat.Depth = catalog.ModeIncremental, prev.ID, prev.Depth+1
		d.ParentContentSHA256 = prev.Disks[0].ContentSHA256
	}
	cat.Disks = []catalog.Disk{d}
	cat.Files = []catalog.File{
		{Name: name, Size: int64(stored.Len()), Spans: sets.SpansOf(&spans), Compression: c.algo, Kind: catalog.KindDisk, Disk: d.ID},
		{Name: "DB01.vmdk", Size: int64(len(desc)), SHA256: hex.EncodeToString(dsum[:]), Compression: pcomp.None, Kind: catalog.KindDescriptor, Disk: d.ID},
	}
	files := map[string][]byte{name: stored.Bytes(), "DB01.vmdk": desc}
	if enc != nil {
		cat.Version, cat.Encryption, cat.Files[0].Encrypted = catalog.VersionEncrypted, enc, true
		files[enc.KeyFile] = wrapped
		b, _ := cat.MarshalWithoutMAC()
		if cat.Encryption.MAC, err = spancrypt.CatalogMAC(key, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := cat.Validate(); err != nil {
		t.Fatal(err)
	}
	js, _ := cat.Marshal()
	files[catalog.FileName] = js
	setDir := filepath.Join(c.dir, filepath.FromSlash(id))
	os.MkdirAll(setDir, 0o755)
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(setDir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.sets = append(c.sets, cat)
	c.images = append(c.images, append([]byte{}, img...))
	return cat
}

// storedPath is the local path of set i's disk image.
func (c *chain) storedPath(i int) string {
	return filepath.Join(c.dir, filepath.FromSlash(c.sets[i].ID), c.sets[i].Files[0].Name)
}

// testImage is size bytes: random data in three 64 KiB blocks of four,
// zeros in the fourth (as the simulator's disks).
func testImage(size int64, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, size)
	for off := int64(0); off < size; off += sparse.BlockSize {
		if (off/sparse.BlockSize)%4 == 3 {
			continue
		}
		end := min(off+sparse.BlockSize, size)
		for i := off; i+8 <= end; i += 8 {
			binary.LittleEndian.PutUint64(b[i:], r.Uint64()|1)
		}
	}
	return b
}

// evolve writes new data over a few ranges of img (one turns a zero block
// into data, one data into zeros) and returns the new image and the
// changed ranges, in order.
func evolve(img []byte, step int) ([]byte, [][2]int64) {
	out := append([]byte{}, img...)
	n := int64(len(img))
	changed := [][2]int64{
		{int64(step) * 4096, int64(step)*4096 + 5000},
		{3*sparse.BlockSize - 100, 3*sparse.BlockSize + 70000}, // across into a zero block
		{n/2 + int64(step)*65536, n/2 + int64(step)*65536 + 300000},
		{n - 12345, n},
	}
	for j, r := range changed {
		for k := r[0]; k < r[1]; k++ {
			if (j+step)%3 == 2 {
				out[k] = 0
			} else {
				out[k] = byte(k*13 + int64(step) + 1)
			}
		}
	}
	return out, changed
}

func openPoint(t *testing.T, c *chain, i int, o Options) *Disk {
	t.Helper()
	d, err := Open(c.ctx, c.ft, c.sets[i], "scsi0:0", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// checkReads reads d at random places and whole and compares with want.
func checkReads(t *testing.T, d *Disk, want []byte) {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(len(want)), 1))
	for range 40 {
		off := r.Int64N(int64(len(want)))
		n := 1 + r.IntN(3<<20)
		p := make([]byte, n)
		k, err := d.ReadAt(p, off)
		end := min(off+int64(n), int64(len(want)))
		if (err != nil && err != io.EOF) || int64(k) != end-off || !bytes.Equal(p[:k], want[off:end]) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v: the bytes differ from the point's image", n, off, k, err)
		}
	}
	got, err := io.ReadAll(io.NewSectionReader(d, 0, d.Size()))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the whole image read in order differs (%v)", err)
	}
}

func TestEveryPointOfAChainReadsAsItsImage(t *testing.T) {
	for _, tc := range []struct {
		algo      string
		encrypted bool
	}{{pcomp.Zstd, false}, {pcomp.Gzip, false}, {pcomp.None, false}, {pcomp.Zstd, true}, {pcomp.None, true}} {
		algo := tc.algo
		name := algo
		if tc.encrypted {
			name += " encrypted"
		}
		t.Run(name, func(t *testing.T) {
			c := newChain(t, algo)
			if tc.encrypted {
				c = newEncryptedChain(t, algo)
			}
			img := testImage(6<<20+3*4096, 1)
			c.add(img, nil)
			for step := 1; step <= 3; step++ {
				var changed [][2]int64
				img, changed = evolve(img, step)
				c.add(img, changed)
			}
			for i := range c.sets {
				d := openPoint(t, c, i, Options{CacheBytes: 16 << 20})
				checkReads(t, d, c.images[i]) // while the index runs
				st, err := d.Wait(context.Background())
				if err != nil || d.Size() != int64(len(c.images[i])) || d.Damage() != "" || st.Layers != i+1 || !st.Done || st.Records == 0 {
					t.Fatalf("point %d: size %d, damage %q, stats %+v, %v", i, d.Size(), d.Damage(), st, err)
				}
				if used := d.cache.Used(); used > 16<<20 {
					t.Errorf("point %d: the cache holds %d bytes, more than its bound", i, used)
				}
			}
		})
	}
}

func TestMapTellsZeroAreasFromData(t *testing.T) {
	c := newChain(t, pcomp.Zstd)
	img := testImage(8<<20, 2)
	c.add(img, nil)
	img2, changed := evolve(img, 2) // step 2: range 0 and 3 become zeros
	c.add(img2, changed)
	for i, want := range c.images {
		d := openPoint(t, c, i, Options{})
		ext, err := d.Map(0, d.Size())
		if err != nil {
			t.Fatal(err)
		}
		at, zeros := int64(0), int64(0)
		for _, e := range ext {
			if e.Offset != at || e.Len <= 0 {
				t.Fatalf("point %d: extent %+v after byte %d", i, e, at)
			}
			if e.Zero {
				zeros += e.Len
				if !bytes.Equal(want[e.Offset:e.Offset+e.Len], make([]byte, e.Len)) {
					t.Fatalf("point %d: zero extent %+v holds data", i, e)
				}
			}
			at += e.Len
		}
		if at != d.Size() || zeros < d.Size()/5 {
			t.Fatalf("point %d: extents cover %d of %d bytes, %d of them zero", i, at, d.Size(), zeros)
		}
		part, err := d.Map(100, 200000)
		if err != nil || part[0].Offset != 100 || part[len(part)-1].Offset+part[len(part)-1].Len != 200100 {
			t.Fatalf("point %d: Map of a range: %+v, %v", i, part, err)
		}
	}
}

// flipStored alters one stored byte of set i's disk image.
func flipStored(t *testing.T, c *chain, i int, at int64) {
	t.Helper()
	p := c.storedPath(i)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0x55
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readAll reads d in 1 MiB pieces and returns the bytes read before the
// first error and that error.
func readAll(d *Disk) (int64, error) {
	p := make([]byte, 1<<20)
	for off := int64(0); off < d.Size(); {
		n, err := d.ReadAt(p, off)
		if err != nil && err != io.EOF {
			return off + int64(n), err
		}
		off += int64(n)
	}
	return d.Size(), nil
}

func TestADamagedSpanIsAReadErrorAtItsOffsetNeverWrongBytes(t *testing.T) {
	for _, c := range []struct {
		name string
		algo string
		// which set is damaged, and where (a fraction of its stored size)
		set  int
		frac float64
	}{
		{"a span in the middle of the full", pcomp.Zstd, 0, 0.5},
		{"the full's last span", pcomp.Zstd, 0, 0.999},
		{"an uncompressed full", pcomp.None, 0, 0.6},
		{"a gzip full", pcomp.Gzip, 0, 0.4},
		{"the top incremental", pcomp.Zstd, 2, 0.5},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch := newChain(t, c.algo)
			img := testImage(12<<20, 3)
			ch.add(img, nil)
			for step := 1; step <= 2; step++ {
				var changed [][2]int64
				img, changed = evolve(img, step)
				ch.add(img, changed)
			}
			fi, _ := os.Stat(ch.storedPath(c.set))
			at := int64(float64(fi.Size()) * c.frac)
			flipStored(t, ch, c.set, at)
			d := openPoint(t, ch, 2, Options{})
			if st, err := d.Wait(context.Background()); err != nil || !st.Done {
				t.Fatalf("Wait: %+v, %v", st, err)
			}
			if !strings.Contains(d.Damage(), fmt.Sprintf("stored span %d ", at/spansum.Size)) {
				t.Fatalf("Damage() = %q, want it to name stored span %d", d.Damage(), at/spansum.Size)
			}
			want := ch.images[2]
			good, err := readAll(d)
			var re *ReadError
			if !errors.As(err, &re) || !errors.Is(err, ErrDamaged) || re.Offset != good || !strings.Contains(err.Error(), fmt.Sprintf("image byte %d", good)) {
				t.Fatalf("reading past the damage: %d bytes, then %v; want a ReadError at that offset", good, err)
			}
			// before the damage every byte reads right; from there, every
			// read fails or gives the right bytes
			checkPrefix(t, d, want, good)
			r := rand.New(rand.NewPCG(9, 9))
			for range 100 {
				off := r.Int64N(d.Size())
				p := make([]byte, 1+r.IntN(1<<20))
				n, err := d.ReadAt(p, off)
				if !bytes.Equal(p[:n], want[off:off+int64(n)]) {
					t.Fatalf("ReadAt at %d returned %d wrong bytes (%v)", off, n, err)
				}
				if err != nil && err != io.EOF && !errors.Is(err, ErrDamaged) {
					t.Fatalf("ReadAt at %d: %v", off, err)
				}
			}
		})
	}
}

func checkPrefix(t *testing.T, d *Disk, want []byte, n int64) {
	t.Helper()
	got := make([]byte, n)
	k, err := d.ReadAt(got, 0)
	if int64(k) != n || (err != nil && err != io.EOF) || !bytes.Equal(got, want[:n]) {
		t.Fatalf("the %d bytes before the damage read as %d bytes, %v, or differ", n, k, err)
	}
}

// TestASpanChangedAfterOpenIsAReadError: a span read again after the
// index checked it is checked against what the index saw (not trusted),
// in a compressed layer (its spans kept apart from the frames) and an
// uncompressed one (its spans are its frames).
func TestASpanChangedAfterOpenIsAReadError(t *testing.T) {
	for _, algo := range []string{pcomp.Zstd, pcomp.None} {
		t.Run(algo, func(t *testing.T) {
			c := newChain(t, algo)
			img := testImage(12<<20, 4)
			c.add(img, nil)
			d := openPoint(t, c, 0, Options{})
			if _, err := d.Wait(context.Background()); err != nil || d.Damage() != "" {
				t.Fatalf("the index: %v, damage %q", err, d.Damage())
			}
			fi, _ := os.Stat(c.storedPath(0))
			flipStored(t, c, 0, fi.Size()/2)
			good, err := readAll(d)
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "no longer matches the catalog") {
				t.Fatalf("read after the stored file changed: %d bytes, %v", good, err)
			}
			checkPrefix(t, d, img, good)
		})
	}
}

func TestResolveFindsPoints(t *testing.T) {
	c := newChain(t, pcomp.Zstd)
	img := testImage(4<<20, 5)
	c.add(img, nil)
	img, ch := evolve(img, 1)
	c.add(img, ch)
	ctx := context.Background()
	for _, tc := range []struct {
		point, want, code string
	}{
		{"", c.sets[1].ID, ""},
		{"latest", c.sets[1].ID, ""},
		{strings.TrimPrefix(c.sets[0].ID, "DB01/"), c.sets[0].ID, ""},
		{"20990101T000000Z", "", "not_found"},
		{"../x", "", "invalid_argument"},
	} {
		cat, err := Resolve(ctx, c.ft, "DB01", tc.point)
		switch {
		case tc.code != "":
			if err == nil || !strings.HasPrefix(err.Error(), tc.code+":") {
				t.Errorf("Resolve(%q) = %v, want a %s error", tc.point, err, tc.code)
			}
		case err != nil || cat.ID != tc.want:
			t.Errorf("Resolve(%q) = %v, %v, want %s", tc.point, cat, err, tc.want)
		}
	}
	ps, err := Points(ctx, c.ft, "")
	if err != nil || len(ps) != 2 || ps[0].ID != c.sets[0].ID {
		t.Fatalf("Points = %v, %v", ps, err)
	}
}

// gated holds the index's read of one stored file after its first
// bytes until the test releases it.
type gated struct {
	transports.Transport
	file  string
	after int64
	gate  chan struct{}
}

func (g *gated) Open(ctx context.Context, p string, off int64) (io.ReadCloser, error) {
	rc, err := g.Transport.Open(ctx, p, off)
	if err != nil || off != 0 || !strings.HasSuffix(p, g.file) {
		return rc, err
	}
	return &gatedReader{ReadCloser: rc, g: g, ctx: ctx}, nil
}

type gatedReader struct {
	io.ReadCloser
	g   *gated
	ctx context.Context
	n   int64
}

func (r *gatedReader) Read(p []byte) (int, error) {
	if r.n >= r.g.after {
		select {
		case <-r.g.gate:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	} else if int64(len(p)) > r.g.after-r.n {
		p = p[:r.g.after-r.n]
	}
	n, err := r.ReadCloser.Read(p)
	r.n += int64(n)
	return n, err
}

// TestTheStartOfADiskReadsBeforeItsIndexEnds: a read of the first bytes
// is served once the spans holding them are checked, while the index of
// the rest still waits for the target.
func TestTheStartOfADiskReadsBeforeItsIndexEnds(t *testing.T) {
	c := newChain(t, pcomp.None) // frames are spans: the first span's records publish alone
	img := testImage(16<<20, 6)
	c.add(img, nil)
	g := &gated{Transport: c.ft, file: diskFile, after: 6 << 20, gate: make(chan struct{})}
	d, err := Open(context.Background(), g, c.sets[0], "scsi0:0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	p := make([]byte, 1<<20)
	if n, err := d.ReadAt(p, 4096); err != nil || !bytes.Equal(p[:n], img[4096:4096+n]) {
		t.Fatalf("a read of the start while the index waits: %d bytes, %v", n, err)
	}
	if st := d.Stats(); st.Done || st.StoredBytes >= 16<<20 {
		t.Fatalf("the index ended before the target let it read on: %+v", st)
	}
	close(g.gate)
	st, err := d.Wait(context.Background())
	if err != nil || !st.Done || d.Damage() != "" {
		t.Fatalf("after the gate opened: %+v, %v, %q", st, err, d.Damage())
	}
	checkReads(t, d, img)
}

// TestAnEncryptedPointNeedsItsIdentity: without an identity, or with one
// that is not a recipient's, Open fails before anything is read, and says
// what to give.
func TestAnEncryptedPointNeedsItsIdentity(t *testing.T) {
	c := newEncryptedChain(t, pcomp.Zstd)
	c.add(testImage(1<<20, 1), nil)
	other, _ := age.GenerateX25519Identity()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		code string
		want string
	}{
		{"no identity", context.Background(), runtime.CodeConfig, "--identity"},
		{"another identity", sets.WithKeyring(context.Background(), &sets.Keyring{Identities: []age.Identity{other}}), runtime.CodeAuth, "other recipients"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(tc.ctx, c.ft, c.sets[0], "scsi0:0", Options{})
			var re *runtime.Error
			if !errors.As(err, &re) || re.Code != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want code %s naming %q", err, tc.code, tc.want)
			}
		})
	}
}
