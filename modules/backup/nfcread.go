package backup

import (
	"context"
	"fmt"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vmlua/vmlua/internal/dsread"
	"github.com/vmlua/vmlua/internal/pcomp"
	"github.com/vmlua/vmlua/internal/vmdk"
	"github.com/vmlua/vmlua/modules/backup/catalog"
	"github.com/vmlua/vmlua/modules/backup/sets"
	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/nfc"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// A disk that sits on snapshots of the VM's own has its state, as the
// backup's snapshot froze it, spread over the chain (the base and the
// deltas of every level). vmlua reads it through the snapshot's NFC
// export lease (VirtualMachineSnapshot.ExportSnapshot, what govc
// vm.snapshot.export and ovftool use), which serves the disk flattened
// (nfcstream.go), and leaves every snapshot of the VM's own as it is.

// leaseProgressEvery is how often a lease is told the read goes on:
// vCenter aborts a lease without progress after about 5 minutes.
const leaseProgressEvery = 30 * time.Second

// ownLevels is the number of snapshot levels of the VM's own below the
// disk's running state (this run's REDO logs not counted).
func ownLevels(v *vm.VM, d vm.Disk) int {
	return max(len(d.Chain)-1-v.RunRedoDepth(d), 0)
}

// readSnapshotDisk reads disk d as snapshot snap holds it, through the
// snapshot's NFC export lease, calling data for its runs of bytes in
// image order (nfcstream.go); the lease is completed after a read to the
// end, aborted otherwise.
func readSnapshotDisk(ctx context.Context, v *vm.VM, snap types.ManagedObjectReference, d vm.Disk, read *atomic.Int64, data func(off int64, p []byte) error) (err error) {
	c := v.Obj.Client()
	res, err := methods.ExportSnapshot(ctx, c, &types.ExportSnapshot{This: snap})
	if err != nil {
		return vm.FaultError(err, v.Name(), "export the snapshot (NFC lease) to read disk "+d.ID)
	}
	lease := nfc.NewLease(c, res.Returnval)
	info, err := lease.Wait(ctx, nil)
	if err != nil {
		return vm.FaultError(err, v.Name(), "open the snapshot's NFC export lease")
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err != nil {
			_ = lease.Abort(cctx, nil)
		} else if cerr := lease.Complete(cctx); cerr != nil {
			err = vm.FaultError(cerr, v.Name(), "complete the NFC export lease")
		}
	}()
	var item *nfc.FileItem
	bus, unit, ok := busUnit(d.ID)
	for i := range info.Items {
		k := info.Items[i].DeviceId
		if ok && strings.Contains(k, fmt.Sprintf("Controller%d:", bus)) && strings.HasSuffix(k, fmt.Sprintf(":%d", unit)) {
			item = &info.Items[i]
		}
	}
	if item == nil {
		var keys []string
		for _, it := range info.Items {
			keys = append(keys, it.DeviceId)
		}
		return &runtime.Error{Code: runtime.CodeVSphere, VM: v.Name(), Disk: d.ID, Message: fmt.Sprintf("the snapshot's export lease serves no disk %s (it serves %s)", d.ID, strings.Join(keys, ", "))}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // keep the lease alive while the disk streams
		defer close(done)
		t := time.NewTicker(leaseProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				pct := int32(min(100*read.Load()/max(d.Capacity, 1), 99))
				_ = lease.Progress(ctx, pct)
			}
		}
	}()
	defer func() { close(stop); <-done }()
	body, _, err := c.Download(ctx, item.URL, &soap.DefaultDownload)
	if err != nil {
		return &runtime.Error{Code: runtime.CodeVSphere, VM: v.Name(), Disk: d.ID, Message: "cannot read the disk from the snapshot's export lease: " + err.Error(), Err: err}
	}
	defer body.Close()
	return readNFCDisk(body, d.Capacity, data)
}

// busUnit splits "scsi0:1" into its bus and unit.
func busUnit(id string) (bus, unit int, ok bool) {
	i := strings.IndexAny(id, "0123456789")
	if i < 0 {
		return 0, 0, false
	}
	_, err := fmt.Sscanf(id[i:], "%d:%d", &bus, &unit)
	return bus, unit, err == nil
}

