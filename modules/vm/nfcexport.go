package vm

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmlua/vmlua/internal/streamvmdk"
	"github.com/vmlua/vmlua/internal/vfault"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/nfc"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Reading a frozen disk through an NFC export lease: what vmlua does for a
// disk whose data /folder cannot serve (vSAN and vVols keep disks as
// objects, not files: notes/real-vsphere.md, "vSAN and vVols have no flat
// files: /folder cannot serve their disks; tools use VDDK or NFC"). The
// snapshot's ExportSnapshot lease (ExportVm for a powered-off VM without
// one) serves each disk as streamOptimized VMDK (internal/streamvmdk),
// decoded as it streams. vCenter aborts a lease that goes without
// HttpNfcLeaseProgress for info.leaseTimeout (vSphere API reference,
// HttpNfcLease: "The client must call HttpNfcLeaseProgress periodically
// to keep the lease alive"), so the read reports its progress while it
// runs; the lease is completed after a whole read and aborted otherwise.

// NFCProgressEvery is how often a read through an NFC lease calls
// HttpNfcLeaseProgress; 0: a fifth of the lease's timeout, between 1 s
// and 60 s (govc's updater reports every 2 s). A variable so that tests
// can shorten it.
var NFCProgressEvery time.Duration

// Read paths of a disk (catalog Disk.ReadPath).
const (
	ReadFolder = "folder" // flat extents, range reads over /folder (internal/dsread)
	ReadNFC    = "nfc"    // the snapshot's NFC export lease, streamOptimized
)

// objectStoreTypes are the datastore types (summary.type) whose disks are
// objects without flat files.
var objectStoreTypes = map[string]string{"vsan": "vSAN", "VVOL": "vVols"}

// noFolderReason says why /folder cannot serve the frozen disk's data, as
// its datastore's type and its descriptor show ("" when nothing says so).
func (f *FrozenDisk) noFolderReason(ctx context.Context) string {
	var m mo.Datastore
	if err := f.Datastore.Properties(ctx, f.Datastore.Reference(), []string{"summary.type"}, &m); err == nil {
		if kind, ok := objectStoreTypes[m.Summary.Type]; ok {
			return fmt.Sprintf("datastore %s is a %s datastore: its disks are objects without flat files /folder could serve", f.Datastore.Name(), kind)
		}
	}
	for _, e := range f.Extents {
		if strings.Contains(e.File, "://") {
			return fmt.Sprintf("the disk's extent is the object %s, not a file /folder could serve", e.File)
		}
	}
	return ""
}

// NFCRead is a frozen disk read through an NFC export lease: Next yields
// its grains; Close completes the lease (ok) or aborts it.
type NFCRead struct {
	f       *FrozenDisk
	lease   *nfc.Lease
	body    io.ReadCloser
	stream  *streamvmdk.Reader
	pos     atomic.Int64
	stopper context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	perr    error // the keep-alive's failure
	closed  bool
}

// OpenNFC opens the frozen disk's NFC export: ExportSnapshot of snap (the
// snapshot that froze it), or ExportVm of a powered-off VM when snap is
// nil; waits for the lease, starts reporting progress and starts the
// disk's download. Errors are *runtime.Error; a lease it opened is aborted
// on failure.
func (f *FrozenDisk) OpenNFC(ctx context.Context, snap *types.ManagedObjectReference) (x *NFCRead, err error) {
	v := f.v
	fail := func(err error, format string, args ...any) error {
		return &runtime.Error{Code: runtime.CodeVSphere, VM: v.Name(), Disk: f.diskID, Path: f.Path, Message: fmt.Sprintf(format, args...), Err: err}
	}
	var lease *nfc.Lease
	if snap != nil {
		lease, err = v.Obj.ExportSnapshot(ctx, snap)
	} else {
		lease, err = v.Obj.Export(ctx)
	}
	if err != nil {
		return nil, fail(err, "cannot open the NFC export lease of the disk: %s", vfault.Text(err))
	}
	x = &NFCRead{f: f, lease: lease, done: make(chan struct{})}
	defer func() {
		if err != nil {
			x.Close(ctx, false)
		}
	}()
	info, err := lease.Wait(ctx, nil)
	if err != nil {
		close(x.done)
		return nil, fail(err, "the NFC export lease did not become ready: %s", vfault.Text(err))
	}
	x.keepAlive(ctx, time.Duration(info.LeaseTimeout)*time.Second)
	item, err := diskItem(info, f.diskID)
	if err != nil {
		return nil, fail(err, "%v", err)
	}
	body, _, err := v.Obj.Client().Download(ctx, item.URL, &soap.DefaultDownload)
	if err != nil {
		return nil, fail(err, "cannot download the disk from its NFC export lease: %v", err)
	}
	x.body = body
	x.stream, err = streamvmdk.NewReader(body)
	if err != nil {
		return nil, fail(err, "the disk's NFC export is not a streamOptimized VMDK vmlua can read: %v", err)
	}
	if c := x.stream.Capacity(); c < f.Size {
		return nil, fail(nil, "the disk's NFC export holds %d bytes, its descriptor says %d", c, f.Size)
	}
	return x, nil
}

