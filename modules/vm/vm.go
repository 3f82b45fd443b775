package vm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vmlua/vmlua/internal/datastore"
	"github.com/vmlua/vmlua/internal/vfault"
	"github.com/vmlua/vmlua/internal/vmxfmt"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// vmProps are the properties a VM object caches (refresh reloads them).
var vmProps = []string{"name", "config", "runtime", "snapshot", "datastore", "guest", "layoutEx", "summary.runtime.host", "parent", "resourcePool"}

// VM is a virtual machine as scripts hold it.
type VM struct {
	c   *Conn
	Ref types.ManagedObjectReference
	Obj *object.VirtualMachine

	mu       sync.Mutex
	mo       mo.VirtualMachine
	hostName string
	hostRef  types.ManagedObjectReference // whose name hostName is
	dsNames  []string
	dss      *datastore.Finder
	hook     atomic.Pointer[QuestionHook]   // SetQuestionHook
	own      atomic.Pointer[QuestionPolicy] // SetOwnAnswers
}

func (c *Conn) newVM(ctx context.Context, ref types.ManagedObjectReference) (*VM, error) {
	v := &VM{c: c, Ref: ref, Obj: object.NewVirtualMachine(c.Client, ref), dss: datastore.NewFinder(c.Client)}
	if err := v.Refresh(ctx); err != nil {
		return nil, err
	}
	c.reportOrphans(ctx, v)
	return v, nil
}

// Refresh reloads the VM's properties.
func (v *VM) Refresh(ctx context.Context) error {
	var m mo.VirtualMachine
	if err := v.Obj.Properties(ctx, v.Ref, vmProps, &m); err != nil {
		return vsphereErr(err, v.Ref.Value, "read the VM's properties")
	}
	if m.Config == nil {
		return &runtime.Error{Code: runtime.CodeVSphere, Message: "the VM has no configuration (is it being created or removed?)", VM: m.Name}
	}
	// the host's and the datastores' names are read when the VM is new to
	// this object or has moved: a backup refreshes a VM eight times (each
	// freeze and merge), and read them one call each every time
	v.mu.Lock()
	host, hostRef := v.hostName, v.hostRef
	v.mu.Unlock()
	if h := m.Summary.Runtime.Host; h == nil {
		host, hostRef = "", types.ManagedObjectReference{}
	} else if *h != hostRef {
		host, hostRef = "", *h
		var hm mo.HostSystem
		if err := v.Obj.Properties(ctx, *h, []string{"name"}, &hm); err == nil {
			host = hm.Name
		}
	}
	ds, _ := v.dss.Names(ctx, m.Datastore) // known names are not read again
	sort.Strings(ds)
	v.mu.Lock()
	v.mo, v.hostName, v.hostRef, v.dsNames = m, host, hostRef, ds
	v.mu.Unlock()
	return nil
}

// HostName is the name of the host the VM runs on ("" when it has none),
// as of the last refresh.
func (v *VM) HostName() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.hostName
}

// MO returns a copy of the cached managed object.
func (v *VM) MO() mo.VirtualMachine {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.mo
}

// Name is the VM's display name.
func (v *VM) Name() string { return v.MO().Name }

// Power is "on", "off" or "suspended".
func (v *VM) Power() string {
	switch v.MO().Runtime.PowerState {
	case types.VirtualMachinePowerStatePoweredOn:
		return "on"
	case types.VirtualMachinePowerStateSuspended:
		return "suspended"
	}
	return "off"
}

// Disk is one virtual disk as the script sees it.
type Disk struct {
	ID          string // scsi0:1
	Path        string // current backing file (top of the chain)
	BasePath    string // the base disk, below every snapshot delta
	Chain       []string
	Mode        string // VMX spelling: persistent, independent-persistent, ...
	Capacity    int64
	Datastore   string
	Thin        bool
	RDM         string // "", "physical", "virtual"
	Key         int32
	UUID        string
	ChangeID    string
	Independent bool
	// KeyID is the key of an encrypted disk (VM encryption: its backing's
	// keyId), "" for a disk in the clear.
	KeyID string
}

// Frozen reports whether the disk's content below the running delta is
// frozen (a snapshot sits on it).
func (d Disk) Frozen() bool { return len(d.Chain) > 1 }

// RedoBytes is the size of the disk's running REDO log (the data files
// of the top of its chain, from the VM's file layout as of the last
// refresh); ok is false when the disk has no REDO log or the layout does
// not say.
func (v *VM) RedoBytes(d Disk) (n int64, ok bool) {
	if !d.Frozen() {
		return 0, false
	}
	lx := v.MO().LayoutEx
	if lx == nil {
		return 0, false
	}
	size := map[int32]int64{}
	for _, f := range lx.File {
		if f.Type == string(types.VirtualMachineFileLayoutExFileTypeDiskExtent) {
			size[f.Key] = f.Size
		}
	}
	for _, dl := range lx.Disk {
		if dl.Key != d.Key || len(dl.Chain) == 0 {
			continue
		}
		for _, k := range dl.Chain[len(dl.Chain)-1].FileKey {
			if s, isData := size[k]; isData {
				n, ok = n+s, true
			}
		}
	}
	return n, ok
}

