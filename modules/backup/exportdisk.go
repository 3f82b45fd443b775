package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"strings"

	"github.com/vmlua/vmlua/internal/dsread"
	"github.com/vmlua/vmlua/internal/pcomp"
	"github.com/vmlua/vmlua/internal/sparse"
	"github.com/vmlua/vmlua/internal/vfault"
	"github.com/vmlua/vmlua/internal/vmdk"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmware/govmomi/vim25/types"
)

// exportDisk streams one frozen disk into the set: sparse, compressed,
// atomic; then its descriptor. The steps: name the disk's files in the
// set, choose the areas to read, store the descriptor while the image
// streams, stream the image, record the disk.
func exportDisk(ctx context.Context, r *runtime.Run, v *vm.VM, d vm.Disk, snap *types.ManagedObjectReference, cbt bool, inc *incDisk, sw *setWriter, compress string, names map[string]bool) (catalog.Disk, error) {
	name := v.Name()
	if levels := ownLevels(v, d); levels > 0 {
		// the state the backup froze is spread over the VM's own snapshot levels
		return exportDiskNFC(r, v, d, snap, levels, inc, sw, compress, names)
	}
	f, err := v.Frozen(ctx, d)
	if err != nil {
		return catalog.Disk{}, err
	}
	errf := func(code string, err error, format string, args ...any) error {
		return &runtime.Error{Code: code, VM: name, Disk: d.ID, Path: f.Path, Message: fmt.Sprintf(format, args...), Err: err}
	}
	files := nameDisk(f.Base(), compress, names)
	if inc != nil && inc.parent.Capacity != f.Size {
		return catalog.Disk{}, errf(runtime.CodeInvalidState, nil, "the disk's descriptor says %d bytes, its parent layer %d: the set is not written (run a full)", f.Size, inc.parent.Capacity)
	}
	readPath, pathWhy := chooseReadPath(ctx, f)
	var nfcRead *vm.NFCRead
	if readPath == vm.ReadNFC {
		r.Log.Info("backup: reading the disk through the snapshot's NFC export lease", "vm", name, "disk", d.ID, "why", pathWhy)
		if inc != nil { // NFC serves the whole disk: no changed areas to read
			whole := *inc
			whole.whole, whole.areas = true, []dsread.Area{{Off: 0, End: f.Size}}
			inc = &whole
		}
		nfcRead, err = f.OpenNFC(ctx, snap)
		if err != nil {
			return catalog.Disk{}, err
		}
		defer nfcRead.Close(ctx, false) // aborts the lease unless the read completed it
	}
	areas, wholeRead := areasToRead(r, v, d, snap, cbt && nfcRead == nil, inc, f.Size)
	if nfcRead != nil && inc != nil {
		wholeRead = nfcWhole
		if len(inc.parent.ImageSpans) == 0 {
			wholeRead = nfcWholeNoSpans
		}
	}

	// the descriptor is stored while the image streams; it is waited for
	// on every return, so nothing lands in the set after a failure
	descBytes, err := sets.SealBytes([]byte(vmdk.FlatDescriptor(f.Descriptor, f.Size/512, files.flat)), sw.Key(), files.desc)
	if err != nil {
		return catalog.Disk{}, errf(runtime.CodeError, err, "cannot encrypt the disk descriptor: %v", err)
	}
	desc := uploadMeanwhile(ctx, sw.t, sw.dir+"/"+files.desc, string(descBytes))
	defer desc.stop()
	var parentSpans []string // a whole-disk read of an incremental stores only the spans that differ from these
	if inc != nil && inc.whole {
		parentSpans = inc.parent.ImageSpans
	}
	// span digests of the image cost a sha256 pass over every byte read:
	// only for a disk whose changes are tracked, the only kind a later
	// incremental or verify_cbt compares with
	digests := d.ChangeID != ""
	img, err := streamImage(ctx, r, name+" "+d.ID, f, nfcRead, areas, sw, files.stored, compress, inc, parentSpans, digests, errf)
	if err != nil {
		return catalog.Disk{}, err
	}
	dr, err := desc.wait()
	if err != nil {
		return catalog.Disk{}, errf(runtime.CodeTransport, err, "cannot store the disk descriptor: %v", err)
	}
	enc := sw.Key() != nil
	if err := sw.Add(catalog.File{Name: files.stored, Size: img.upload.Bytes, Spans: sets.SpansOf(img.upload.Spans), Compression: compress, Kind: catalog.KindDisk, Source: f.Path, Disk: d.ID, Encrypted: enc},
		catalog.File{Name: files.desc, Size: dr.Bytes, SHA256: dr.SHA256, Compression: pcomp.None, Kind: catalog.KindDescriptor, Source: d.BasePath, Disk: d.ID, Encrypted: enc}); err != nil {
		return catalog.Disk{}, err
	}
	cd := diskRecord(d, f.Size, files, img, inc)
	cd.ReadPath, cd.ReadPathReason = readPath, pathWhy
	if wholeRead != "" {
		cd.Read, cd.ReadReason = catalog.ReadFull, wholeRead
		if inc != nil {
			cd.DifferingBytes = img.differing
		}
		level := slog.LevelInfo // a full reads every byte anyway
		if inc != nil {
			level = slog.LevelWarn // an incremental that could not read only what changed
		}
		r.Log.Log(ctx, level, "backup: the disk was read in full", "vm", name, "disk", d.ID, "why", wholeRead, "read", f.Size, "differing", cd.DifferingBytes, "incremental", inc != nil, "read_path", readPath)
	}
	r.Log.Info("backup: disk stored", "vm", name, "disk", d.ID, "file", files.stored, "format", cd.Format, "capacity", f.Size, "changed", cd.ChangedBytes, "data", img.stats.DataBytes, "stored", img.upload.Bytes, "read_path", readPath)
	return cd, nil
}

