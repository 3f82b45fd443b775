package simtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/vmlua/vmlua/internal/pcomp"
	"github.com/vmlua/vmlua/internal/sparse"
	"github.com/vmlua/vmlua/modules/backup/catalog"
)

// EditCatalog rewrites the catalog.json of the set id stored under dir
// (a file:// target) with edit applied: a set as a careless or hostile
// writer could leave it, whose files still match.
func EditCatalog(t testing.TB, dir, id string, edit func(*catalog.Catalog)) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(id), catalog.FileName)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := catalog.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	edit(c)
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	writeOver(t, p, out)
}

// ZeroDisks rewrites every disk image of the set id stored under dir as
// an all-zero image of capacity bytes, uncompressed, and its catalog to
// match: a valid set that claims disks of any size (1 EiB included) in a
// few bytes each.
func ZeroDisks(t testing.TB, dir, id string, capacity int64) {
	t.Helper()
	EditCatalog(t, dir, id, func(c *catalog.Catalog) {
		for i, d := range c.Disks {
			var buf bytes.Buffer
			w := sparse.NewWriter(&buf, capacity)
			if err := w.Zero(capacity); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			c.Disks[i].Capacity, c.Disks[i].ContentSHA256, c.Disks[i].DataBytes = capacity, w.Sum(), 0
			WriteSetFile(t, c, dir, d.File, buf.Bytes())
		}
	})
}

// writeOver replaces the file p (sets are written read-only).
func writeOver(t testing.TB, p string, b []byte) {
	t.Helper()
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// WriteSetFile replaces the file name of the set c (stored under dir) by
// b, and c's entry for it to match (size, sha256, uncompressed); within
// EditCatalog's edit, the catalog written then matches the file.
func WriteSetFile(t testing.TB, c *catalog.Catalog, dir, name string, b []byte) {
	t.Helper()
	for i, f := range c.Files {
		if f.Name == name {
			sum := sha256.Sum256(b)
			c.Files[i].Size, c.Files[i].SHA256, c.Files[i].Spans, c.Files[i].Compression = int64(len(b)), hex.EncodeToString(sum[:]), nil, pcomp.None
			writeOver(t, filepath.Join(dir, filepath.FromSlash(c.ID), name), b)
			return
		}
	}
	t.Fatalf("the set %s has no file %s", c.ID, name)
}