// exportDiskNFC stores disk d, which sits on levels snapshot levels of the
// VM's own, as snapshot snap froze it, read through the snapshot's export
// lease: a full as any; an incremental reads it whole too and stores only
// the spans whose digest differs from its parent's (imageSinks).
func exportDiskNFC(r *runtime.Run, v *vm.VM, d vm.Disk, snap *types.ManagedObjectReference, levels int, inc *incDisk, sw *setWriter, compress string, names map[string]bool) (catalog.Disk, error) {
	ctx := r.Context()
	name := v.Name()
	errf := func(code string, err error, format string, args ...any) error {
		return &runtime.Error{Code: code, VM: name, Disk: d.ID, Path: d.Path, Message: fmt.Sprintf(format, args...), Err: err}
	}
	if snap == nil {
		return catalog.Disk{}, errf(runtime.CodeInvalidState, nil, "disk %s sits on %d snapshot level(s) of the VM's own and no snapshot of this backup froze it", d.ID, levels)
	}
	dsName, rel := dsPath(d.BasePath)
	ds, err := datastoreOf(ctx, v.Obj.Client(), v.MO().Datastore, dsName)
	if err != nil {
		return catalog.Disk{}, errf(runtime.CodeNotFound, err, "datastore %q of disk %s: %v", dsName, d.ID, err)
	}
	baseDesc, err := dsread.ReadSmall(ctx, ds, rel)
	if err != nil {
		return catalog.Disk{}, errf(runtime.CodeVSphere, err, "cannot read the base descriptor %s: %v", d.BasePath, err)
	}
	size := d.Capacity
	files := nameDisk(strings.TrimSuffix(path.Base(rel), ".vmdk"), compress, names)
	desc := uploadMeanwhile(ctx, sw.t, sw.dir+"/"+files.desc, vmdk.FlatDescriptor(string(baseDesc), size/512, files.flat))
	defer desc.stop()

	var parentSpans []string
	if inc != nil {
		inc = &incDisk{areas: inc.areas, parent: inc.parent, whole: true}
		parentSpans = inc.parent.ImageSpans
	}
	tr := r.Progress.Start(name+" "+d.ID, size)
	w, code, err := createImage(ctx, sw.t, sw.dir+"/"+files.stored, compress, size, inc != nil)
	if err != nil {
		tr.Done(err)
		return catalog.Disk{}, errf(code, err, "cannot create %s on the target: %v", files.stored, err)
	}
	defer w.abort()
	out, gap, dig, differing := imageSinks(w, size, inc, parentSpans, d.ChangeID != "", tr)
	var read atomic.Int64
	pos := int64(0)
	werr := readSnapshotDisk(ctx, v, *snap, d, &read, func(off int64, p []byte) error {
		if off > pos {
			if err := gap(off - pos); err != nil {
				return err
			}
			tr.Add(off - pos)
		}
		if _, err := out.Write(p); err != nil {
			return err
		}
		pos = off + int64(len(p))
		read.Store(pos)
		return nil
	})
	if werr == nil && pos < size {
		if werr = gap(size - pos); werr == nil {
			tr.Add(size - pos)
		}
	}
	res, err := w.commit(werr)
	tr.Done(err)
	if err != nil {
		return catalog.Disk{}, errf(runtime.CodeTransport, err, "backup of the disk through the snapshot's export lease failed; nothing was left under its final name: %v", err)
	}
	img := imageResult{upload: res, sum: w.spw.Sum(), stats: w.spw.Stats(), differing: *differing}
	if dig != nil {
		img.spans = dig.Digests()
	}
	dr, err := desc.wait()
	if err != nil {
		return catalog.Disk{}, errf(runtime.CodeTransport, err, "cannot store the disk descriptor: %v", err)
	}
	if err := sw.Add(catalog.File{Name: files.stored, Size: img.upload.Bytes, Spans: sets.SpansOf(img.upload.Spans), Compression: compress, Kind: catalog.KindDisk, Source: d.Path, Disk: d.ID},
		catalog.File{Name: files.desc, Size: dr.Bytes, SHA256: dr.SHA256, Compression: pcomp.None, Kind: catalog.KindDescriptor, Source: d.BasePath, Disk: d.ID}); err != nil {
		return catalog.Disk{}, err
	}
	cd := diskRecord(d, size, files, img, inc)
	cd.Read = catalog.ReadFull
	cd.ReadReason = fmt.Sprintf("the disk sits on %d snapshot level(s) of the VM's own: read whole, flattened, through the backup snapshot's NFC export lease (the VM's snapshots are left as they are)", levels)
	if inc != nil {
		cd.DifferingBytes = img.differing
		cd.ReadReason += "; only the spans whose digest differs from the parent's are stored"
	}
	r.Log.Info("backup: disk read through the snapshot's export lease", "vm", name, "disk", d.ID, "own_levels", levels, "read", size, "differing", cd.DifferingBytes, "stored", img.upload.Bytes)
	return cd, nil
}