// nfcWhole and nfcWholeNoSpans say why an incremental of a disk read
// through the NFC export lease read every byte.
const (
	nfcWhole        = "the disk was read through the snapshot's NFC export lease, which serves the whole disk (no changed areas): every byte was read, and only the spans whose digest differs from the parent's are stored"
	nfcWholeNoSpans = "the disk was read through the snapshot's NFC export lease, which serves the whole disk (no changed areas): every byte was read, and stored whole: the parent set has no span digests to compare with (an older vmlua made it)"
)

// chooseReadPath says how the frozen disk is read, and why: flat over
// /folder where it can be (vm.ReadFolder), else through the snapshot's
// NFC export lease (vm.ReadNFC): on vSAN and vVols, whose disks are
// objects (f.NoFolder), and for a disk whose flat file /folder does not
// serve (404 to a read of its first sector).
func chooseReadPath(ctx context.Context, f *vm.FrozenDisk) (string, string) {
	if f.NoFolder != "" {
		return vm.ReadNFC, f.NoFolder
	}
	rdr, err := f.Reader(ctx)
	if err == nil {
		defer rdr.Close()
		e := f.Extents[0]
		err = rdr.ReadSpans(ctx, []dsread.Span{{File: e.File, N: min(512, e.Bytes), Size: e.Bytes}}, func(dsread.Span, []byte) error { return nil })
	}
	var se *dsread.StatusError
	if errors.As(err, &se) && se.Code == http.StatusNotFound {
		return vm.ReadNFC, fmt.Sprintf("/folder does not serve the disk's flat file (%s)", se.Error())
	}
	// any other failure is the flat read's to report
	return vm.ReadFolder, "flat extents, read over /folder"
}

// diskFiles are the names of one disk's files in a set.
type diskFiles struct {
	flat   string // the flat image the stored descriptor names
	desc   string // the stored descriptor
	stored string // the stored image: the flat image, sparse and compressed
}

// nameDisk names a disk's files in the set after base ("DB01_1"), as
// "DB01_1~1", "~2"... when another disk of the set (of another datastore)
// took the name; names holds the names taken, and gets these.
func nameDisk(base, compress string, names map[string]bool) diskFiles {
	b := base
	for i := 1; names[b+".vmdk"]; i++ {
		b = fmt.Sprintf("%s~%d", base, i)
	}
	flat, desc := vm.ImageNames(b)
	stored := flat + ".vls" + pcomp.Ext(compress)
	names[desc], names[stored] = true, true
	return diskFiles{flat: flat, desc: desc, stored: stored}
}

// mergeGap joins allocated areas closer than this: one longer read beats
// many small ones (the zero bytes read in between are detected anyway).
const mergeGap = 1 << 20

