package sets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/vmlua/vmlua/internal/spansum"
	"hash"
	"io"
	"io/fs"
	"strings"

	"github.com/vmlua/vmlua/internal/pcomp"
	"github.com/vmlua/vmlua/internal/sparse"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// maxChain bounds how far parents are followed (a loop or a damaged
// catalog must not hang a restore).
const maxChain = 1000

// ChainOf returns the chain that cat's point needs, its full first and cat
// last. Every parent must exist, be complete and be of the same VM.
func ChainOf(ctx context.Context, t transports.Transport, cat *catalog.Catalog) ([]*catalog.Catalog, error) {
	chain := []*catalog.Catalog{cat}
	seen := map[string]bool{cat.ID: true}
	for c := cat; c.Incremental(); {
		if len(chain) > maxChain || seen[c.Parent] {
			return nil, &runtime.Error{Code: runtime.CodeVerify, Path: cat.ID, Message: fmt.Sprintf("the chain of %s loops or is longer than %d sets: its catalogs are damaged", cat.ID, maxChain)}
		}
		seen[c.Parent] = true
		p, sum, err := ReadCatalogSum(ctx, t, c.Parent+"/"+catalog.FileName)
		if err != nil {
			what := "cannot be read: " + err.Error()
			if errors.Is(err, fs.ErrNotExist) {
				what = "is missing or incomplete (no catalog.json)"
			}
			return nil, &runtime.Error{Code: runtime.CodeNotFound, Path: c.Parent, Message: fmt.Sprintf("set %s is an incremental on %s, which %s: the sets of this chain after it cannot be restored; restore an earlier point or a full", c.ID, c.Parent, what), Err: err}
		}
		if !p.Complete || p.ID != c.Parent || DirName(p.VM.Name) != DirName(c.VM.Name) {
			return nil, &runtime.Error{Code: runtime.CodeVerify, Path: c.Parent, Message: fmt.Sprintf("set %s names %s as its parent, but that catalog is incomplete or of another set/VM", c.ID, c.Parent)}
		}
		// an encrypted set's catalog is authenticated: the sha256 of the
		// parent's catalog it records is the one its backup read; another
		// one now means the parent's catalog changed after (for instance
		// its change ids altered, then put back, which would have made
		// this incremental miss changes)
		if c.Encryption != nil && c.ParentCatalogSHA256 != "" && c.ParentCatalogSHA256 != sum {
			return nil, &runtime.Error{Code: runtime.CodeVerify, Path: c.Parent, Message: fmt.Sprintf("set %s was made on its parent %s's catalog as it was then, and that catalog has changed since (sha256 %s, then %s): this chain cannot be trusted; restore an earlier point or a full", c.ID, c.Parent, sum, c.ParentCatalogSHA256)}
		}
		chain = append([]*catalog.Catalog{p}, chain...)
		c = p
	}
	return chain, nil
}

// Layer is one stored layer of a disk: the file of a set.
type Layer struct {
	Set  string
	File catalog.File
	Disk catalog.Disk
	// Catalog is the set's catalog (its encryption: SetKey).
	Catalog *catalog.Catalog
}

// LayersOf returns the layers of disk id along a chain, checking that each
// incremental applies on the layer below it.
func LayersOf(chain []*catalog.Catalog, id string) ([]Layer, error) {
	var out []Layer
	for _, c := range chain {
		var d *catalog.Disk
		for i := range c.Disks {
			if c.Disks[i].ID == id {
				d = &c.Disks[i]
			}
		}
		if d == nil {
			return nil, fmt.Errorf("disk %s is not in set %s of the chain", id, c.ID)
		}
		f, ok := c.File(d.File)
		if !ok {
			return nil, fmt.Errorf("set %s does not list the file %s of disk %s", c.ID, d.File, id)
		}
		if catalog.IsDelta(d.Format) {
			if len(out) == 0 {
				return nil, fmt.Errorf("the chain of disk %s starts with an incremental layer (%s)", id, c.ID)
			}
			below := out[len(out)-1].Disk
			if d.ParentContentSHA256 != below.ContentSHA256 || d.Capacity != below.Capacity {
				return nil, fmt.Errorf("the layer of disk %s in %s was made on another parent than the one in %s (digest or size differ)", id, c.ID, out[len(out)-1].Set)
			}
		} else {
			out = out[:0] // a full restarts the chain (a set made with a full for this disk)
		}
		out = append(out, Layer{Set: c.ID, File: f, Disk: *d, Catalog: c})
	}
	return out, nil
}

