package vsim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vmlua/vmlua/internal/streamvmdk"
)

// NFC leases, as vCenter and ESXi hand them out (docs/simulator.md, "NFC
// leases"):
//
//   - ExportVm (powered off only) and ExportSnapshot: each device URL
//     serves its disk as streamOptimized VMDK (internal/streamvmdk), the
//     chain's content at the export's point, all-zero grains left out;
//     notes/real-vsphere.md ("its device URLs serve streamOptimized VMDK
//     (what govc export.ovf / govc vm.snapshot.export, ovftool use)").
//   - ResourcePool.ImportVApp: creates the VM of the import spec, and each
//     disk's URL takes a streamOptimized VMDK (PUT or POST), written into
//     the disk thin: only the grains the stream holds are written, the
//     rest of the flat file stays a hole. A body that is not
//     streamOptimized is refused (400).
//   - A lease lives while the client calls HttpNfcLeaseProgress: after
//     Options.NFCLeaseTimeout (vCenter's 300 s, info.leaseTimeout) without
//     one, on the simulator's clock, it times out: state error, error
//     Timedout, its URLs answer 404, its methods fail with Timedout, and an
//     import's VM is deleted. vSphere API reference, HttpNfcLease: "The
//     client must call HttpNfcLeaseProgress periodically to keep the lease
//     alive ... Failure to do so causes the lease to time out and enter the
//     error state"; HttpNfcLeaseInfo.leaseTimeout: "Number of seconds before
//     the lease times out"; HttpNfcLeaseAbort: InvalidState "if the lease
//     has already been aborted".

const nfcPath = "/vmlua/nfc/"

// DefaultNFCLeaseTimeout is how long a lease lives without
// HttpNfcLeaseProgress (vCenter's info.leaseTimeout).
const DefaultNFCLeaseTimeout = 5 * time.Minute

type lease struct {
	mo.HttpNfcLease
	s        *Sim
	files    map[string]source       // export: what each URL serves
	disks    map[string]importTarget // import: where each URL's disk goes
	vm       types.ManagedObjectReference
	isImport bool

	mu     sync.Mutex
	last   time.Time // the last sign of life (creation, HttpNfcLeaseProgress), simulator's clock
	ended  bool      // completed or aborted
	failed types.BaseMethodFault
}

type importTarget struct {
	vs *vmState
	d  *disk
}

var leaseCounter atomic.Int64

func (s *Sim) newLease(ctx *simulator.Context, entity types.ManagedObjectReference, files map[string]source, keys map[string]string) *lease {
	l := &lease{s: s, files: files, last: s.now(), vm: entity}
	l.Self = types.ManagedObjectReference{Type: "HttpNfcLease", Value: fmt.Sprintf("vmlua-lease-%d", leaseCounter.Add(1))}
	l.State = types.HttpNfcLeaseStateReady
	l.Info = s.leaseInfo(ctx.Map.IsESX(), l.Self, entity, files, keys)
	l.InitializeProgress = 100
	l.Mode = string(types.HttpNfcLeaseModePushOrGet)
	l.Capabilities = types.HttpNfcLeaseCapabilities{PullModeSupported: true, CorsSupported: true}
	ctx.Session.Put(l)
	s.leases.Store(l.Self.Value, l)
	s.startLeaseSweeper()
	return l
}

// leaseInfo lists a lease's device URLs, one per file, by name.
func (s *Sim) leaseInfo(esx bool, self, entity types.ManagedObjectReference, files map[string]source, keys map[string]string) *types.HttpNfcLeaseInfo {
	u := *s.URL
	u.User = nil
	if esx {
		u.Host = "*"
	}
	info := &types.HttpNfcLeaseInfo{Lease: self, Entity: entity, LeaseTimeout: int32(s.opts.NFCLeaseTimeout / time.Second)}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sortStrings(names)
	for _, n := range names {
		u.Path = nfcPath + path.Join(self.Value, n)
		info.DeviceUrl = append(info.DeviceUrl, types.HttpNfcLeaseDeviceUrl{
			Key: keys[n], ImportKey: keys[n], Url: u.String(), TargetId: n,
			Disk: types.NewBool(true), FileSize: files[n].size,
		})
		info.TotalDiskCapacityInKB += files[n].size / 1024
	}
	return info
}