// Disks returns the VM's virtual disks in controller order.
func (v *VM) Disks() []Disk {
	m := v.MO()
	devs := object.VirtualDeviceList(m.Config.Hardware.Device)
	var out []Disk
	for _, dev := range devs.SelectByType((*types.VirtualDisk)(nil)) {
		vd := dev.(*types.VirtualDisk)
		d := Disk{ID: deviceID(devs, vd.GetVirtualDevice()), Capacity: vd.CapacityInBytes, Key: vd.Key}
		if d.Capacity == 0 {
			d.Capacity = vd.CapacityInKB * 1024
		}
		switch b := vd.Backing.(type) {
		case *types.VirtualDiskFlatVer2BackingInfo:
			d.Path, d.Mode, d.UUID, d.ChangeID = b.FileName, vmxfmt.DiskMode(b.DiskMode), b.Uuid, b.ChangeId
			d.Thin = b.ThinProvisioned != nil && *b.ThinProvisioned
			d.Chain = flatChain(b)
			if b.KeyId != nil {
				d.KeyID = cmp.Or(b.KeyId.KeyId, "(no id)")
			}
		case *types.VirtualDiskRawDiskMappingVer1BackingInfo:
			d.Path, d.Mode, d.UUID, d.ChangeID = b.FileName, vmxfmt.DiskMode(b.DiskMode), b.Uuid, b.ChangeId
			d.RDM = "physical"
			if b.CompatibilityMode == string(types.VirtualDiskCompatibilityModeVirtualMode) {
				d.RDM = "virtual"
			}
			d.Chain = []string{b.FileName}
		case types.BaseVirtualDeviceFileBackingInfo:
			d.Path = b.GetVirtualDeviceFileBackingInfo().FileName
			d.Chain = []string{d.Path}
		}
		if len(d.Chain) > 0 {
			d.BasePath = d.Chain[0]
		}
		d.Datastore = dsOfPath(d.Path)
		d.Independent = strings.HasPrefix(d.Mode, "independent")
		out = append(out, d)
	}
	return out
}

// Disk returns one disk by id ("scsi0:1"); it also accepts the VMX-style
// "scsi0:1.fileName" forms' prefix and a disk's file path.
func (v *VM) Disk(id string) (Disk, error) {
	var ids []string
	for _, d := range v.Disks() {
		if strings.EqualFold(d.ID, id) || d.Path == id || d.BasePath == id {
			return d, nil
		}
		ids = append(ids, d.ID)
	}
	return Disk{}, &runtime.Error{Code: runtime.CodeNotFound, Message: fmt.Sprintf("no disk %q on this VM (it has %s)", id, strings.Join(ids, ", ")), VM: v.Name(), Disk: id}
}

// dsOfPath is the datastore of a "[ds] path" ("" when it names none).
func dsOfPath(p string) string { ds, _ := datastore.Split(p); return ds }

// Datastores finds the datastores of the VM's vSphere by name,
// remembering what it found for the VM's life (internal/datastore).
func (v *VM) Datastores() *datastore.Finder { return v.dss }

// deviceID names a device the VMX way: scsi0:1, ide1:0, sata0:2, nvme0:0.
func deviceID(devs object.VirtualDeviceList, d *types.VirtualDevice) string {
	if d.ControllerKey == 0 || d.UnitNumber == nil {
		return fmt.Sprintf("device%d", d.Key)
	}
	ctl := devs.FindByKey(d.ControllerKey)
	prefix := "ctl"
	bus := int32(0)
	switch c := ctl.(type) {
	case types.BaseVirtualSCSIController:
		prefix, bus = "scsi", c.GetVirtualSCSIController().BusNumber
	case *types.VirtualIDEController:
		prefix, bus = "ide", c.BusNumber
	case *types.VirtualAHCIController:
		prefix, bus = "sata", c.BusNumber
	case *types.VirtualNVMEController:
		prefix, bus = "nvme", c.BusNumber
	case types.BaseVirtualController:
		bus = c.GetVirtualController().BusNumber
	}
	return fmt.Sprintf("%s%d:%d", prefix, bus, *d.UnitNumber)
}

// vsphereErr wraps an API error with what was being done.
func vsphereErr(err error, vm, doing string) error {
	if err == nil {
		return nil
	}
	return FaultError(err, vm, doing)
}

// FaultError is the one place a vSphere error becomes the Lua API's
// runtime.Error: "could not DOING: " and the fault's meaning and what to
// do (internal/vfault; never a Go type such as *types.InvalidState), the
// code not_found for an object that no longer exists, invalid_state for a
// state that forbids it, timeout or canceled when the run's context
// ended, vsphere otherwise; vm names the VM (or host) it concerns, if
// any. A runtime.Error is returned as it is. The host, question and
// backup modules use it too.
func FaultError(err error, vm, doing string) *runtime.Error {
	var re *runtime.Error
	if errors.As(err, &re) {
		return re
	}
	code := runtime.CodeVSphere
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		code = runtime.CodeTimeout
	case errors.Is(err, context.Canceled):
		code = runtime.CodeCanceled
	case vfault.NotFound(err):
		code = runtime.CodeNotFound
	case vfault.InvalidState(err):
		code = runtime.CodeInvalidState
	}
	return &runtime.Error{Code: code, Message: fmt.Sprintf("could not %s: %s", doing, vfault.Text(err)), VM: vm, Err: err}
}