// devUnit is the controller:unit at the end of a lease's device key
// ("/vm-42/VirtualLsiLogicController0:1").
var devUnit = regexp.MustCompile(`(\d+):(\d+)$`)

// diskItem finds the disk's URL among the lease's: the device key ends
// with the disk's id ("scsi0:1", as the simulator names it) or its
// controller and unit ("VirtualLsiLogicController0:1", as vCenter does),
// else the lease's only disk.
func diskItem(info *nfc.LeaseInfo, diskID string) (nfc.FileItem, error) {
	bus, unit := "", ""
	if i := strings.IndexAny(diskID, "0123456789"); i >= 0 {
		bus, unit, _ = strings.Cut(diskID[i:], ":")
	}
	var keys []string
	for _, it := range info.Items {
		k := it.DeviceId
		keys = append(keys, k)
		if strings.HasSuffix(k, ":"+diskID) {
			return it, nil
		}
		if m := devUnit.FindStringSubmatch(k); m != nil && m[1] == bus && m[2] == unit {
			return it, nil
		}
	}
	if len(info.Items) == 1 {
		return info.Items[0], nil
	}
	return nfc.FileItem{}, fmt.Errorf("the NFC export lease names no URL for disk %s (device keys %s)", diskID, strings.Join(keys, ", "))
}

// keepAlive reports the read's progress every NFCProgressEvery until the
// read is closed.
func (x *NFCRead) keepAlive(ctx context.Context, timeout time.Duration) {
	every := NFCProgressEvery
	if every <= 0 {
		every = min(max(timeout/5, time.Second), time.Minute)
	}
	ctx, x.stopper = context.WithCancel(ctx)
	go func() {
		defer close(x.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				pct := int32(0)
				if x.f.Size > 0 {
					pct = int32(min(100, x.pos.Load()*100/x.f.Size))
				}
				if err := x.lease.Progress(ctx, pct); err != nil {
					if ctx.Err() == nil {
						x.mu.Lock()
						x.perr = err
						x.mu.Unlock()
					}
					return
				}
			}
		}
	}()
}

// Next returns the next grain the export holds: its offset in the disk
// and its bytes (valid until the next call), or io.EOF at its end.
// Grains come in increasing offsets; what lies between is zeros.
func (x *NFCRead) Next() (int64, []byte, error) {
	off, g, err := x.stream.Next()
	if err != nil {
		return 0, nil, err
	}
	if end := off + int64(len(g)); end > x.f.Size {
		if off >= x.f.Size {
			return 0, nil, fmt.Errorf("%w: a grain at %d, past the disk's %d bytes", streamvmdk.ErrFormat, off, x.f.Size)
		}
		g = g[:x.f.Size-off]
	}
	x.pos.Store(off + int64(len(g)))
	return off, g, nil
}

// Close ends the read: it stops the progress reports and completes the
// lease after a whole read (ok), or aborts it. It is called on every
// path, with a context of its own when ctx is cancelled; after a whole
// read its error says the lease was lost (the read cannot be trusted).
func (x *NFCRead) Close(ctx context.Context, ok bool) error {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return nil
	}
	x.closed = true
	x.mu.Unlock()
	if x.stopper != nil {
		x.stopper()
		<-x.done
	}
	if x.body != nil {
		x.body.Close()
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	v := x.f.v
	if !ok {
		if err := x.lease.Abort(cctx, nil); err != nil {
			return &runtime.Error{Code: runtime.CodeVSphere, VM: v.Name(), Disk: x.f.diskID, Path: x.f.Path, Message: "cannot abort the NFC export lease: " + vfault.Text(err), Err: err}
		}
		return nil
	}
	x.mu.Lock()
	perr := x.perr
	x.mu.Unlock()
	if err := x.lease.Complete(cctx); err != nil {
		_ = x.lease.Abort(cctx, nil)
		if perr != nil {
			err = perr
		}
		return &runtime.Error{Code: runtime.CodeVSphere, VM: v.Name(), Disk: x.f.diskID, Path: x.f.Path,
			Message: "the NFC export lease was lost during the read (it times out without progress reports): " + vfault.Text(err) + "; what was read is not kept, back the disk up again", Err: err}
	}
	return nil
}