// check times the lease out if it has gone without progress too long;
// it returns the fault its methods answer (nil: alive).
func (l *lease) check() types.BaseMethodFault {
	l.mu.Lock()
	if l.failed != nil || l.ended {
		f := l.failed
		l.mu.Unlock()
		if f == nil {
			return &types.InvalidState{}
		}
		return f
	}
	timeout := l.s.opts.NFCLeaseTimeout
	if timeout <= 0 || l.s.now().Sub(l.last) <= timeout {
		l.mu.Unlock()
		return nil
	}
	f := withMessage(&types.Timedout{}, fmt.Sprintf("the NFC lease timed out: no HttpNfcLeaseProgress for %v", timeout))
	l.failed = f
	l.mu.Unlock()
	l.s.leaseFailed(l, f)
	return f
}

// leaseFailed puts a lease in the error state and drops what it held.
func (s *Sim) leaseFailed(l *lease, f types.BaseMethodFault) {
	ctx := s.bgContext()
	ctx.WithLock(l, func() {
		l.State = types.HttpNfcLeaseStateError
		l.Error = &types.LocalizedMethodFault{Fault: f, LocalizedMessage: faultMessage(f)}
		l.Info = nil
	})
	s.leases.Delete(l.Self.Value)
	if l.isImport {
		s.discardImport(l)
	}
}

var sweeperStarted sync.Map // *Sim -> bool

// startLeaseSweeper times out idle leases in the background, so that a
// client polling the lease's state sees it.
func (s *Sim) startLeaseSweeper() {
	if _, loaded := sweeperStarted.LoadOrStore(s, true); loaded {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer sweeperStarted.Delete(s)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.ctx.Done():
				return
			case <-t.C:
				s.leases.Range(func(_, v any) bool {
					v.(*lease).check()
					return true
				})
			}
		}
	}()
}

func (l *lease) end(ctx *simulator.Context, state types.HttpNfcLeaseState) {
	l.mu.Lock()
	l.ended = true
	l.mu.Unlock()
	l.s.leases.Delete(l.Self.Value)
	ctx.Update(l, []types.PropertyChange{{Name: "state", Val: state}})
}

func (l *lease) HttpNfcLeaseComplete(ctx *simulator.Context, req *types.HttpNfcLeaseComplete) soap.HasFault {
	if f := l.check(); f != nil {
		return &methods.HttpNfcLeaseCompleteBody{Fault_: simulator.Fault(faultMessage(f), f)}
	}
	l.end(ctx, types.HttpNfcLeaseStateDone)
	return &methods.HttpNfcLeaseCompleteBody{Res: new(types.HttpNfcLeaseCompleteResponse)}
}

func (l *lease) HttpNfcLeaseAbort(ctx *simulator.Context, req *types.HttpNfcLeaseAbort) soap.HasFault {
	if f := l.check(); f != nil {
		return &methods.HttpNfcLeaseAbortBody{Fault_: simulator.Fault(faultMessage(f), f)}
	}
	l.end(ctx, types.HttpNfcLeaseStateError)
	if l.isImport {
		l.s.discardImport(l)
	}
	return &methods.HttpNfcLeaseAbortBody{Res: new(types.HttpNfcLeaseAbortResponse)}
}

func (l *lease) HttpNfcLeaseProgress(ctx *simulator.Context, req *types.HttpNfcLeaseProgress) soap.HasFault {
	if f := l.check(); f != nil {
		return &methods.HttpNfcLeaseProgressBody{Fault_: simulator.Fault(faultMessage(f), f)}
	}
	l.mu.Lock()
	l.last = l.s.now()
	l.mu.Unlock()
	ctx.Update(l, []types.PropertyChange{{Name: "transferProgress", Val: req.Percent}})
	return &methods.HttpNfcLeaseProgressBody{Res: new(types.HttpNfcLeaseProgressResponse)}
}

func (l *lease) HttpNfcLeaseGetManifest(ctx *simulator.Context, req *types.HttpNfcLeaseGetManifest) soap.HasFault {
	return &methods.HttpNfcLeaseGetManifestBody{Res: &types.HttpNfcLeaseGetManifestResponse{}}
}

