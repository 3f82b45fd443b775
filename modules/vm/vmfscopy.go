package vm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/vmlua/vmlua/internal/vmdk"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	"github.com/vmlua/vmlua/transports/vmfs"
	"github.com/vmware/govmomi/vim25"
)

// Server-side export: when v:export's destination is a vmfs:// folder of
// the vSphere the VM lives on, vSphere copies the frozen disk itself
// (VirtualDiskManager.CopyVirtualDisk, the book's `vmkfstools -e target
// -d vmfs source`) and no disk byte passes through vmlua on the way in.
//
// The copy lands in a temporary folder next to the final name
// (".NAME.vmlua-RANDOM.partial/NAME.vmdk") and is moved into place with
// MoveVirtualDisk only when it is complete and hashed; on any failure or
// cancellation the temporary folder is deleted, so nothing appears under
// the final name.
//
// Cost: the sha256 that v:export returns is computed by reading the copy
// back through the datastore's /folder HTTP interface, i.e. one full read
// of the disk over the network — the same as the download half of a
// streamed export, but without its upload half, and the copy itself runs
// at the storage's speed.

// serverCopier returns dest (or the transport under its wrappers) as a
// vmfs.ServerCopier when it is bound to the same vSphere as c.
func serverCopier(dest transports.Transport, c *vim25.Client) vmfs.ServerCopier {
	for t := dest; t != nil; {
		if sc, ok := t.(vmfs.ServerCopier); ok {
			if sc.SameVSphere(c) {
				return sc
			}
			return nil
		}
		w, ok := t.(transports.Wrapper)
		if !ok {
			return nil
		}
		t = w.Unwrap()
	}
	return nil
}

// exportOnServer is Export for a vmfs destination on the same vSphere;
// handled is false when dest is not one (Export then streams).
func (v *VM) exportOnServer(r *runtime.Run, d Disk, src string, dest transports.Transport, o ExportOptions) (res ExportResult, handled bool, err error) {
	sc := serverCopier(dest, v.c.Client)
	if sc == nil {
		return ExportResult{}, false, nil
	}
	ctx := r.Context()
	rel := strings.TrimSpace(src[strings.Index(src, "]")+1:])
	base := strings.TrimSuffix(path.Base(rel), ".vmdk")
	if o.Name != "" {
		base = strings.TrimSuffix(path.Base(o.Name), ".vmdk")
		base = strings.TrimSuffix(base, "-flat")
	}
	flatName, descName := base+"-flat.vmdk", base+".vmdk"
	if transports.IsDryRun(dest) || r.DryRun {
		r.DryRunAction("copy the disk on the server (CopyVirtualDisk)", "vm", v.Name(), "disk", d.ID, "from", src, "to", dest.URL()+"/"+descName)
		return ExportResult{Path: flatName, Descriptor: descName, Bytes: d.Capacity, DryRun: true}, true, nil
	}
	tmp := transports.TempName(base)
	tmpDesc := tmp + "/" + descName
	fail := func(code, doing string, err error) (ExportResult, bool, error) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rerr := sc.RemoveAll(cctx, tmp); rerr != nil {
			r.Log.Warn("export: could not remove the temporary copy; delete it by hand", "vm", v.Name(), "disk", d.ID, "path", tmp, "err", rerr)
		}
		return ExportResult{}, true, &runtime.Error{Code: code, VM: v.Name(), Disk: d.ID, Path: descName, Err: err,
			Message: fmt.Sprintf("server-side export of %s to %s failed while trying to %s; nothing was left under its final name: %v", src, dest.URL(), doing, err)}
	}
	if err := sc.MkdirAll(ctx, tmp); err != nil {
		return fail(runtime.CodeTransport, "create a temporary folder", err)
	}
	r.Log.Info("export: copying the disk on the server", "vm", v.Name(), "disk", d.ID, "from", src, "to", dest.URL()+"/"+descName)
	if err := sc.CopyVirtualDisk(ctx, src, tmpDesc); err != nil {
		return fail(runtime.CodeVSphere, "copy the disk (CopyVirtualDisk)", err)
	}
	desc, err := readAll(ctx, sc, tmpDesc, 1<<20)
	if err != nil {
		return fail(runtime.CodeTransport, "read the copy's descriptor", err)
	}
	extents, err := vmdk.FlatExtents(desc)
	if err != nil {
		return fail(runtime.CodeInvalidState, "read the copy's extents", err)
	}
	var total int64
	for _, e := range extents {
		total += e.Bytes
	}
	if len(extents) == 1 && extents[0].File != flatName {
		// a copy whose descriptor still names the source's extent (the
		// simulator copies descriptors verbatim): point it at the copy
		if _, err := sc.Stat(ctx, tmp+"/"+flatName); err != nil {
			return fail(runtime.CodeInvalidState, "find the copy's extent "+flatName, err)
		}
		if _, err := transports.Upload(ctx, sc, tmpDesc, strings.NewReader(vmdk.FlatDescriptor(desc, total/512, flatName)), transports.UploadOptions{}); err != nil {
			return fail(runtime.CodeTransport, "rewrite the copy's descriptor", err)
		}
		extents[0].File = flatName
	}
	tr := r.Progress.Start(v.Name()+" "+d.ID+" (sha256 of the server's copy)", total)
	sum, err := hashExtents(ctx, sc, tmp, extents, tr)
	tr.Done(err)
	if err != nil {
		return fail(runtime.CodeTransport, "read the copy back for its sha256", err)
	}
	if err := sc.MoveVirtualDisk(ctx, tmpDesc, descName); err != nil {
		return fail(runtime.CodeVSphere, "move the copy into place (MoveVirtualDisk)", err)
	}
	if err := sc.RemoveAll(ctx, tmp); err != nil {
		r.Log.Warn("export: could not remove the (now empty) temporary folder", "vm", v.Name(), "disk", d.ID, "path", tmp, "err", err)
	}
	r.Log.Info("export: disk copied on the server", "vm", v.Name(), "disk", d.ID, "from", src, "to", descName, "bytes", total, "sha256", sum)
	return ExportResult{Path: flatName, Descriptor: descName, Bytes: total, SHA256: sum}, true, nil
}

func readAll(ctx context.Context, t transports.Transport, p string, limit int64) (string, error) {
	rc, err := t.Open(ctx, p, 0)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit))
	return string(b), err
}

// hashExtents reads the extents back in order and returns their sha256.
func hashExtents(ctx context.Context, t transports.Transport, dir string, extents []vmdk.Extent, p transports.Progress) (string, error) {
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for _, e := range extents {
		rc, err := t.Open(ctx, dir+"/"+e.File, 0)
		if err != nil {
			return "", err
		}
		n, err := io.CopyBuffer(transports.ProgressWriter(h, p), struct{ io.Reader }{rc}, buf)
		rc.Close()
		if err != nil {
			return "", fmt.Errorf("reading %s after %d bytes: %w", e.File, n, err)
		}
		if n != e.Bytes {
			return "", fmt.Errorf("the copy's extent %s holds %d bytes, its descriptor says %d", e.File, n, e.Bytes)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
