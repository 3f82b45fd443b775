package sets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/vmlua/vmlua/internal/pcomp"
	"github.com/vmlua/vmlua/internal/spansum"
	"github.com/vmlua/vmlua/internal/sparse"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// Problem is one mismatch verify found.
type Problem struct {
	File    string
	Problem string
}

// VerifyResult is what Verify found.
type VerifyResult struct {
	ID       string
	OK       bool
	Files    int
	Bytes    int64
	Problems []Problem
	// Chain is, for an incremental, the sets its point needs, full
	// first; each was verified too (problems name their set).
	Chain []string
	// Encrypted is set when a set verified is encrypted. Unauthenticated
	// lists the encrypted sets whose catalog and content could not be
	// checked for want of an identity (a verify on the backup host):
	// their stored bytes were checked against their catalogs only.
	Encrypted       bool
	Unauthenticated []string
}

// Verify re-reads every file of the set, checks its size and sha256, and
// decodes every disk image to check its content digest; and it applies
// the checks restore applies to the catalog (RestoreProblems), so that a
// set that verifies is one restore takes.
func Verify(r *runtime.Run, t transports.Transport, id string) (VerifyResult, error) {
	ctx := r.Context()
	res := VerifyResult{ID: id}
	cat, err := ReadCatalog(ctx, t, id+"/"+catalog.FileName)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := t.Stat(ctx, id); serr != nil {
				return res, &runtime.Error{Code: runtime.CodeNotFound, Path: id, Message: "there is no set " + id + " on this target (backup.list shows the sets)"}
			}
			res.Problems = append(res.Problems, Problem{File: catalog.FileName, Problem: "missing: the set is incomplete (its backup did not finish)"})
			return res, nil
		}
		res.Problems = append(res.Problems, Problem{File: catalog.FileName, Problem: err.Error()})
		return res, nil
	}
	if cat.HostConfig == nil {
		// what restore would refuse: a verified set is a restorable one
		for _, p := range RestoreProblems(cat, "") {
			res.Problems = append(res.Problems, p)
			r.Log.Error("verify: restore would refuse the set", "set", id, "file", p.File, "problem", p.Problem)
		}
	}
	chain := []*catalog.Catalog{cat}
	if cat.Incremental() {
		if chain, err = ChainOf(ctx, t, cat); err != nil {
			res.Problems = append(res.Problems, Problem{File: cat.Parent, Problem: err.Error()})
			chain = []*catalog.Catalog{cat}
		} else {
			for _, d := range cat.Disks {
				if _, err := LayersOf(chain, d.ID); err != nil {
					res.Problems = append(res.Problems, Problem{File: d.File, Problem: err.Error()})
				}
			}
		}
		for _, c := range chain {
			res.Chain = append(res.Chain, c.ID)
		}
	}
	for _, c := range chain {
		var key []byte
		catName := catalog.FileName // as problems name it: SET/FILE for another set of the chain
		if c.ID != id {
			catName = c.ID + "/" + catName
		}
		if kr := KeyringOf(ctx); c.Encryption == nil && kr != nil && kr.Require {
			if _, err := SetKey(ctx, t, c); err != nil {
				res.Problems = append(res.Problems, Problem{File: catName, Problem: err.Error()})
			}
		}
		if c.Encryption != nil {
			res.Encrypted = true
			if key, err = SetKey(ctx, t, c); err != nil {
				if NoIdentity(err) && len(identities(ctx)) == 0 {
					res.Unauthenticated = append(res.Unauthenticated, c.ID)
					r.Log.Warn("verify: the set is encrypted and no identity was given: its stored bytes are checked against its catalog, not its catalog's authenticity nor its content (give --identity for that)", "set", c.ID)
				} else {
					res.Problems = append(res.Problems, Problem{File: catName, Problem: err.Error()})
					r.Log.Error("verify: the set's key or catalog fails", "set", c.ID, "error", err)
				}
			}
		}
		disks := map[string]catalog.Disk{}
		for _, d := range c.Disks {
			disks[d.File] = d
		}
		for _, f := range c.Files {
			if err := ctx.Err(); err != nil {
				return res, runtime.Wrap(err, runtime.CodeCanceled)
			}
			n, problem := verifyFile(ctx, t, c.ID, f, disks, key)
			res.Files++
			res.Bytes += n
			if problem != "" {
				name := f.Name
				if c.ID != id {
					name = c.ID + "/" + f.Name
				}
				res.Problems = append(res.Problems, Problem{File: name, Problem: problem})
				r.Log.Error("verify: mismatch", "set", c.ID, "file", f.Name, "problem", problem)
			}
		}
	}
	res.OK = len(res.Problems) == 0
	r.Log.Info("verify: done", "set", id, "files", res.Files, "bytes", res.Bytes, "ok", res.OK, "problems", len(res.Problems))
	return res, nil
}