// areasToRead says which areas of the disk's image (of size bytes) a set
// stores: an incremental's changed areas; with changed block tracking
// (cbt), the allocated ones; else, or when tracking cannot say, all of it.
// whole says why every byte is read although tracking was to say which
// ("" when it is not): vSphere answered one extent over the whole disk.
func areasToRead(r *runtime.Run, v *vm.VM, d vm.Disk, snap *types.ManagedObjectReference, cbt bool, inc *incDisk, size int64) (areas []dsread.Area, whole string) {
	if inc != nil {
		areas = inc.areas
		if areas == nil {
			areas = []dsread.Area{}
		}
		if inc.whole {
			whole = wholeDiskAnswer + ", and only the spans whose digest differs from the parent's are stored"
			if len(inc.parent.ImageSpans) == 0 {
				whole = wholeDiskAnswer + ", and stored whole: the parent set has no span digests to compare with (an older vmlua made it)"
			}
		}
	} else if cbt {
		var err error
		var all bool
		areas, all, err = queryAreas(r.Context(), v.Obj.Client(), v.Ref, snap, d.Key, size, "*", mergeGap)
		if err != nil {
			r.Log.Warn("backup: changed block tracking cannot say which areas hold data; reading every byte", "vm", v.Name(), "disk", d.ID, "error", err)
			areas = nil
		} else if all {
			whole = "vSphere answered QueryChangedDiskAreas(\"*\") with one extent over the whole disk (an NFS datastore, where it cannot tell allocated areas, or a thick disk): every byte was read; zero blocks are still left out"
		}
	}
	if areas == nil {
		areas = []dsread.Area{{Off: 0, End: size}}
	}
	return areas, whole
}

// wholeDiskAnswer says why a disk is read in full.
const wholeDiskAnswer = "vSphere answered QueryChangedDiskAreas with one extent over the whole disk (as it does on NFS datastores, VDDK Programming Guide, \"About Changed Block Tracking\"): every byte was read"

// wholeDisk reports whether areas are one extent over the whole disk.
func wholeDisk(areas []dsread.Area, size int64) bool {
	return len(areas) == 1 && areas[0].Off == 0 && areas[0].End >= size
}

// laterUpload is a small upload running while something else streams.
type laterUpload struct {
	ch     chan uploaded
	cancel context.CancelFunc
	done   bool
}

type uploaded struct {
	res transports.UploadResult
	err error
}

// uploadMeanwhile starts uploading data as p on t (transports.Upload).
// Call wait for its result, or stop.
func uploadMeanwhile(ctx context.Context, t transports.Transport, p, data string) *laterUpload {
	ctx, cancel := context.WithCancel(ctx)
	u := &laterUpload{ch: make(chan uploaded, 1), cancel: cancel}
	go func() {
		res, err := transports.Upload(ctx, t, p, strings.NewReader(data), transports.UploadOptions{ExpectedSize: int64(len(data))})
		u.ch <- uploaded{res, err}
	}()
	return u
}

// wait returns the upload's result once it has ended.
func (u *laterUpload) wait() (transports.UploadResult, error) {
	r := <-u.ch
	u.done = true
	u.cancel()
	return r.res, r.err
}

// stop cancels the upload unless it was waited for, and waits for its
// end: nothing of it lands after stop returns.
func (u *laterUpload) stop() {
	if !u.done {
		u.cancel()
		<-u.ch
	}
}

// imageResult is what streamImage stored.
type imageResult struct {
	upload transports.UploadResult
	sum    string // the image's content sha256 (sparse.Writer.Sum)
	stats  sparse.Stats
	// spans are the image's span digests when every span was followed
	// (a full, a whole-disk read); differing the bytes of the spans a
	// whole-disk read of an incremental stored
	spans     []string
	differing int64
}

