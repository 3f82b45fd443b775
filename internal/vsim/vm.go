package vsim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// vmState is vmlua's side of one simulated VM: its disk chains, its guest and
// its write log, its snapshots (a linear chain) and its pending question.
type vmState struct {
	s    *Sim
	ref  types.ManagedObjectReference
	name string
	seed uint64

	mu          sync.Mutex
	disks       []*disk
	seq         uint64
	log         []Write
	rate        float64
	paused      bool
	snaps       []*snapState
	snapCounter int
	question    *Question
	gone        bool
	// uuid.location and uuid.action of the .vmx (uuid_question.go)
	uuidLocation, uuidAction string
	wake                     chan struct{}
	// cbtEpoch counts the times changed block tracking was switched off:
	// change ids carry it, so that tracking switched off and on again
	// starts a new epoch, as on ESXi (cbt.go)
	cbtEpoch uint64
	// cbtWhole: QueryChangedDiskAreas answers one extent over the whole
	// disk, whatever the change id (SetCBTWholeDisk)
	cbtWhole bool
}

// snapState is one snapshot of the (linear) chain. Its state of a disk is
// the chain up to the layer it froze.
type snapState struct {
	ref      types.ManagedObjectReference
	frozen   map[string]*layer // disk id -> the layer this snapshot froze
	seq      uint64            // guest write count at the snapshot instant
	changeId string
	tree     types.VirtualMachineSnapshotTree
	vmsn     string // "[ds] vm/vm-Snapshot1.vmsn"
}

func (vs *vmState) diskByID(id string) *disk {
	for _, d := range vs.disks {
		if d.id == id {
			return d
		}
	}
	return nil
}

func (vs *vmState) diskByKey(key int32) *disk {
	for _, d := range vs.disks {
		if d.key == key {
			return d
		}
	}
	return nil
}

func (vs *vmState) snapIndex(ref types.ManagedObjectReference) int {
	for i, sn := range vs.snaps {
		if sn.ref == ref {
			return i
		}
	}
	return -1
}

// bgContext returns a Context for work outside of a SOAP call; each has its
// own lock identity.
func (s *Sim) bgContext() *simulator.Context {
	return &simulator.Context{Map: s.reg, Context: s.ctx}
}

// deviceID names a device the VMX way: "scsi0:1", "ide0:0", "sata0:0", "nvme0:0".
func deviceID(devices object.VirtualDeviceList, d types.BaseVirtualDevice) string {
	dev := d.GetVirtualDevice()
	c := devices.FindByKey(dev.ControllerKey)
	if c == nil || dev.UnitNumber == nil {
		return fmt.Sprintf("disk%d", dev.Key)
	}
	bus := c.(types.BaseVirtualController).GetVirtualController().BusNumber
	kind := "scsi"
	switch c.(type) {
	case *types.VirtualIDEController:
		kind = "ide"
	case *types.VirtualAHCIController:
		kind = "sata"
	case *types.VirtualNVMEController:
		kind = "nvme"
	}
	return fmt.Sprintf("%s%d:%d", kind, bus, *dev.UnitNumber)
}

func adapterType(devices object.VirtualDeviceList, d *types.VirtualDisk) string {
	switch devices.FindByKey(d.ControllerKey).(type) {
	case *types.VirtualIDEController:
		return "ide"
	case *types.ParaVirtualSCSIController:
		return "pvscsi"
	case *types.VirtualLsiLogicSASController:
		return "lsisas1068"
	case *types.VirtualBusLogicController:
		return "buslogic"
	}
	return "lsilogic"
}

// adopt builds vmlua's state for a VM of the inventory. With generate, every
// disk's flat file is filled with the disk's deterministic initial image;
// otherwise the files are taken as they are (RegisterVM, CreateVM by a client).
func (s *Sim) adopt(ref types.ManagedObjectReference, generate bool) (*vmState, error) {
	s.mu.Lock()
	if vs, ok := s.vms[ref.Value]; ok {
		s.mu.Unlock()
		return vs, nil
	}
	s.mu.Unlock()
	vm, ok := s.reg.Get(ref).(*simulator.VirtualMachine)
	if !ok {
		return nil, errNoVM
	}
	var devices object.VirtualDeviceList
	var name, vmxPath string
	ctx := s.bgContext()
	ctx.WithLock(vm, func() {
		name = vm.Name
		devices = append(devices, vm.Config.Hardware.Device...)
		vmxPath = vm.Config.Files.VmPathName
	})
	vs := &vmState{s: s, ref: ref, name: name, seed: seedOf(s.opts.Seed, name), rate: s.opts.WriteRate, wake: make(chan struct{}, 1)}
	// a VM made here records where it is; one registered from files keeps
	// what its .vmx recorded (uuid_question.go)
	if generate {
		vs.uuidLocation = uuidLocation(vmxPath)
	} else {
		vs.uuidLocation, vs.uuidAction = s.readUUIDKeys(vmxPath)
	}
	for _, dev := range devices.SelectByType((*types.VirtualDisk)(nil)) {
		d, err := s.newDisk(name, devices, dev.(*types.VirtualDisk), generate)
		if err != nil {
			for _, d := range vs.disks {
				d.close()
			}
			return nil, err
		}
		if d != nil {
			vs.disks = append(vs.disks, d)
		}
	}
	s.mu.Lock()
	if old, ok := s.vms[ref.Value]; ok { // lost a race
		s.mu.Unlock()
		for _, d := range vs.disks {
			d.close()
		}
		return old, nil
	}
	s.vms[ref.Value] = vs
	s.mu.Unlock()
	if err := s.writeVMX(vs); err != nil {
		s.logf("vsim: %s: write vmx: %v", name, err)
	}
	s.wg.Add(1)
	go s.guest(vs)
	return vs, nil
}