// verifyFile checks one stored file against its catalog entry; a disk
// image is decoded too, and an encrypted file decrypted when key is
// given (without it, only its stored bytes are checked).
func verifyFile(ctx context.Context, t transports.Transport, id string, f catalog.File, disks map[string]catalog.Disk, key []byte) (int64, string) {
	rc, err := t.Open(ctx, id+"/"+f.Name, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, "missing"
	}
	if err != nil {
		return 0, "cannot be read: " + err.Error()
	}
	defer rc.Close()
	h, sp := sha256.New(), spansum.New()
	defer sp.Sum() // ends its goroutines on every return
	var hw io.Writer = h
	if f.Spans != nil {
		hw = sp // span by span, so that a mismatch names its offset
	}
	cr := &countReader{r: rc}
	tee := io.TeeReader(cr, hw)
	decodeProblem := ""
	var plain io.Reader = tee
	if f.Encrypted && key != nil {
		dr, err := decrypting(tee, f, key)
		if err != nil {
			decodeProblem = err.Error()
		}
		plain = dr
	}
	switch d, ok := disks[f.Name]; {
	case decodeProblem != "" || f.Encrypted && key == nil:
	case ok:
		decodeProblem = checkImage(plain, f.Compression, d)
	case f.Encrypted:
		if _, err := io.Copy(io.Discard, plain); err != nil {
			decodeProblem = err.Error()
		}
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return cr.n, fmt.Sprintf("cannot be read after %d bytes: %v", cr.n, err)
	}
	if p := storedProblem(f, cr.n, hex.EncodeToString(h.Sum(nil)), sp.Sum()); p != "" {
		return cr.n, p
	}
	switch {
	case decodeProblem != "":
		return cr.n, decodeProblem
	}
	return cr.n, ""
}

// checkImage decodes a stored disk image and checks its content digest.
func checkImage(r io.Reader, compression string, d catalog.Disk) string {
	dr, err := pcomp.NewReader(r, compression)
	if err != nil {
		return "cannot be decompressed: " + err.Error()
	}
	defer dr.Close()
	p := checkDecoded(dr, d)
	if p == "" {
		// the whole stored stream decodes (an encrypted file's last span,
		// which the image's end does not reach, is checked here)
		if _, err := io.Copy(io.Discard, dr); err != nil {
			return "the stored stream after the image cannot be decoded: " + err.Error()
		}
	}
	return p
}

// checkDecoded checks a decompressed disk image.
func checkDecoded(dr io.Reader, d catalog.Disk) string {
	sr, err := sparse.NewLayerReader(dr)
	if err != nil {
		return "not a disk image: " + err.Error()
	}
	defer sr.Close()
	if p := streamProblem(sr, d); p != "" {
		return p
	}
	if err := sr.Verify(); err != nil {
		return "the disk image cannot be decoded: " + err.Error()
	}
	if d.ContentSHA256 != "" && sr.Sum() != d.ContentSHA256 {
		return "the disk image's content digest differs from the catalog's"
	}
	return ""
}

// streamProblem says how a disk image's stream header disagrees with the
// catalog's record of the disk: its kind (full or incremental layer), its
// stream version, its size; "" when it agrees.
func streamProblem(sr *sparse.Reader, d catalog.Disk) string {
	switch {
	case sr.IsDelta() != catalog.IsDelta(d.Format):
		return "the disk image's kind (full or incremental layer) differs from the catalog's format " + d.Format
	case sr.Version() != catalog.StreamVersion(d.Format):
		return fmt.Sprintf("the disk image is a version %d stream, the catalog's format %s says version %d", sr.Version(), d.Format, catalog.StreamVersion(d.Format))
	case sr.Size() != d.Capacity:
		return fmt.Sprintf("the disk image is %d bytes, the catalog says %d", sr.Size(), d.Capacity)
	}
	return ""
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
