package vsim

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/vmlua/vmlua/internal/nfsserve"
)

// NAS datastores served by a real NFS server (instant recovery, vmlua
// serve nfs): HostDatastoreSystem.CreateNasDatastore mounts the export
// as ESXi does (NFSv3, notes/real-vsphere.md: an ESXi host mounts NFS
// datastores itself; the datastore is named LocalPath), and every file
// of the datastore is then read and written on the NFS server through
// the NFS client (go-nfs-client), shown to the rest of the simulator as
// a local folder (nas_fuse.go): RegisterVM reads the .vmx from the
// server, a powered-on VM's guest writes to its disks there, relocation
// copies them off it. RemoveDatastore unmounts it (refused while a VM is
// on it: ResourceInUse). Stock vcsim takes RemotePath as a local folder
// and has no RemoveDatastore.
//
// The simulator's one extension of the API: RemoteHost may carry a port
// ("127.0.0.1:20490"), where ESXi always uses 2049, so that a test's
// server on a free port can be mounted; the MOUNT service is found on
// the NFS port (go-nfs serves both), not through a portmapper.

type dsSysWrapper struct {
	*simulator.HostDatastoreSystem
	s *Sim
}

// nasMount is a mounted NAS datastore.
type nasMount struct {
	name, dir string
	srv       *fuse.Server
	close     func()
}

// nasMounts are the NAS datastores each Sim mounted, by datastore moref.
var nasMounts = struct {
	sync.Mutex
	m map[*Sim]map[string]*nasMount
}{m: map[*Sim]map[string]*nasMount{}}

func (w *dsSysWrapper) CreateNasDatastore(ctx *simulator.Context, req *types.CreateNasDatastore) soap.HasFault {
	s, spec := w.s, req.Spec
	fail := func(f types.BaseMethodFault) soap.HasFault {
		return &methods.CreateNasDatastoreBody{Fault_: simulator.Fault(faultMessage(f), f)}
	}
	if spec.Type != "" && !strings.EqualFold(spec.Type, string(types.HostFileSystemVolumeFileSystemTypeNFS)) {
		return fail(withMessage(&types.NotSupported{}, fmt.Sprintf("vsim mounts NFS (v3) datastores only, not %s", spec.Type)))
	}
	if spec.RemoteHost == "" || spec.RemotePath == "" || spec.LocalPath == "" || strings.ContainsAny(spec.LocalPath, `/\`) {
		return fail(withMessage(&types.InvalidArgument{InvalidProperty: "spec"}, "RemoteHost, RemotePath and LocalPath (the datastore's name) are required"))
	}
	addr := spec.RemoteHost
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "2049")
	}
	t, closeNFS, err := nfsserve.Dial(addr, spec.RemotePath)
	if err != nil {
		return fail(withMessage(&types.PlatformConfigFault{Text: err.Error()}, fmt.Sprintf("NFS mount %s:%s failed: %v", spec.RemoteHost, spec.RemotePath, err)))
	}
	root, err := os.MkdirTemp("", "vsim-nas-")
	if err != nil {
		closeNFS()
		return fail(withMessage(&types.PlatformConfigFault{Text: err.Error()}, err.Error()))
	}
	dir := filepath.Join(root, spec.LocalPath)
	os.Mkdir(dir, 0o755)
	srv, err := mountNAS(dir, t)
	if err != nil {
		closeNFS()
		os.RemoveAll(root)
		return fail(withMessage(&types.PlatformConfigFault{Text: err.Error()}, fmt.Sprintf("NFS mount %s:%s: %v", spec.RemoteHost, spec.RemotePath, err)))
	}
	m := &nasMount{name: spec.LocalPath, dir: dir, srv: srv, close: func() { unmountNASDir(srv, dir); closeNFS(); os.RemoveAll(root) }}
	inner := *req
	inner.Spec.LocalPath = dir // vcsim: the datastore's name is the folder's name, its URL the folder
	res := w.HostDatastoreSystem.CreateNasDatastore(ctx, &inner).(*methods.CreateNasDatastoreBody)
	if res.Fault_ != nil {
		m.close()
		return res
	}
	ref := res.Res.Returnval
	if ds, ok := ctx.Map.Get(ref).(*simulator.Datastore); ok {
		if info, ok := ds.Info.(*types.NasDatastoreInfo); ok && info.Nas != nil {
			info.Nas.Name = spec.LocalPath
		}
	}
	s.mu.Lock()
	s.dsDirs[spec.LocalPath] = dir
	s.mu.Unlock()
	nasMounts.Lock()
	if nasMounts.m[s] == nil {
		nasMounts.m[s] = map[string]*nasMount{}
	}
	nasMounts.m[s][ref.Value] = m
	nasMounts.Unlock()
	s.logf("vsim: NAS datastore %s mounted from %s:%s", spec.LocalPath, spec.RemoteHost, spec.RemotePath)
	return res
}

func (w *dsSysWrapper) RemoveDatastore(ctx *simulator.Context, req *types.RemoveDatastore) soap.HasFault {
	s := w.s
	ds, ok := ctx.Map.Get(req.Datastore).(*simulator.Datastore)
	if !ok {
		return &methods.RemoveDatastoreBody{Fault_: simulator.Fault("", &types.ManagedObjectNotFound{Obj: req.Datastore})}
	}
	if len(ds.Vm) > 0 {
		return &methods.RemoveDatastoreBody{Fault_: simulator.Fault(fmt.Sprintf("datastore %s is in use by %d VM(s)", ds.Name, len(ds.Vm)), &types.ResourceInUse{Type: "Datastore", Name: ds.Name})}
	}
	ref := ds.Self
	dss := w.HostDatastoreSystem
	ctx.Map.RemoveReference(ctx, dss, &dss.Datastore, ref)
	dss.Host.Datastore = dss.Datastore
	if dss.Host.Parent != nil {
		switch p := ctx.Map.Get(*dss.Host.Parent).(type) {
		case *simulator.ClusterComputeResource:
			ctx.Map.RemoveReference(ctx, p, &p.Datastore, ref)
		case *mo.ComputeResource:
			ctx.Map.RemoveReference(ctx, p, &p.Datastore, ref)
		}
	}
	if ds.Parent != nil {
		if f, ok := ctx.Map.Get(*ds.Parent).(*simulator.Folder); ok {
			ctx.Map.RemoveReference(ctx, f, &f.ChildEntity, ref)
		}
	}
	ctx.Map.Remove(ctx, ref)
	nasMounts.Lock()
	m := nasMounts.m[s][ref.Value]
	delete(nasMounts.m[s], ref.Value)
	nasMounts.Unlock()
	if m != nil {
		s.mu.Lock()
		delete(s.dsDirs, m.name)
		s.mu.Unlock()
		m.close()
		s.logf("vsim: NAS datastore %s unmounted", m.name)
	}
	return &methods.RemoveDatastoreBody{Res: &types.RemoveDatastoreResponse{}}
}

// unmountNAS unmounts every NAS datastore of s (Close).
func (s *Sim) unmountNAS() {
	nasMounts.Lock()
	ms := nasMounts.m[s]
	delete(nasMounts.m, s)
	nasMounts.Unlock()
	for _, m := range ms {
		m.close()
	}
}
