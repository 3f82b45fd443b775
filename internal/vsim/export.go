package vsim

import (
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const nfcPath = "/vmlua/nfc/"

// source is what an export URL or a /folder GET streams: a flat file as it
// is (a frozen base, served like http.FileServer does), or the logical
// content of a chain level.
type source struct {
	file  string       // flat file, or
	chain *chainReader // a chain level
	size  int64
}

func (src source) serve(w http.ResponseWriter, r *http.Request, name string) {
	if src.chain != nil {
		rs := *src.chain
		http.ServeContent(w, r, name, time.Time{}, &rs)
		return
	}
	f, err := os.Open(src.file)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	http.ServeContent(w, r, name, time.Time{}, f) // *os.File: sendfile where the connection allows
}

// diskSource returns the source for d's chain up to level.
func (vs *vmState) diskSource(d *disk, level int) source {
	if level == 0 {
		return source{file: d.layers[0].dataFile, size: d.capacity}
	}
	return source{chain: &chainReader{mu: &vs.mu, d: d, l: d.layers[level], size: d.capacity}, size: d.capacity}
}

type lease struct {
	mo.HttpNfcLease
	s     *Sim
	files map[string]source
}

var leaseCounter atomic.Int64

func (s *Sim) newLease(ctx *simulator.Context, entity types.ManagedObjectReference, files map[string]source, keys map[string]string) *lease {
	l := &lease{s: s, files: files}
	l.Self = types.ManagedObjectReference{Type: "HttpNfcLease", Value: fmt.Sprintf("vmlua-lease-%d", leaseCounter.Add(1))}
	u := *s.URL
	u.User = nil
	if ctx.Map.IsESX() {
		u.Host = "*"
	}
	info := &types.HttpNfcLeaseInfo{Lease: l.Self, Entity: entity, LeaseTimeout: 300}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sortStrings(names)
	for _, n := range names {
		u.Path = nfcPath + path.Join(l.Self.Value, n)
		info.DeviceUrl = append(info.DeviceUrl, types.HttpNfcLeaseDeviceUrl{
			Key: keys[n], ImportKey: keys[n], Url: u.String(), TargetId: n,
			Disk: types.NewBool(true), FileSize: files[n].size,
		})
		info.TotalDiskCapacityInKB += files[n].size / 1024
	}
	l.State = types.HttpNfcLeaseStateReady
	l.Info = info
	l.InitializeProgress = 100
	l.Mode = string(types.HttpNfcLeaseModePushOrGet)
	l.Capabilities = types.HttpNfcLeaseCapabilities{PullModeSupported: true, CorsSupported: true}
	ctx.Session.Put(l)
	s.leases.Store(l.Self.Value, l)
	return l
}

func (l *lease) end(ctx *simulator.Context) {
	l.s.leases.Delete(l.Self.Value)
	ctx.Session.Remove(ctx, l.Self)
}

func (l *lease) HttpNfcLeaseComplete(ctx *simulator.Context, req *types.HttpNfcLeaseComplete) soap.HasFault {
	l.end(ctx)
	return &methods.HttpNfcLeaseCompleteBody{Res: new(types.HttpNfcLeaseCompleteResponse)}
}

func (l *lease) HttpNfcLeaseAbort(ctx *simulator.Context, req *types.HttpNfcLeaseAbort) soap.HasFault {
	l.end(ctx)
	return &methods.HttpNfcLeaseAbortBody{Res: new(types.HttpNfcLeaseAbortResponse)}
}

func (l *lease) HttpNfcLeaseProgress(ctx *simulator.Context, req *types.HttpNfcLeaseProgress) soap.HasFault {
	ctx.Update(l, []types.PropertyChange{{Name: "transferProgress", Val: req.Percent}})
	return &methods.HttpNfcLeaseProgressBody{Res: new(types.HttpNfcLeaseProgressResponse)}
}

func (l *lease) HttpNfcLeaseGetManifest(ctx *simulator.Context, req *types.HttpNfcLeaseGetManifest) soap.HasFault {
	return &methods.HttpNfcLeaseGetManifestBody{Res: &types.HttpNfcLeaseGetManifestResponse{}}
}

func (s *Sim) serveNFC(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, nfcPath)
	id, name, ok := strings.Cut(rest, "/")
	v, found := s.leases.Load(id)
	if !ok || !found {
		http.NotFound(w, r)
		return
	}
	src, ok := v.(*lease).files[name]
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		http.NotFound(w, r)
		return
	}
	src.serve(w, r, name)
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
		files[n] = vs.diskSource(d, len(d.layers)-1)
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
		files[n] = vs.diskSource(d, d.level(sn))
		keys[n] = fmt.Sprintf("/%s/VirtualLsiLogicController0:%s", w.Vm.Value, d.id)
	}
	vs.mu.Unlock()
	l := w.s.newLease(ctx, w.Vm, files, keys)
	body.Res = &types.ExportSnapshotResponse{Returnval: l.Self}
	return body
}

// serveFolder answers GET/HEAD of /folder: every file as it is on the
// datastore, a snapshot delta in its real format (delta_format.go) as ESXi
// serves it.
func (s *Sim) serveFolder(w http.ResponseWriter, r *http.Request) {
	ds := r.URL.Query().Get("dsName")
	p := strings.TrimPrefix(r.URL.Path, "/folder/")
	if dir, ok := s.dsDir(ds); ok && !strings.Contains(p, "..") {
		local := filepath.Join(dir, filepath.FromSlash(p))
		// a plain file straight from the datastore's folder: vcsim's
		// ServeDatastore looks the datastore up through the property
		// collector on every request, which made each range GET of a
		// backup cost milliseconds
		if fi, err := os.Stat(local); err == nil && fi.Mode().IsRegular() {
			source{file: local, size: fi.Size()}.serve(w, r, path.Base(p))
			return
		}
	}
	s.model.Service.ServeDatastore(w, r)
}

var _ sync.Locker = (*sync.Mutex)(nil)
