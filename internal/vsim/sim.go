package vsim

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// Options configures a simulator. The zero value is usable.
type Options struct {
	// Model is "vpx" (vCenter, the default) or "esx" (a standalone host).
	Model string
	// Listen is the host:port to serve on; default "127.0.0.1:0".
	Listen string
	// Username and Password are the credentials the SDK accepts; default
	// "vmlua" and a random password. They are part of Sim.URL.
	Username, Password string
	// VMs is the number of plain single-disk VMs ("VM1".."VMn") created next
	// to the multi-disk VM "DB01"; default 2. Ignored when Inventory is set.
	VMs int
	// DiskSize is the capacity of each default disk; default 32 MiB. It is
	// rounded up to a multiple of 64 KiB.
	DiskSize int64
	// Inventory, when set, replaces the default VMs.
	Inventory []VMSpec
	// Fleet adds to the default inventory the VMs a real fleet has beyond
	// flat disks on VMFS (fleet.go): one VM on each datastore that is not
	// VMFS, and a VM with a three-level snapshot tree of its own. Off for
	// Go tests (whose VM counts and "any:" selections know the default
	// inventory), on in vmlua sim (--fleet).
	Fleet bool
	// Datastores is the number of VMFS datastores LocalDS_0..n-1 (the
	// first VMFS 5, the others VMFS 6) when DatastoreTypes is empty.
	Datastores int
	// DatastoreTypes lists the datastores to create by type ("VMFS5",
	// "VMFS6", "NFS", "vsan", "VVOL"; datastore_types.go); default, when
	// Datastores is 0 too, DefaultDatastoreTypes.
	DatastoreTypes []string
	// DatastoreDir holds the datastores' files (one folder per datastore).
	// Default: a temporary folder removed by Close.
	DatastoreDir string
	// WriteRate is the number of guest writes per second per powered-on VM;
	// default 20. Change it later with SetWriteRate.
	WriteRate float64
	// MaxRedo is the number of snapshots (REDO logs) a VM may have; the next
	// CreateSnapshot raises a single-choice question and then fails, as ESX 2
	// did beyond its REDO depth. Default 2 (none with Fleet); negative
	// means no question. ESXi 8's limit of MaxSnapshotLevels holds anyway.
	MaxRedo int
	// Seed makes content differ between simulators; default "vmlua".
	Seed string
	// Logf receives diagnostics; default: discarded.
	Logf func(format string, args ...any)

	// The simulator is as hard as real ESXi and vCenter where backup tools
	// break; each behaviour is on by default (docs/simulator.md). A zero
	// value means the default; a negative one, none.
	//
	// HostRate is the bytes per second of one connection to a host's
	// /folder (DefaultHostRate); HostTotalRate those of all of a host's
	// connections (DefaultHostTotalRate); HostConns the requests a host
	// serves at once, more get 503 (DefaultHostConns). host_throttle.go.
	HostRate, HostTotalRate float64
	HostConns               int
	// VCenterRate is the bytes per second of one connection through
	// vCenter's /folder proxy (DefaultVCenterRate); VCenterErrorEvery and
	// VCenterBusy say how often it answers 500 under load
	// (DefaultVCenterErrorEvery, DefaultVCenterBusy). vcenter_proxy.go.
	VCenterRate       float64
	VCenterErrorEvery int
	VCenterBusy       int
	// SessionIdle is how long a session may go without an API call before
	// it expires, on the simulator's clock (DefaultSessionIdle; see
	// AdvanceClock). session_expiry.go.
	SessionIdle time.Duration
	// HostsUnreachable starts every host's own listener closed: /folder
	// is only reachable through vCenter (SetHostReachable reopens one).
	HostsUnreachable bool
	// OpenFolder serves /folder without authentication (folder_auth.go
	// off); NoFileLocks lets a running VM's live disk be read
	// (file_lock.go off). For a unit test of something else only.
	OpenFolder, NoFileLocks bool
	// DatastoreCapacity is the capacity of each datastore
	// (DefaultDatastoreCapacity): a VM whose disk grows beyond it stops on
	// msg.hbacommon.outofspace. datastore_space.go.
	DatastoreCapacity int64
	// NFCLeaseTimeout is how long an NFC lease lives without
	// HttpNfcLeaseProgress, on the simulator's clock
	// (DefaultNFCLeaseTimeout, vCenter's 5 minutes; negative: never;
	// nfc_lease.go).
	NFCLeaseTimeout time.Duration
	// OnFolder, when set, is called as a host starts serving a /folder
	// request it admitted (after authentication, throttling and locks); it
	// may block, holding the request.
	OnFolder func(FolderRequest)
}

