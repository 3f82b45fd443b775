package vm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vmlua/vmlua/internal/capread"
	"github.com/vmlua/vmlua/internal/dsread"
	"github.com/vmlua/vmlua/internal/vmdk"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
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

// exportOnServer is Export for a vmfs destination on the same vSphere;
// handled is false when dest is not one (Export then streams).
func (v *VM) exportOnServer(r *runtime.Run, d Disk, f *FrozenDisk, dest transports.Transport, o ExportOptions) (res ExportResult, handled bool, err error) {
	sc := transports.ServerCopierOf(dest, v.c.Client)
	if sc == nil {
		return ExportResult{}, false, nil
	}
	ctx := r.Context()
	src := f.Path
	flatName, descName := exportNames(f, o.Name)
	base := strings.TrimSuffix(descName, ".vmdk")
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
	if err := f.Check(ctx); err != nil {
		return fail(runtime.CodeInvalidState, "check that the disk stayed frozen while it was copied", err)
	}
	desc, err := readDescriptor(ctx, sc, tmpDesc)
	if err != nil {
		return fail(runtime.CodeTransport, "read the copy's descriptor", err)
	}
	extents, err := vmdk.FlatExtents(desc)
	if err != nil {
		return fail(runtime.CodeInvalidState, "read the copy's extents", err)
	}
	total := extentsSize(extents)
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

// readDescriptor reads a descriptor of t whole: one over
// dsread.MaxSmallFile is refused, never cut short.
func readDescriptor(ctx context.Context, t transports.Transport, p string) (string, error) {
	rc, err := t.Open(ctx, p, 0)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := capread.ReadAll(rc, dsread.MaxSmallFile)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return string(b), nil
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