// LeaseAlive reports whether an NFC lease is still usable (neither timed
// out, aborted nor completed).
func (s *Sim) LeaseAlive(ref types.ManagedObjectReference) bool {
	v, ok := s.leases.Load(ref.Value)
	return ok && v.(*lease).check() == nil
}

func (s *Sim) serveNFC(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, nfcPath)
	id, name, ok := strings.Cut(rest, "/")
	v, found := s.leases.Load(id)
	if !ok || !found || v.(*lease).check() != nil {
		http.NotFound(w, r)
		return
	}
	l := v.(*lease)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		src, ok := l.files[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		if r.Method == http.MethodHead {
			return
		}
		release := s.holdNFC(src.chainFiles())
		defer release()
		var out io.Writer = w
		if h := s.nfcHook.Load(); h != nil {
			out = &nfcHookWriter{w: w, hook: *h, lease: id, file: name}
		}
		if err := src.streamOptimized(out); err != nil {
			if errors.Is(err, errNFCHook) {
				panic(http.ErrAbortHandler) // the connection is cut, as a host failing mid-stream does
			}
			s.logf("vsim: NFC export %s: %v", name, err)
		}
	case http.MethodPut, http.MethodPost:
		l.mu.Lock()
		t, ok := l.disks[name]
		l.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		if err := s.importDisk(t, r.Body); err != nil {
			code := http.StatusInternalServerError
			if errors.Is(err, streamvmdk.ErrFormat) {
				code = http.StatusBadRequest
			}
			http.Error(w, err.Error(), code)
			return
		}
		w.WriteHeader(http.StatusOK)
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT, POST")
		http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
	}
}

// NFCRead is an export URL being served: the lease, the file and the
// bytes of it sent so far (SetOnNFCRead).
type NFCRead struct {
	Lease, File string
	Bytes       int64
}

// SetOnNFCRead sets a test hook called before each write of an NFC
// export's stream: it may block (holding the read mid-stream, e.g. while
// the test advances the clock), and an error it returns cuts the
// connection. nil removes it.
func (s *Sim) SetOnNFCRead(hook func(NFCRead) error) {
	if hook == nil {
		s.nfcHook.Store(nil)
		return
	}
	s.nfcHook.Store(&hook)
}

var errNFCHook = errors.New("vsim: the NFC read hook cut the stream")

type nfcHookWriter struct {
	w           io.Writer
	hook        func(NFCRead) error
	lease, file string
	n           int64
}

func (h *nfcHookWriter) Write(p []byte) (int, error) {
	if err := h.hook(NFCRead{Lease: h.lease, File: h.file, Bytes: h.n}); err != nil {
		return 0, fmt.Errorf("%w: %v", errNFCHook, err)
	}
	n, err := h.w.Write(p)
	h.n += int64(n)
	return n, err
}

// streamOptimized writes the source as a streamOptimized VMDK.
func (src source) streamOptimized(w io.Writer) error {
	var r io.Reader
	if src.chain != nil {
		rs := *src.chain
		r = &rs
	} else {
		f, err := os.Open(src.file)
		if err != nil {
			return err
		}
		defer f.Close()
		r = io.LimitReader(f, src.size)
	}
	sw, err := streamvmdk.NewWriter(w, src.size, streamvmdk.Descriptor(src.size, src.cid, src.adapter))
	if err != nil {
		return err
	}
	if _, err := io.Copy(sw, r); err != nil {
		return err
	}
	return sw.Close()
}

// chainFiles returns the data files an export of the source reads.
func (src source) chainFiles() []string {
	if src.chain == nil {
		return []string{src.file}
	}
	c := src.chain
	c.mu.Lock()
	defer c.mu.Unlock()
	var files []string
	for _, l := range c.d.layers {
		files = append(files, l.dataFile)
		if l == c.l {
			break
		}
	}
	return files
}

// exportSource is what an export URL serves for d's chain up to level.
func (vs *vmState) exportSource(d *disk, level int) source {
	return source{chain: &chainReader{mu: &vs.mu, d: d, l: d.layers[level], size: d.capacity}, size: d.capacity, cid: d.layers[level].cid, adapter: d.adapter}
}