// VMSpec describes one VM of the inventory.
type VMSpec struct {
	Name           string
	Disks          []DiskSpec // default: one disk of Options.DiskSize
	PoweredOff     bool
	ChangeTracking bool // config.changeTrackingEnabled
	// Where it sits (placement.go): Folder is a path below the
	// datacenter's VM folder ("prod/web"), Host a host's name, Pool a path
	// below the root pool of its cluster or host ("prod"); made as needed.
	Folder, Host, Pool string
	// Tags are vSphere tags, "Category:Name" (tags.go; vpx model only).
	Tags []string
	// Snapshots are user snapshots the VM gets when the inventory is
	// built, each the child of the one before, with guest writes between
	// them (snapshot_tree.go).
	Snapshots []string
}

// DiskSpec describes one disk; disks sit on scsi0 in order (scsi0:0, scsi0:1, ...).
type DiskSpec struct {
	Size      int64  // default Options.DiskSize
	Datastore string // default "LocalDS_0"
	Mode      string // "persistent" (default), "independent_persistent", "independent_nonpersistent"
}

// Sim is a running simulator.
type Sim struct {
	// URL is the SDK URL including user:password.
	URL *url.URL
	// Thumbprint is the SHA-1 thumbprint of the server certificate.
	Thumbprint string

	opts   Options
	model  *simulator.Model
	server *simulator.Server
	reg    *simulator.Registry
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	tmpDir string
	ctl    *govmomi.Client // the simulator's own control session

	mu         sync.Mutex
	vms        map[string]*vmState // by moref value
	dsDirs     map[string]string   // datastore name -> local dir
	taskFaults []*TaskFault
	leases     sync.Map              // lease id -> *lease
	hosts      map[string]*hostState // by moref value
	downloads  sync.Map              // download id -> *bundleDownload

	downloadFaults []*DownloadFault
	qid            int

	vc          *endpoint    // vCenter's /folder proxy (nil on the ESX model)
	clockOffset atomic.Int64 // AdvanceClock
	sess        sessions
	tkt         tickets
	load        proxyLoad
	dsKinds     map[string]dsKind                   // datastore name -> type (datastore_types.go)
	nfcOpen     nfcFiles                            // files NFC exports hold open (file_lock.go)
	ctlKey      string                              // the control session's key: it never expires
	folderHook  atomic.Pointer[func(FolderRequest)] // SetOnFolder
	capacity    atomic.Int64                        // SetDatastoreCapacity
	nfcHook     atomic.Pointer[func(NFCRead) error] // SetOnNFCRead
	calls       struct {                            // call_log.go
		sync.Mutex
		n map[string]int
	}
	spaceMu   sync.Mutex
	spaceSeen map[string]spaceCount // datastore_space.go
}

const (
	defaultDiskSize = 32 << 20
)

// DefaultInventory returns the inventory Start creates when Options.Inventory is empty.
func DefaultInventory(o Options) []VMSpec {
	o = o.withDefaults()
	inv := []VMSpec{{
		Name: "DB01",
		Disks: []DiskSpec{
			{Size: o.DiskSize, Datastore: "LocalDS_0"},
			{Size: o.DiskSize, Datastore: "LocalDS_1"},
			{Size: o.DiskSize, Datastore: "LocalDS_0", Mode: "independent_persistent"},
		},
		ChangeTracking: true,
		Tags:           []string{"Backup:gold", "Env:prod"},
	}}
	for i := 1; i <= o.VMs; i++ {
		v := VMSpec{Name: fmt.Sprintf("VM%d", i), Tags: []string{"Backup:silver"}}
		if i == 2 {
			v.Tags = append(v.Tags, "Env:test")
		}
		inv = append(inv, v)
	}
	if o.Fleet {
		inv = append(inv, fleetInventory(o)...)
	}
	if o.Model == "esx" {
		for i := range inv {
			inv[i].Tags = nil // ESXi has no tags
		}
	}
	return inv
}

