package sets

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vmlua/vmlua/internal/pcomp"
	"github.com/vmlua/vmlua/internal/sparse"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// Synthesize merges the chain of set id into a new full set holding the
// same point, without touching vSphere: the disks are rebuilt from the
// chain (every layer checked), the other files copied. The new set is
// named one second (or the first free second) after the source, records
// the source's change ids (the next incremental can build on it) and has
// mode "synthetic". Nothing is removed.
func Synthesize(r *runtime.Run, t transports.Transport, id string) (out *catalog.Catalog, err error) {
	ctx := r.Context()
	src, err := ReadCatalog(ctx, t, id+"/"+catalog.FileName)
	if err != nil {
		return nil, &runtime.Error{Code: runtime.CodeNotFound, Path: id, Message: fmt.Sprintf("set %s has no readable catalog.json (%v): only a complete set can be synthesized (backup.list shows the sets)", id, err), Err: err}
	}
	chain, err := ChainOf(ctx, t, src)
	if err != nil {
		return nil, err
	}
	vmDir, ts, err := catalog.ParseSetID(src.ID)
	if err != nil {
		return nil, runtime.Wrap(err, runtime.CodeVerify)
	}
	at := ts.Add(time.Second)
	for {
		if _, err := t.Stat(ctx, vmDir+"/"+at.Format(catalog.TimeFormat)); err != nil {
			break
		}
		at = at.Add(time.Second)
	}
	newID := catalog.SetID(vmDir, at)
	if r.DryRunAction("synthesize a full", "set", id, "new", newID, "chain", len(chain)) {
		return nil, nil
	}
	lock, err := acquireLock(r, t, vmDir, newID, false)
	if err != nil {
		return nil, err
	}
	defer lock.release()

	cat := *src
	cat.Version, cat.ID, cat.Complete, cat.Finished = catalog.VersionFull, newID, false, time.Time{}
	cat.Mode, cat.Parent, cat.Depth, cat.FullReason, cat.SynthesizedFrom = catalog.ModeSynthetic, "", 0, "", src.ID
	cat.ParentCatalogSHA256 = ""
	cat.VMLua = runtime.Version
	cat.Disks, cat.Files, cat.Encryption = nil, nil, nil
	// an encrypted set's synthetic full is encrypted under the same data
	// key (its wrapped key copied: no recipient is needed), each file
	// with a key of its own (spancrypt: a fresh salt per file)
	var key, wrapped []byte
	if e := src.Encryption; e != nil {
		if key, err = SetKey(ctx, t, src); err != nil {
			return nil, err
		}
		if wrapped, err = readSmall(ctx, t, src.ID+"/"+e.KeyFile); err != nil {
			return nil, &runtime.Error{Code: runtime.CodeTransport, Path: src.ID + "/" + e.KeyFile, Message: "synthesize: cannot read the set's wrapped key: " + err.Error(), Err: err}
		}
	}
	if err := t.MkdirAll(ctx, newID); err != nil {
		return nil, &runtime.Error{Code: runtime.CodeTransport, Path: newID, Message: fmt.Sprintf("cannot create the set's folder: %v", err), Err: err}
	}
	sw := NewWriter(ctx, t, newID, &cat)
	complete := false
	defer func() {
		if !complete {
			_ = sw.Discard() // no progress.json write lands after the removal
			if rerr := RemoveAll(ctx, t, newID); rerr != nil {
				r.Log.Error("synthesize failed and its partial set could not be removed; it is listed as incomplete", "set", newID, "error", rerr)
			}
		}
	}()
	sw.Progress()
	if key != nil {
		e := *src.Encryption
		e.MAC = ""
		if err := sw.Encrypt(key, wrapped, &e); err != nil {
			return nil, err
		}
	}
	diskFiles := map[string]bool{}
	for _, d := range src.Disks {
		diskFiles[d.File] = true
	}
	for _, f := range src.Files {
		if diskFiles[f.Name] {
			continue
		}
		if err := copyFile(ctx, t, src.ID, newID, f); err != nil {
			return nil, &runtime.Error{Code: runtime.CodeTransport, Path: src.ID + "/" + f.Name, Message: "synthesize: cannot copy the file: " + err.Error(), Err: err}
		}
		if err := sw.Add(f); err != nil {
			return nil, err
		}
	}
	for _, d := range src.Disks {
		nd, err := synthesizeDisk(r, t, chain, d, sw)
		if err != nil {
			return nil, &runtime.Error{Code: runtime.CodeVerify, Disk: d.ID, Path: src.ID, Message: "synthesize: the chain cannot be merged (run backup.verify on it): " + err.Error(), Err: err}
		}
		if err := sw.AddDisk(nd); err != nil {
			return nil, err
		}
	}
	sw.Update(func(c *catalog.Catalog) { c.Complete, c.Finished = true, time.Now().UTC().Truncate(time.Second) })
	if err := sw.WriteFinal(); err != nil {
		return nil, err
	}
	complete = true
	if err := t.Remove(ctx, newID+"/"+catalog.ProgressName); err != nil {
		r.Log.Warn("synthesize: could not remove progress.json (harmless)", "set", newID, "error", err)
	}
	r.Log.Info("synthesize: full set written", "from", src.ID, "set", newID, "chain", len(chain))
	return &cat, nil
}