// ExportVm exports the disks of a powered-off VM (the running state of each
// chain); a powered-on VM is refused, as on ESXi.
func (w *vmWrapper) ExportVm(ctx *simulator.Context, req *types.ExportVm) soap.HasFault {
	body := &methods.ExportVmBody{}
	if st := w.Runtime.PowerState; st != types.VirtualMachinePowerStatePoweredOff {
		body.Fault_ = simulator.Fault("", &types.InvalidPowerState{RequestedState: types.VirtualMachinePowerStatePoweredOff, ExistingState: st})
		return body
	}
	vs, err := w.s.adopt(w.Self, false)
	if err != nil {
		body.Fault_ = simulator.Fault("", &types.NotFound{})
		return body
	}
	files, keys := map[string]source{}, map[string]string{}
	vs.mu.Lock()
	for i, d := range vs.disks {
		n := fmt.Sprintf("disk-%d.vmdk", i)
		files[n] = vs.exportSource(d, len(d.layers)-1)
		keys[n] = fmt.Sprintf("/%s/VirtualLsiLogicController0:%s", w.Self.Value, d.id)
	}
	vs.mu.Unlock()
	l := w.s.newLease(ctx, w.Self, files, keys)
	body.Res = &types.ExportVmResponse{Returnval: l.Self}
	return body
}

// ExportSnapshot exports each snapshotted disk as it was at the snapshot.
func (w *snapWrapper) ExportSnapshot(ctx *simulator.Context, req *types.ExportSnapshot) soap.HasFault {
	body := &methods.ExportSnapshotBody{}
	vs, err := w.s.adopt(w.Vm, false)
	if err != nil {
		body.Fault_ = simulator.Fault("", &types.NotFound{})
		return body
	}
	files, keys := map[string]source{}, map[string]string{}
	vs.mu.Lock()
	k := vs.snapIndex(w.Self)
	if k < 0 {
		vs.mu.Unlock()
		body.Fault_ = simulator.Fault("", &types.ManagedObjectNotFound{Obj: w.Self})
		return body
	}
	sn := vs.snaps[k]
	i := 0
	for _, d := range vs.disks {
		if d.independent {
			continue
		}
		n := fmt.Sprintf("disk-%d.vmdk", i)
		i++
		files[n] = vs.exportSource(d, d.level(sn))
		keys[n] = fmt.Sprintf("/%s/VirtualLsiLogicController0:%s", w.Vm.Value, d.id)
	}
	vs.mu.Unlock()
	l := w.s.newLease(ctx, w.Vm, files, keys)
	body.Res = &types.ExportSnapshotResponse{Returnval: l.Self}
	return body
}

// poolWrapper overrides ResourcePool.ImportVApp.
type poolWrapper struct {
	*simulator.ResourcePool
	s *Sim
}

// ImportVApp hands out a lease, initializing while the VM of the
// VirtualMachineImportSpec is created (powered off), then ready: its URLs
// take the VM's disks as streamOptimized VMDK.
func (w *poolWrapper) ImportVApp(ctx *simulator.Context, req *types.ImportVApp) soap.HasFault {
	body := &methods.ImportVAppBody{}
	spec, ok := req.Spec.(*types.VirtualMachineImportSpec)
	if !ok {
		body.Fault_ = simulator.Fault(fmt.Sprintf("%T: only a VirtualMachineImportSpec is supported", req.Spec), &types.InvalidArgument{InvalidProperty: "spec"})
		return body
	}
	s := w.s
	l := &lease{s: s, last: s.now(), isImport: true}
	l.Self = types.ManagedObjectReference{Type: "HttpNfcLease", Value: fmt.Sprintf("vmlua-lease-%d", leaseCounter.Add(1))}
	l.State = types.HttpNfcLeaseStateInitializing
	l.Mode = string(types.HttpNfcLeaseModePushOrGet)
	ctx.Session.Put(l)
	s.leases.Store(l.Self.Value, l)
	s.startLeaseSweeper()
	esx := ctx.Map.IsESX()
	pool := w.Self
	s.wg.Add(1)
	go func() { // vCenter's import task; it calls back into the SDK, so not under this call's locks
		defer s.wg.Done()
		if err := s.runImport(l, esx, pool, req.Folder, req.Host, spec.ConfigSpec); err != nil {
			f := withMessage(&types.InvalidArgument{InvalidProperty: "spec"}, err.Error())
			l.mu.Lock()
			l.failed = f
			l.mu.Unlock()
			s.leaseFailed(l, f)
		}
	}()
	body.Res = &types.ImportVAppResponse{Returnval: l.Self}
	return body
}