func (o Options) withDefaults() Options {
	if o.Model == "" {
		o.Model = "vpx"
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Username == "" {
		o.Username = "vmlua"
	}
	if o.Password == "" {
		// Random, so that it never coincides with ordinary words of the
		// logs (vmlua redacts every configured password from its output).
		b := make([]byte, 9)
		_, _ = rand.Read(b)
		o.Password = "sim-" + hex.EncodeToString(b)
	}
	if o.VMs == 0 {
		o.VMs = 2
	}
	if o.DiskSize <= 0 {
		o.DiskSize = defaultDiskSize
	}
	o.DiskSize = (o.DiskSize + BlockSize - 1) / BlockSize * BlockSize
	if o.WriteRate == 0 {
		o.WriteRate = 20
	}
	if o.MaxRedo == 0 {
		o.MaxRedo = 2
		if o.Fleet {
			o.MaxRedo = -1 // ESXi 8 asks no question (snapshot_tree.go)
		}
	}
	if o.Seed == "" {
		o.Seed = "vmlua"
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	o.HostRate = rateOr(o.HostRate, DefaultHostRate)
	o.HostTotalRate = rateOr(o.HostTotalRate, DefaultHostTotalRate)
	o.VCenterRate = rateOr(o.VCenterRate, DefaultVCenterRate)
	o.HostConns = intOr(o.HostConns, DefaultHostConns)
	o.VCenterErrorEvery = intOr(o.VCenterErrorEvery, DefaultVCenterErrorEvery)
	o.VCenterBusy = intOr(o.VCenterBusy, DefaultVCenterBusy)
	o.DatastoreCapacity = rateOr(o.DatastoreCapacity, DefaultDatastoreCapacity)
	if o.SessionIdle == 0 {
		o.SessionIdle = DefaultSessionIdle
	}
	if o.NFCLeaseTimeout == 0 {
		o.NFCLeaseTimeout = DefaultNFCLeaseTimeout
	}
	return o
}

// rateOr maps an Options rate: 0 is the default, negative none (0).
func rateOr[T int | int64 | float64](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// intOr maps an Options count the same way.
func intOr(v, def int) int { return rateOr(v, def) }

// allVMs returns the VMs' states.
func (s *Sim) allVMs() []*vmState {
	s.mu.Lock()
	defer s.mu.Unlock()
	vms := make([]*vmState, 0, len(s.vms))
	for _, vs := range s.vms {
		vms = append(vms, vs)
	}
	return vms
}

// Start builds the inventory and serves the SDK until Close.
func Start(ctx context.Context, opts Options) (_ *Sim, err error) {
	opts = opts.withDefaults()
	s := &Sim{opts: opts, vms: map[string]*vmState{}, dsDirs: map[string]string{}}
	s.sess.last = map[string]time.Time{}
	s.tkt.m = map[string]ticket{}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	switch opts.Model {
	case "vpx":
		s.model = simulator.VPX()
	case "esx":
		s.model = simulator.ESX()
	default:
		return nil, fmt.Errorf("vsim: unknown model %q (want vpx or esx)", opts.Model)
	}
	s.model.Datastore = 0
	s.model.Machine = 0
	s.model.Autostart = false
	if err := s.model.Create(); err != nil {
		return nil, fmt.Errorf("vsim: create model: %w", err)
	}
	s.reg = s.model.Map()
	s.reg.Handler = s.dispatch
	s.reg.AddHandler(powerWatch{s}) // cbt_live.go
	if err := s.setupHosts(); err != nil {
		return nil, err
	}
	if err := s.startHostListeners(); err != nil {
		return nil, err
	}

	svc := s.model.Service
	svc.TLS = new(tls.Config)
	svc.RegisterEndpoints = true // the vAPI's tagging service (tags.go)
	svc.Listen = &url.URL{Host: opts.Listen, User: url.UserPassword(opts.Username, opts.Password)}
	for _, m := range []string{"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"} {
		svc.HandleFunc(m+" /folder/", s.serveVCenterFolder)
	}
	svc.HandleFunc(nfcPath, s.serveNFC)
	svc.HandleFunc(controlPath, s.serveControl)
	svc.HandleFunc("GET "+downloadsPath, s.serveDownload)
	svc.HandleFunc("HEAD "+downloadsPath, s.serveDownload)
	svc.HandleFunc("PUT "+uploadPath, s.serveUpload)
	svc.HandleFunc("POST "+uploadPath, s.serveUpload)
	s.server = svc.NewServer()
	s.URL = s.server.URL
	s.Thumbprint = s.server.CertificateInfo().ThumbprintSHA1
	if !s.reg.IsESX() {
		s.vc = &endpoint{name: VCenter, addr: s.URL.Host}
	}
	s.adoptSDKHost()
	if opts.HostsUnreachable {
		for _, h := range s.Hosts() {
			if err := s.SetHostReachable(h, false); err != nil && !s.reg.IsESX() {
				return nil, err
			}
		}
	}

	dir := opts.DatastoreDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "vmlua-sim-"); err != nil {
			return nil, err
		}
		s.tmpDir = dir
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}

	if s.ctl, err = s.Client(ctx); err != nil {
		return nil, fmt.Errorf("vsim: control login: %w", err)
	}
	if us, err := s.ctl.SessionManager.UserSession(ctx); err == nil && us != nil {
		s.ctlKey = us.Key
	}
	if err := s.grantAdmin(ctx); err != nil {
		return nil, err
	}
	if err := s.createDatastores(ctx, dir); err != nil {
		return nil, err
	}
	inv := opts.Inventory
	if len(inv) == 0 {
		inv = DefaultInventory(opts)
	}
	for _, spec := range inv {
		if err := s.createVM(ctx, spec); err != nil {
			return nil, fmt.Errorf("vsim: create VM %s: %w", spec.Name, err)
		}
	}
	if err := s.tagInventory(ctx, inv); err != nil {
		return nil, err
	}
	for name := range s.dsDirs {
		s.refreshSpace(name) // datastore_space.go
	}
	return s, nil
}

// Client logs in a new govmomi client (insecure TLS; the certificate's
// thumbprint is Sim.Thumbprint).
func (s *Sim) Client(ctx context.Context) (*govmomi.Client, error) {
	return govmomi.NewClient(ctx, s.URL, true)
}

// Close stops the guests and the server and removes temporary files.
func (s *Sim) Close() {
	if s.cancel != nil {
		s.cancel()
	}
	s.stopListeners()
	s.wg.Wait()
	if s.ctl != nil {
		_ = s.ctl.Logout(context.Background())
	}
	if s.server != nil {
		s.server.Close()
	}
	s.mu.Lock()
	for _, vs := range s.vms {
		vs.mu.Lock()
		for _, d := range vs.disks {
			d.close()
		}
		vs.mu.Unlock()
	}
	s.mu.Unlock()
	s.unmountNAS()
	if s.model != nil {
		s.model.Remove()
	}
	if s.tmpDir != "" {
		os.RemoveAll(s.tmpDir)
	}
}

func (s *Sim) logf(format string, args ...any) { s.opts.Logf(format, args...) }

func (s *Sim) createDatastores(ctx context.Context, dir string) error {
	c := s.ctl.Client
	hosts, err := find.NewFinder(c).HostSystemList(ctx, "*/*")
	if err != nil {
		hosts, err = find.NewFinder(c).HostSystemList(ctx, "*")
	}
	if err != nil {
		return fmt.Errorf("vsim: find hosts: %w", err)
	}
	names, kinds, err := s.opts.datastorePlan()
	if err != nil {
		return err
	}
	for i, name := range names {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		for _, h := range hosts {
			dss, err := h.ConfigManager().DatastoreSystem(ctx)
			if err != nil {
				return err
			}
			if _, err := dss.CreateLocalDatastore(ctx, name, p); err != nil {
				return fmt.Errorf("vsim: create datastore %s: %w", name, err)
			}
		}
		s.mu.Lock()
		s.dsDirs[name] = p
		s.mu.Unlock()
		s.setDatastoreType(name, kinds[i])
	}
	return nil
}

// dsLocal maps "[ds] path" to a local file name.
func (s *Sim) dsLocal(p string) (string, error) {
	s.mu.Lock()
	dir, ok := s.dsDirs[dsPathName(p)]
	s.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("vsim: unknown datastore in %q", p)
	}
	return filepath.Join(dir, filepath.FromSlash(dsPathPath(p))), nil
}