// streamImage reads the areas of the frozen disk and stores the image as
// the set's file stored (imageWriter); what lies outside the areas is
// zeros in a full, the parent's bytes in a delta. errf makes its errors.
func streamImage(ctx context.Context, r *runtime.Run, label string, f *vm.FrozenDisk, x *vm.NFCRead, areas []dsread.Area, sw *setWriter, stored, compress string, inc *incDisk, parentSpans []string, digests bool, errf func(code string, err error, format string, args ...any) error) (imageResult, error) {
	tr := r.Progress.Start(label, f.Size)
	w, code, err := createImage(ctx, sw.t, sw.dir+"/"+stored, compress, f.Size, inc != nil, sw.Key())
	if err != nil {
		if code == runtime.CodeTransport {
			tr.Done(err)
			return imageResult{}, errf(code, err, "cannot create %s on the target: %v", stored, err)
		}
		return imageResult{}, errf(code, err, "%v", err)
	}
	defer w.abort()
	out, gap, dig, differing := imageSinks(w, f.Size, inc, parentSpans, digests, tr)
	var werr error
	if x != nil {
		werr = copyGrains(ctx, x, f.Size, gap, out, tr)
		// the lease is completed only after a whole read (a lease lost
		// meanwhile fails it), and aborted after a failed one
		cerr := x.Close(ctx, werr == nil)
		switch {
		case werr != nil && ctx.Err() == nil:
			tr.Done(werr)
			return imageResult{}, errf(runtime.CodeVSphere, werr, "the read through the NFC export lease failed (the lease is aborted); nothing was stored: %v", werr)
		case werr == nil && cerr != nil:
			tr.Done(cerr)
			return imageResult{}, cerr
		}
	} else {
		rdr, err := f.Reader(ctx)
		if err != nil {
			return imageResult{}, errf(runtime.CodeVSphere, err, "%s", vfault.Text(err))
		}
		defer rdr.Close()
		werr = copyAreas(ctx, rdr, dsread.Spans(f.Extents, areas, dsread.MaxSpan), f.Size, gap, out, tr)
	}
	if werr == nil || ctx.Err() == nil {
		// every byte is read: was it one frozen image? (never "ok" from a
		// base whose REDO log someone committed meanwhile); a read that
		// failed because the disk is no longer frozen (its base, now the
		// running VM's disk, is locked) says so too
		if err := f.Check(ctx); err != nil {
			tr.Done(err)
			return imageResult{}, err
		}
	}
	res, err := w.commit(werr)
	tr.Done(err)
	if err != nil {
		return imageResult{}, errf(runtime.CodeTransport, err, "backup of the disk failed; nothing was left under its final name: %v", err)
	}
	img := imageResult{upload: res, sum: w.spw.Sum(), stats: w.spw.Stats(), differing: *differing}
	if dig != nil {
		img.spans = dig.Digests()
	}
	return img, nil
}

// imageSinks are where copyAreas puts an image's bytes (out) and what lies
// between its areas (gap), and the span digester that follows them (nil
// for an incremental, which reads only changed areas, and for a full
// without digests):
//   - a full: the image writer, zeros between the areas, and the digester
//     (with digests);
//   - an incremental: the delta writer, the parent's bytes between;
//   - a whole-disk read of an incremental (parentSpans): the digester
//     alone, which stores each span whose digest differs from the
//     parent's (differing counts their bytes) and keeps the others.
func imageSinks(w *imageWriter, size int64, inc *incDisk, parentSpans []string, digests bool, tr runtime.Tracker) (out io.Writer, gap func(int64) error, dig *spanDigester, differing *int64) {
	differing = new(int64)
	switch {
	case inc == nil && digests:
		dig = newSpanDigester(size, nil)
		return transports.ProgressWriter(io.MultiWriter(w.spw, dig), tr), func(n int64) error {
			if err := w.gap(n); err != nil {
				return err
			}
			return dig.Zero(n)
		}, dig, differing
	case inc != nil && inc.whole:
		dig = newSpanDigester(size, func(idx int, digest string, span []byte, zero bool) error {
			n := min(int64(idx+1)*imageSpanSize, size) - int64(idx)*imageSpanSize
			if idx < len(parentSpans) && parentSpans[idx] == digest {
				return w.spw.Keep(n)
			}
			*differing += n
			if zero {
				return w.spw.Zero(n)
			}
			_, err := w.spw.Write(span)
			return err
		})
		return transports.ProgressWriter(dig, tr), dig.Zero, dig, differing
	}
	return transports.ProgressWriter(w.spw, tr), w.gap, nil, differing // an incremental, a full without digests
}

// imageWriter writes a disk image as a set stores it: sparse-encoded (a
// full, or a delta on the parent's layer), compressed, encrypted in an
// encrypted set (compress, then encrypt), and uploaded atomically with
// its span digests.
type imageWriter struct {
	spw *sparse.Writer
	gap func(int64) error // what lies between areas: zeros (full), the parent's bytes (delta)
	cw  io.WriteCloser
	ew  io.WriteCloser // the encryption (sets.Seal: a pass-through without a key)
	aw  *transports.AtomicWriter
}