func (s *Sim) runImport(l *lease, esx bool, poolRef types.ManagedObjectReference, folderRef, hostRef *types.ManagedObjectReference, cfg types.VirtualMachineConfigSpec) error {
	c := s.ctl.Client
	if folderRef == nil {
		dc, err := find.NewFinder(c).DefaultDatacenter(s.ctx)
		if err != nil {
			return err
		}
		fs, err := dc.Folders(s.ctx)
		if err != nil {
			return err
		}
		ref := fs.VmFolder.Reference()
		folderRef = &ref
	}
	for _, ch := range cfg.DeviceChange {
		dc := ch.GetVirtualDeviceConfigSpec()
		if vd, ok := dc.Device.(*types.VirtualDisk); ok {
			dc.FileOperation = types.VirtualDeviceConfigSpecFileOperationCreate
			if b, ok := vd.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok && b.ThinProvisioned == nil {
				b.ThinProvisioned = types.NewBool(true)
			}
		}
	}
	var host *object.HostSystem
	if hostRef != nil {
		host = object.NewHostSystem(c, *hostRef)
	}
	task, err := object.NewFolder(c, *folderRef).CreateVM(s.ctx, cfg, object.NewResourcePool(c, poolRef), host)
	if err != nil {
		return err
	}
	info, err := task.WaitForResult(s.ctx)
	if err != nil {
		return err
	}
	ref := info.Result.(types.ManagedObjectReference)
	l.mu.Lock()
	l.vm = ref
	l.mu.Unlock()
	vs, err := s.adopt(ref, false)
	if err != nil {
		return err
	}
	disks, keys, files := map[string]importTarget{}, map[string]string{}, map[string]source{}
	vs.mu.Lock()
	for i, d := range vs.disks {
		n := fmt.Sprintf("disk-%d.vmdk", i)
		disks[n] = importTarget{vs: vs, d: d}
		files[n] = source{size: d.capacity}
		keys[n] = fmt.Sprintf("/%s/VirtualLsiLogicController0:%s", cfg.Name, d.id)
	}
	vs.mu.Unlock()
	linfo := s.leaseInfo(esx, l.Self, ref, files, keys)
	l.mu.Lock()
	l.disks = disks
	l.last = s.now()
	l.mu.Unlock()
	ctx := s.bgContext()
	ctx.WithLock(l, func() {
		ctx.Update(l, []types.PropertyChange{
			{Name: "info", Val: linfo},
			{Name: "initializeProgress", Val: int32(100)},
			{Name: "state", Val: types.HttpNfcLeaseStateReady},
		})
	})
	return nil
}

// importDisk writes a streamOptimized stream into a disk: the grains it
// holds, all-zero ones skipped, so the flat file stays thin.
func (s *Sim) importDisk(t importTarget, body io.Reader) error {
	r, err := streamvmdk.NewReader(body)
	if err != nil {
		return err
	}
	if r.Capacity() > t.d.capacity {
		return fmt.Errorf("%w: a disk of %d bytes for a disk of %d", streamvmdk.ErrFormat, r.Capacity(), t.d.capacity)
	}
	// the flat file as large as the disk, a hole where nothing is written
	t.vs.mu.Lock()
	base := t.d.layers[0].f
	fi, err := base.Stat()
	if err == nil && fi.Size() < t.d.capacity {
		err = base.Truncate(t.d.capacity)
	}
	t.vs.mu.Unlock()
	if err != nil {
		return err
	}
	zero := make([]byte, streamvmdk.GrainSize)
	for {
		off, g, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if bytes.Equal(g, zero[:len(g)]) {
			continue
		}
		t.vs.mu.Lock()
		err = t.d.layers[0].writeAt(g, off)
		t.vs.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// discardImport deletes the VM of an import that did not complete, as
// vCenter does.
func (s *Sim) discardImport(l *lease) {
	l.mu.Lock()
	ref := l.vm
	l.mu.Unlock()
	if ref.Value == "" {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		vm := object.NewVirtualMachine(s.ctl.Client, ref)
		if t, err := vm.Destroy(s.ctx); err == nil {
			_ = t.Wait(s.ctx)
		}
	}()
}
