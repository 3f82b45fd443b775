package sets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/vmlua/vmlua/internal/spansum"
	"io"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/vmlua/vmlua/internal/pcomp"
	"github.com/vmlua/vmlua/internal/sparse"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// SetInfo is one set as a listing shows it.
type SetInfo struct {
	ID       string
	VM       string // the VM folder's name
	Time     time.Time
	Complete bool
	Size     int64 // bytes of the files present
	Files    int
	// Catalog is the set's catalog.json, or for an incomplete set its
	// progress.json when there is one; nil otherwise.
	Catalog *catalog.Catalog
}

// List returns the sets under t, of one VM (vmName != "") or of all,
// oldest first.
func List(ctx context.Context, t transports.Transport, vmName string) ([]SetInfo, error) {
	var vms []string
	if rest, ok := strings.CutPrefix(vmName, catalog.HostPrefix); ok {
		vms = []string{catalog.HostPrefix + DirName(rest)} // a host's configuration sets
	} else if vmName != "" {
		vms = []string{DirName(vmName)}
	} else {
		fis, err := t.List(ctx, "")
		if err != nil {
			return nil, err
		}
		for _, fi := range fis {
			if fi.IsDir && !strings.HasPrefix(fi.Name, ".") {
				vms = append(vms, fi.Name)
			}
		}
	}
	var out []SetInfo
	for _, vmDir := range vms {
		fis, err := t.List(ctx, vmDir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, fi := range fis {
			if !fi.IsDir {
				continue
			}
			ts, err := time.Parse(catalog.TimeFormat, fi.Name)
			if err != nil {
				continue
			}
			si, err := setInfo(ctx, t, vmDir+"/"+fi.Name)
			if err != nil {
				return nil, err
			}
			si.VM, si.Time = vmDir, ts
			out = append(out, si)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func setInfo(ctx context.Context, t transports.Transport, id string) (SetInfo, error) {
	si := SetInfo{ID: id}
	fis, err := t.List(ctx, id)
	if err != nil {
		return si, err
	}
	have := map[string]bool{}
	for _, fi := range fis {
		if fi.IsDir || transports.IsTemp(fi.Name) {
			continue
		}
		have[fi.Name] = true
		si.Size += fi.Size
		if fi.Name != catalog.FileName && fi.Name != catalog.ProgressName {
			si.Files++
		}
	}
	switch {
	case have[catalog.FileName]:
		c, err := ReadCatalog(ctx, t, id+"/"+catalog.FileName)
		if err == nil {
			si.Catalog, si.Complete = c, c.Complete
		}
	case have[catalog.ProgressName]:
		if c, err := ReadCatalog(ctx, t, id+"/"+catalog.ProgressName); err == nil {
			c.Complete = false
			si.Catalog = c
		}
	}
	return si, nil
}

// NewestComplete returns the catalog of the newest complete set in a VM's
// folder (nil when there is none), reading catalogs from the newest set
// back only until one is complete: List reads every set's, and a base for
// an incremental needs one.
func NewestComplete(ctx context.Context, t transports.Transport, vmDir string) (*catalog.Catalog, error) {
	fis, err := t.List(ctx, vmDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	type set struct {
		name string
		ts   time.Time
	}
	var sets []set
	for _, fi := range fis {
		if ts, err := time.Parse(catalog.TimeFormat, fi.Name); err == nil && fi.IsDir {
			sets = append(sets, set{fi.Name, ts})
		}
	}
	sort.Slice(sets, func(i, j int) bool {
		if !sets[i].ts.Equal(sets[j].ts) {
			return sets[i].ts.After(sets[j].ts)
		}
		return sets[i].name > sets[j].name
	})
	for _, s := range sets {
		// as List: a catalog that cannot be read or is not complete makes an incomplete set
		if c, err := ReadCatalog(ctx, t, vmDir+"/"+s.name+"/"+catalog.FileName); err == nil && c.Complete {
			return c, nil
		} else if err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, nil
}

// ReadCatalog reads and parses the catalog file p (a set's catalog.json or
// progress.json).
func ReadCatalog(ctx context.Context, t transports.Transport, p string) (*catalog.Catalog, error) {
	rc, err := t.Open(ctx, p, 0)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return nil, err
	}
	return catalog.Parse(b)
}

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
}

// Verify re-reads every file of the set, checks its size and sha256, and
// decodes every disk image to check its content digest.
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
		disks := map[string]catalog.Disk{}
		for _, d := range c.Disks {
			disks[d.File] = d
		}
		for _, f := range c.Files {
			if err := ctx.Err(); err != nil {
				return res, runtime.Wrap(err, runtime.CodeCanceled)
			}
			n, problem := verifyFile(ctx, t, c.ID, f, disks)
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

func verifyFile(ctx context.Context, t transports.Transport, id string, f catalog.File, disks map[string]catalog.Disk) (int64, string) {
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
	if d, ok := disks[f.Name]; ok {
		decodeProblem = checkImage(tee, f.Compression, d)
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return cr.n, fmt.Sprintf("cannot be read after %d bytes: %v", cr.n, err)
	}
	if p := StoredProblem(f, cr.n, hex.EncodeToString(h.Sum(nil)), sp.Sum()); p != "" {
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
	sr, err := sparse.NewLayerReader(dr)
	if err != nil {
		return "not a disk image: " + err.Error()
	}
	if sr.IsDelta() != (d.Format == catalog.FormatDelta1) {
		return "the disk image's kind (full or incremental layer) differs from the catalog's format " + d.Format
	}
	if err := sr.Verify(); err != nil {
		return "the disk image cannot be decoded: " + err.Error()
	}
	if sr.Size() != d.Capacity {
		return fmt.Sprintf("the disk image is %d bytes, the catalog says %d", sr.Size(), d.Capacity)
	}
	if d.ContentSHA256 != "" && sr.Sum() != d.ContentSHA256 {
		return "the disk image's content digest differs from the catalog's"
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