// fillInitial writes the initial image: allocated blocks only, holes elsewhere.
func fillInitial(f *os.File, seed uint64, capacity int64) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	buf := make([]byte, BlockSize)
	for off := int64(0); off < capacity; off += BlockSize {
		if !blockAllocated(seed, off/BlockSize) {
			continue
		}
		n := min(int64(BlockSize), capacity-off)
		initialContent(seed, off, buf[:n])
		if _, err := f.WriteAt(buf[:n], off); err != nil {
			return err
		}
	}
	return f.Truncate(capacity)
}

// guest is the running guest of a VM: while the VM is powered on and not
// paused, it writes to the top of its disks' chains at the configured rate.
func (s *Sim) guest(vs *vmState) {
	defer s.wg.Done()
	ctx := s.bgContext()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		vs.mu.Lock()
		rate, paused := vs.rate, vs.paused
		vs.mu.Unlock()
		wait := time.Hour
		if rate > 0 && !paused {
			wait = time.Duration(float64(time.Second) / rate)
		}
		timer.Reset(wait)
		select {
		case <-s.ctx.Done():
			return
		case <-vs.wake:
			continue
		case <-timer.C:
		}
		if rate <= 0 || paused {
			continue
		}
		vm, ok := s.reg.Get(vs.ref).(*simulator.VirtualMachine)
		if !ok {
			s.forget(vs)
			return
		}
		var on bool
		ctx.WithLock(vm, func() { on = vm.Runtime.PowerState == types.VirtualMachinePowerStatePoweredOn })
		if on {
			var full *errOutOfSpace
			if err := vs.writeOnce(); errors.As(err, &full) {
				s.outOfSpace(vs, full) // datastore_space.go
			} else if err != nil {
				s.logf("vsim: %s: guest write: %v", vs.name, err)
			}
		}
	}
}

// writeOnce performs the next guest write.
func (vs *vmState) writeOnce() error {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if vs.paused || vs.gone || len(vs.disks) == 0 {
		return nil
	}
	caps := make([]int64, len(vs.disks))
	for i, d := range vs.disks {
		caps[i] = d.capacity
	}
	seq := vs.seq + 1
	i, off, n := planWrite(vs.seed, seq, caps)
	if n == 0 {
		return nil
	}
	buf := make([]byte, n)
	fillPattern(writeSeed(vs.seed, seq), off, buf)
	d := vs.disks[i]
	if err := vs.s.roomFor(d, writeNeeds(d, off, n)); err != nil {
		return err
	}
	if err := d.write(off, buf); err != nil {
		return err
	}
	vs.seq = seq
	vs.log = append(vs.log, Write{Seq: seq, Disk: d.id, Offset: off, Length: n})
	return nil
}

// forget drops a destroyed VM's state (its files are the datastore's business).
func (s *Sim) forget(vs *vmState) {
	s.mu.Lock()
	delete(s.vms, vs.ref.Value)
	s.mu.Unlock()
	vs.mu.Lock()
	vs.gone = true
	for _, d := range vs.disks {
		d.close()
	}
	vs.mu.Unlock()
}

// newDisk builds the state of one disk; with generate its flat file gets the
// initial image.
func (s *Sim) newDisk(vmName string, devices object.VirtualDeviceList, vd *types.VirtualDisk, generate bool) (*disk, error) {
	b, ok := vd.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	if !ok {
		return nil, nil
	}
	d := &disk{
		id:          deviceID(devices, vd),
		key:         vd.Key,
		capacity:    vd.CapacityInBytes,
		mode:        b.DiskMode,
		independent: strings.HasPrefix(b.DiskMode, "independent"),
		dsName:      dsPathName(b.FileName),
		uuid:        b.Uuid,
		adapter:     adapterType(devices, vd),
	}
	d.kind = s.dsKindOf(d.dsName)
	if d.capacity == 0 {
		d.capacity = vd.CapacityInKB * 1024
	}
	d.seed = seedOf(s.opts.Seed, vmName, d.id)
	if d.uuid == "" {
		d.uuid = fmt.Sprintf("60 00 C2 9%x", d.seed&0xfffffff)
	}
	// the base of the chain: follow Parent down to the bottom
	bb := b
	for bb.Parent != nil {
		bb = bb.Parent
	}
	baseDS := bb.FileName
	var deltas []*layer
	if !generate && b.Parent == nil {
		// registered from a .vmx: its disk may be a delta (register_chain.go)
		var err error
		if deltas, baseDS, err = s.deltaChain(b.FileName, d.capacity); err != nil {
			return nil, err
		}
	}
	desc, err := s.dsLocal(baseDS)
	if err != nil {
		return nil, err
	}
	base := &layer{dsPath: baseDS, descFile: desc, dataFile: strings.TrimSuffix(desc, ".vmdk") + "-flat.vmdk", cid: uint32(d.seed)}
	if err := os.MkdirAll(filepath.Dir(desc), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(base.dataFile, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	base.f = f
	if bd, err := readDescriptor(desc); err == nil && bd.cid != 0 && len(deltas) > 0 {
		base.cid = bd.cid // the deltas name it as their parent's CID
	}
	d.layers = append([]*layer{base}, deltas...)
	if generate {
		if err := fillInitial(f, d.seed, d.capacity); err != nil {
			f.Close()
			return nil, err
		}
	}
	if _, err := os.Stat(desc); err != nil || generate {
		if err := d.writeDescriptor(0); err != nil {
			f.Close()
			return nil, err
		}
	}
	return d, nil
}