func copyFile(ctx context.Context, t transports.Transport, from, to string, f catalog.File) error {
	rc, err := t.Open(ctx, from+"/"+f.Name, 0)
	if err != nil {
		return err
	}
	defer rc.Close()
	opts := transports.UploadOptions{ExpectedSize: f.Size}
	if f.Spans != nil {
		opts.Spans = true
	}
	res, err := transports.Upload(ctx, t, to+"/"+f.Name, rc, opts)
	if err != nil {
		return err
	}
	if f.Spans != nil && res.Spans.Root != f.Spans.Root || f.Spans == nil && res.SHA256 != f.SHA256 {
		return fmt.Errorf("%s/%s does not match its catalog (sha256): run backup.verify", from, f.Name)
	}
	return nil
}

func synthesizeDisk(r *runtime.Run, t transports.Transport, chain []*catalog.Catalog, d catalog.Disk, sw *Writer) (catalog.Disk, error) {
	ctx := r.Context()
	ls, err := LayersOf(chain, d.ID)
	if err != nil {
		return d, err
	}
	cr, err := OpenChain(ctx, t, ls)
	if err != nil {
		return d, err
	}
	defer cr.Close()
	compress := ls[len(ls)-1].File.Compression
	stored := strings.TrimSuffix(d.File, pcomp.Ext(compress))
	stored += pcomp.Ext(compress)
	aw, err := transports.CreateAtomic(ctx, t, sw.dir+"/"+stored, transports.UploadOptions{Spans: true})
	if err != nil {
		return d, err
	}
	defer aw.Abort()
	ew, err := Seal(aw, sw.key, stored)
	if err != nil {
		return d, err
	}
	cw, err := pcomp.NewWriter(ew, compress, 0)
	if err != nil {
		return d, err
	}
	defer cw.Close()
	spw := sparse.NewWriter(cw, d.Capacity)
	defer spw.Close() // on failure: its checksum stops (after success, nothing)
	tr := r.Progress.Start("synthesize "+d.ID, d.Capacity)
	_, err = io.CopyBuffer(transports.ProgressWriter(spw, tr), cr, make([]byte, 1<<20))
	if err == nil {
		err = cr.Finish()
	}
	if err == nil {
		err = spw.Close()
	}
	if err == nil {
		err = cw.Close()
	}
	if err == nil {
		err = ew.Close()
	}
	if err != nil {
		tr.Done(err)
		return d, err
	}
	res, err := aw.Commit()
	tr.Done(err)
	if err != nil {
		return d, err
	}
	if err := sw.Add(catalog.File{Name: stored, Size: res.Bytes, Spans: SpansOf(res.Spans), Compression: compress, Kind: catalog.KindDisk, Source: ls[len(ls)-1].Set + "/" + d.File, Disk: d.ID, Encrypted: sw.key != nil}); err != nil {
		return d, err
	}
	nd := d
	nd.Format, nd.File, nd.ContentSHA256, nd.DataBytes = catalog.FormatOf(sparse.Version, false), stored, spw.Sum(), spw.Stats().DataBytes
	nd.BaseChangeID, nd.ParentContentSHA256, nd.ChangedBytes = "", "", 0
	nd.Read, nd.ReadReason, nd.DifferingBytes, nd.CBTCheck = "", "", 0, nil // how the source was read; ImageSpans stay: the same point
	nd.ReadPath, nd.ReadPathReason = "", ""
	return nd, nil
}