func (s *Sim) createVM(ctx context.Context, spec VMSpec) error {
	c := s.ctl.Client
	finder := find.NewFinder(c)
	dc, err := finder.DefaultDatacenter(ctx)
	if err != nil {
		return err
	}
	finder.SetDatacenter(dc)
	folders, err := dc.Folders(ctx)
	if err != nil {
		return err
	}
	folder, pool, host, err := s.placement(ctx, finder, folders.VmFolder, spec)
	if err != nil {
		return err
	}
	netw, err := finder.Network(ctx, "VM Network")
	if err != nil {
		return err
	}

	disks := spec.Disks
	if len(disks) == 0 {
		disks = []DiskSpec{{}}
	}
	home := s.homeDatastore(spec.Disks)
	var devices object.VirtualDeviceList
	scsi, err := devices.CreateSCSIController("lsilogic")
	if err != nil {
		return err
	}
	devices = append(devices, scsi)
	ctrl := scsi.(types.BaseVirtualController).GetVirtualController()
	for i, ds := range disks {
		if ds.Size <= 0 {
			ds.Size = s.opts.DiskSize
		}
		ds.Size = (ds.Size + BlockSize - 1) / BlockSize * BlockSize
		if ds.Datastore == "" {
			ds.Datastore = "LocalDS_0"
		}
		if ds.Mode == "" {
			ds.Mode = string(types.VirtualDiskModePersistent)
		}
		if ds.Datastore != home { // the home's folder is the VM's own, made by CreateVM
			if dir, ok := s.dsDir(ds.Datastore); ok {
				os.MkdirAll(filepath.Join(dir, spec.Name), 0o755)
			}
		}
		name := spec.Name
		if i > 0 {
			name = fmt.Sprintf("%s_%d", spec.Name, i)
		}
		unit := int32(i)
		if unit >= 7 {
			unit++ // unit 7 is the controller's own
		}
		d := &types.VirtualDisk{
			VirtualDevice: types.VirtualDevice{
				Key:           int32(-100 - i),
				ControllerKey: ctrl.Key,
				UnitNumber:    &unit,
				Backing: &types.VirtualDiskFlatVer2BackingInfo{
					VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{
						FileName: fmt.Sprintf("[%s] %s/%s.vmdk", ds.Datastore, spec.Name, name),
					},
					DiskMode:        ds.Mode,
					ThinProvisioned: types.NewBool(true),
				},
			},
			CapacityInKB:    ds.Size / 1024,
			CapacityInBytes: ds.Size,
		}
		devices = append(devices, d)
	}
	backing, err := netw.EthernetCardBackingInfo(ctx)
	if err != nil {
		return err
	}
	nic, err := devices.CreateEthernetCard("vmxnet3", backing)
	if err != nil {
		return err
	}
	devices = append(devices, nic)
	changes, err := devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	if err != nil {
		return err
	}
	for _, ch := range changes {
		if _, ok := ch.GetVirtualDeviceConfigSpec().Device.(*types.VirtualDisk); ok {
			ch.GetVirtualDeviceConfigSpec().FileOperation = types.VirtualDeviceConfigSpecFileOperationCreate
		}
	}
	cfg := types.VirtualMachineConfigSpec{
		Name:                  spec.Name,
		GuestId:               string(types.VirtualMachineGuestOsIdentifierOtherLinux64Guest),
		NumCPUs:               1,
		MemoryMB:              256,
		Files:                 &types.VirtualMachineFileInfo{VmPathName: "[" + home + "]"},
		DeviceChange:          changes,
		ChangeTrackingEnabled: types.NewBool(spec.ChangeTracking),
	}
	task, err := folder.CreateVM(ctx, cfg, pool, host)
	if err != nil {
		return err
	}
	info, err := task.WaitForResult(ctx)
	if err != nil {
		return err
	}
	ref := info.Result.(types.ManagedObjectReference)
	vs, err := s.adopt(ref, true)
	if err != nil {
		return err
	}
	s.publishObjectStoreLayout(vs)
	if len(spec.Snapshots) > 0 {
		if err := s.takeUserSnapshots(vs, spec.Snapshots); err != nil {
			return err
		}
	}
	if spec.PoweredOff && spec.ChangeTracking {
		if vm, ok := s.reg.Get(ref).(*simulator.VirtualMachine); ok {
			ctx := s.bgContext()
			ctx.WithLock(vm, func() {
				vs.mu.Lock()
				defer vs.mu.Unlock()
				s.publishLiveChangeID(ctx, vm, vs)
			})
		}
	}
	if !spec.PoweredOff {
		vm := object.NewVirtualMachine(c, ref)
		t, err := vm.PowerOn(ctx)
		if err != nil {
			return err
		}
		if err := t.Wait(ctx); err != nil {
			return err
		}
	}
	_ = vs
	return nil
}

// homeDatastore is where a new VM's folder goes: LocalDS_0, or the first
// disk's datastore when that is not VMFS (a VM on vSAN, vVols or NFS has
// its home there too).
func (s *Sim) homeDatastore(disks []DiskSpec) string {
	if len(disks) > 0 && disks[0].Datastore != "" && s.dsKindOf(disks[0].Datastore).summaryType != "VMFS" {
		return disks[0].Datastore
	}
	return "LocalDS_0"
}

var errNoVM = errors.New("vsim: no such VM")

// vmByName returns the state of the named VM.
func (s *Sim) vmByName(name string) (*vmState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, vs := range s.vms {
		if vs.name == name {
			return vs, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", errNoVM, name)
}

var _ = log.Printf
var _ io.Reader

func sortStrings(a []string) { sort.Strings(a) }