// createImage starts writing an image of size bytes as p on t, encrypted
// under key (nil: not); code says which stage failed (transport: the
// upload; invalid_arg: compress).
func createImage(ctx context.Context, t transports.Transport, p, compress string, size int64, delta bool, key []byte) (w *imageWriter, code string, err error) {
	aw, err := transports.CreateAtomic(ctx, t, p, transports.UploadOptions{Spans: true})
	if err != nil {
		return nil, runtime.CodeTransport, err
	}
	ew, err := sets.Seal(aw, key, path.Base(p))
	if err != nil {
		aw.Abort()
		return nil, runtime.CodeTransport, err
	}
	cw, err := pcomp.NewWriter(ew, compress, 0)
	if err != nil {
		aw.Abort()
		return nil, runtime.CodeInvalidArg, err
	}
	w = &imageWriter{cw: cw, ew: ew, aw: aw}
	if delta {
		w.spw = sparse.NewDeltaWriter(cw, size)
		w.gap = w.spw.Keep
	} else {
		w.spw = sparse.NewWriter(cw, size)
		w.gap = w.spw.Zero
	}
	return w, "", nil
}

// commit ends the image after its bytes were written (werr: the writing's
// error, which it returns instead): the encoding, the compression, then
// the upload, which lands under its final name only now.
func (w *imageWriter) commit(werr error) (transports.UploadResult, error) {
	for _, end := range []func() error{func() error { return werr }, w.spw.Close, w.cw.Close, w.ew.Close} {
		if err := end(); err != nil {
			return transports.UploadResult{}, err
		}
	}
	return w.aw.Commit()
}

// abort drops an image not committed; after commit it does nothing.
func (w *imageWriter) abort() {
	w.spw.Close() // a short image: no trailer, and its checksum stops
	w.cw.Close()
	w.aw.Abort()
}

// copyAreas writes the bytes of spans (in image order) to out and has gap
// account for what lies between them and after the last, up to size
// bytes; tr counts the gaps (out counts the rest).
func copyAreas(ctx context.Context, rdr *dsread.Client, spans []dsread.Span, size int64, gap func(int64) error, out io.Writer, tr runtime.Tracker) error {
	pos := int64(0)
	err := rdr.ReadSpans(ctx, spans, func(s dsread.Span, p []byte) error {
		if s.Img > pos {
			if err := gap(s.Img - pos); err != nil {
				return err
			}
			tr.Add(s.Img - pos)
		}
		pos = s.Img + s.N
		_, err := out.Write(p)
		return err
	})
	if errors.Is(err, dsread.ErrRangeIgnored) {
		return fmt.Errorf("%w (vmlua reads a disk in byte ranges)", err)
	}
	if err != nil {
		return err
	}
	if pos < size {
		if err := gap(size - pos); err != nil {
			return err
		}
		tr.Add(size - pos)
	}
	return nil
}

// copyGrains writes the grains of an NFC export (in image order) to out
// and has gap account for the holes between them and after the last, up
// to size bytes; tr counts the gaps (out counts the rest).
func copyGrains(ctx context.Context, x *vm.NFCRead, size int64, gap func(int64) error, out io.Writer, tr runtime.Tracker) error {
	pos := int64(0)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		off, g, err := x.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if off < pos {
			return fmt.Errorf("the export's grain at %d comes after %d: out of order", off, pos)
		}
		if off > pos {
			if err := gap(off - pos); err != nil {
				return err
			}
			tr.Add(off - pos)
		}
		if _, err := out.Write(g); err != nil {
			return err
		}
		pos = off + int64(len(g))
	}
	if pos < size {
		if err := gap(size - pos); err != nil {
			return err
		}
		tr.Add(size - pos)
	}
	return nil
}

// diskRecord is the catalog's record of a disk stored as files.
func diskRecord(d vm.Disk, size int64, files diskFiles, img imageResult, inc *incDisk) catalog.Disk {
	cd := catalog.Disk{ID: d.ID, Path: d.BasePath, Datastore: dsOfBase(d), Mode: d.Mode, Capacity: size, Thin: d.Thin,
		Format: catalog.FormatOf(sparse.Version, false), File: files.stored, Descriptor: files.desc, ContentSHA256: img.sum, DataBytes: img.stats.DataBytes}
	cd.ImageSpans = img.spans
	if inc != nil {
		cd.Format, cd.BaseChangeID, cd.ParentContentSHA256 = catalog.FormatOf(sparse.Version, true), inc.parent.ChangeID, inc.parent.ContentSHA256
		for _, a := range inc.areas {
			cd.ChangedBytes += a.End - a.Off
		}
		if img.spans == nil {
			cd.ImageSpans = carriedSpans(inc.parent.ImageSpans, size, inc.areas)
		}
	}
	return cd
}