// openLayer is one open layer: its stored bytes counted and hashed.
type openLayer struct {
	Layer
	rc io.ReadCloser
	cr *countReader
	h  hash.Hash       // the stored file's sha256 (a set before span digests)
	sp *spansum.Hasher // its span digest
	hw io.Writer       // h or sp, as the catalog records the file
	dr io.ReadCloser
	sr *sparse.Reader
}

// Key is the data key of the layer's set (nil: the file is not
// encrypted).
func (l Layer) Key(ctx context.Context, t transports.Transport) ([]byte, error) {
	if !l.File.Encrypted {
		if kr := KeyringOf(ctx); kr != nil && kr.Require && l.Catalog != nil {
			return SetKey(ctx, t, l.Catalog) // refuses it
		}
		return nil, nil
	}
	if l.Catalog == nil {
		return nil, fmt.Errorf("%s/%s is encrypted and its layer names no catalog", l.Set, l.File.Name)
	}
	return SetKey(ctx, t, l.Catalog)
}

// decrypting returns the layer's stored bytes r decrypted (r itself for
// a file that is not encrypted).
func (l Layer) decrypting(ctx context.Context, t transports.Transport, r io.Reader) (io.Reader, error) {
	key, err := l.Key(ctx, t)
	if err != nil {
		return nil, err
	}
	return decrypting(r, l.File, key)
}

// ChainReader is the flat image of a disk at one point, rebuilt on the fly.
type ChainReader struct {
	io.Reader
	layers []*openLayer
}

// OpenChain opens every layer and merges them.
func OpenChain(ctx context.Context, t transports.Transport, ls []Layer) (*ChainReader, error) {
	cr := &ChainReader{}
	var srs []*sparse.Reader
	for _, l := range ls {
		rc, err := t.Open(ctx, l.Set+"/"+l.File.Name, 0)
		if err != nil {
			cr.Close()
			return nil, fmt.Errorf("%s/%s: %w", l.Set, l.File.Name, err)
		}
		ol := &openLayer{Layer: l, rc: rc, h: sha256.New(), sp: spansum.New()}
		ol.hw = ol.h
		if l.File.Spans != nil {
			ol.hw = ol.sp
		}
		cr.layers = append(cr.layers, ol)
		ol.cr = &countReader{r: rc}
		var src io.Reader = io.TeeReader(ol.cr, ol.hw)
		if src, err = l.decrypting(ctx, t, src); err != nil {
			cr.Close()
			return nil, fmt.Errorf("%s/%s: %w", l.Set, l.File.Name, err)
		}
		ol.dr, err = pcomp.NewReader(src, l.File.Compression)
		if err != nil {
			cr.Close()
			return nil, fmt.Errorf("%s/%s: %w", l.Set, l.File.Name, err)
		}
		ol.sr, err = sparse.NewLayerReader(ol.dr)
		if err != nil {
			cr.Close()
			return nil, fmt.Errorf("%s/%s: %w", l.Set, l.File.Name, err)
		}
		if p := streamProblem(ol.sr, l.Disk); p != "" {
			cr.Close()
			return nil, fmt.Errorf("%s/%s: %s", l.Set, l.File.Name, p)
		}
		srs = append(srs, ol.sr)
	}
	m, err := sparse.Merge(srs)
	if err != nil {
		cr.Close()
		return nil, err
	}
	cr.Reader = m
	return cr, nil
}

// Finish checks, once the image was read to its end, every layer's stored
// file to its last byte against the catalog.
func (c *ChainReader) Finish() error {
	var errs []string
	for _, l := range c.layers {
		if _, err := io.Copy(io.Discard, io.TeeReader(l.cr, l.hw)); err != nil {
			errs = append(errs, fmt.Sprintf("%s/%s: %v", l.Set, l.File.Name, err))
			continue
		}
		switch {
		case l.sr.Sum() == "":
			errs = append(errs, fmt.Sprintf("%s/%s: the image was not read to its end", l.Set, l.File.Name))
		case l.sr.Sum() != l.Disk.ContentSHA256:
			errs = append(errs, fmt.Sprintf("%s/%s: the image's content digest differs from the catalog's", l.Set, l.File.Name))
		default:
			if p := storedProblem(l.File, l.cr.n, hex.EncodeToString(l.h.Sum(nil)), l.sp.Sum()); p != "" {
				errs = append(errs, fmt.Sprintf("%s/%s: the stored file differs from the catalog's (%s): run backup.verify", l.Set, l.File.Name, p))
			}
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func (c *ChainReader) Close() {
	for _, l := range c.layers {
		if l.dr != nil {
			l.dr.Close()
		}
		l.rc.Close()
		l.sp.Sum() // ends its goroutines
		if l.sr != nil {
			l.sr.Close() // ends its checksum's
		}
	}
}
