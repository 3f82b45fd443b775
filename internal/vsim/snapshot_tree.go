package vsim

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// VMs with snapshots of their own, and the snapshot list file ESXi keeps
// beside the .vmx.
//
// VMSpec.Snapshots gives a VM user snapshots when the inventory is built:
// each a child of the one before (a tree as deep as the list is long), the
// guest writing between them, so every level of every disk's chain holds
// data of its own. Options.Fleet adds SNAP01 with a three-level tree.
//
// The .vmsd (VMNAME.vmsd, beside the .vmx) lists the snapshots as ESXi
// writes it: snapshot.lastUID, snapshot.current, snapshot.numSnapshots and
// per snapshot uid, filename (its .vmsn), parent, displayName,
// description, createTimeHigh/Low (microseconds since 1970, split in two
// 32-bit halves, the low one signed), numDisks and per disk fileName (the
// descriptor of the chain level the snapshot froze, as the .vmx names it:
// relative in the VM's folder) and node (scsi0:0). layoutEx lists it as
// "snapshotList". With no snapshot left the simulator removes it, where ESXi
// keeps an empty one: a VM's folder after a backup is then as before it,
// which tests of "nothing left behind" compare.
// Sources: Xen Orchestra's VMware importer (@xen-orchestra/vmware-explorer,
// parseVmsd and its example file); VMware KB 1015180 ("Understanding
// virtual machine snapshots": the .vmsd "is the database of the virtual
// machine's snapshot information").
//
// ESXi 8 allows 32 snapshot levels and asks no question on the way
// (MaxSnapshotLevels); the ESX 2 REDO-depth question of Options.MaxRedo
// stays the Go default for the tests of questions, and is off with
// Options.Fleet and in vmlua sim.

// MaxSnapshotLevels is the deepest snapshot chain ESXi 8 allows: a
// CreateSnapshot beyond it fails with TooManySnapshotLevels.
const MaxSnapshotLevels = 32

// userSnapshotWrites is how many guest writes a VM built with snapshots
// makes before each of them and after the last.
const userSnapshotWrites = 12

// takeUserSnapshots builds the snapshot tree of a new VM.
func (s *Sim) takeUserSnapshots(vs *vmState, names []string) error {
	vm, ok := s.reg.Get(vs.ref).(*simulator.VirtualMachine)
	if !ok {
		return errNoVM
	}
	write := func() error {
		for i := 0; i < userSnapshotWrites; i++ {
			if err := vs.writeOnce(); err != nil {
				return err
			}
		}
		return nil
	}
	for _, name := range names {
		if err := write(); err != nil {
			return err
		}
		ctx := s.bgContext()
		var fault types.BaseMethodFault
		ctx.WithLock(vm, func() {
			vs.mu.Lock()
			defer vs.mu.Unlock()
			_, fault = s.createSnapshotLocked(ctx, vm, vs, name, "made by the simulator's inventory", false, false)
		})
		if fault != nil {
			return fmt.Errorf("snapshot %s: %s", name, faultMessage(fault))
		}
	}
	return write()
}

// vmsdPath returns the local path of vm's .vmsd.
func (s *Sim) vmsdPath(cfg *types.VirtualMachineConfigInfo, vs *vmState) (string, string, error) {
	vmx := cfg.Files.VmPathName
	ds := fmt.Sprintf("[%s] %s", dsPathName(vmx), path.Join(path.Dir(dsPathPath(vmx)), vs.name+".vmsd"))
	local, err := s.dsLocal(ds)
	return ds, local, err
}

// writeVMSDLocked writes the .vmsd of vs, or removes it when the VM has no
// snapshot. Caller holds vs.mu.
func (s *Sim) writeVMSDLocked(cfg *types.VirtualMachineConfigInfo, vs *vmState) error {
	_, local, err := s.vmsdPath(cfg, vs)
	if err != nil {
		return err
	}
	if len(vs.snaps) == 0 {
		if err := os.Remove(local); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	vmDir := path.Dir(dsPathPath(cfg.Files.VmPathName))
	var b strings.Builder
	kv := func(k, v string) { fmt.Fprintf(&b, "%s = %q\n", k, v) }
	kv(".encoding", "UTF-8")
	cur := vs.snaps[len(vs.snaps)-1]
	kv("snapshot.lastUID", strconv.Itoa(vs.snapCounter))
	kv("snapshot.current", strconv.Itoa(int(cur.tree.Id)))
	for i, sn := range vs.snaps {
		p := fmt.Sprintf("snapshot%d", i)
		kv(p+".uid", strconv.Itoa(int(sn.tree.Id)))
		if sn.vmsn != "" {
			kv(p+".filename", path.Base(dsPathPath(sn.vmsn)))
		}
		if i > 0 {
			kv(p+".parent", strconv.Itoa(int(vs.snaps[i-1].tree.Id)))
		}
		kv(p+".displayName", sn.tree.Name)
		if sn.tree.Description != "" {
			kv(p+".description", sn.tree.Description)
		}
		us := sn.tree.CreateTime.UnixMicro()
		kv(p+".createTimeHigh", strconv.FormatInt(us>>32, 10))
		kv(p+".createTimeLow", strconv.FormatInt(int64(int32(uint32(us))), 10))
		var disks []*disk
		for _, d := range vs.disks {
			if _, ok := sn.frozen[d.id]; ok {
				disks = append(disks, d)
			}
		}
		kv(p+".numDisks", strconv.Itoa(len(disks)))
		for j, d := range disks {
			l := d.layers[d.level(sn)]
			name := dsPathPath(l.dsPath)
			if dsPathName(l.dsPath) == dsPathName(cfg.Files.VmPathName) && path.Dir(name) == vmDir {
				name = path.Base(name)
			} else {
				name = l.dsPath
			}
			kv(fmt.Sprintf("%s.disk%d.fileName", p, j), name)
			kv(fmt.Sprintf("%s.disk%d.node", p, j), d.id)
		}
	}
	kv("snapshot.numSnapshots", strconv.Itoa(len(vs.snaps)))
	tmp := local + ".tmp"
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, local)
}

// restoreSnapshotTree rebuilds the snapshot tree of a VM registered from
// files from its .vmsd, as ESXi does: each snapshot freezes the chain level
// its disk fileName names. Only a linear tree whose levels are the disks'
// chains is taken; anything else is an error and the VM has no tree.
// Caller holds the VM's lock (ctx) and vs.mu.
func (s *Sim) restoreSnapshotTree(ctx *simulator.Context, vm *simulator.VirtualMachine, vs *vmState) error {
	_, local, err := s.vmsdPath(vm.Config, vs)
	if err != nil {
		return err
	}
	fh, err := os.Open(local)
	if err != nil {
		return nil // no .vmsd: no snapshot
	}
	kv, err := ParseVMX(fh)
	fh.Close()
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(kv["snapshot.numSnapshots"])
	if n == 0 || len(vs.snaps) > 0 {
		return nil
	}
	vmx := vm.Config.Files.VmPathName
	resolve := func(name string) string {
		if strings.HasPrefix(name, "[") {
			return name
		}
		return fmt.Sprintf("[%s] %s", dsPathName(vmx), path.Join(path.Dir(dsPathPath(vmx)), name))
	}
	var snaps []*snapState
	type meta struct {
		name, desc string
		created    time.Time
		uid        int
		vmsn       string
	}
	var metas []meta
	for i := 0; i < n; i++ {
		p := fmt.Sprintf("snapshot%d", i)
		uid, err := strconv.Atoi(kv[p+".uid"])
		if err != nil {
			return fmt.Errorf("%s: %s.uid %q", local, p, kv[p+".uid"])
		}
		if i > 0 && kv[p+".parent"] != kv[fmt.Sprintf("snapshot%d.uid", i-1)] {
			return fmt.Errorf("%s: %s is not the child of the snapshot before it: only linear trees are modelled", local, p)
		}
		sn := &snapState{frozen: map[string]*layer{}, seq: vs.seq}
		nd, _ := strconv.Atoi(kv[p+".numDisks"])
		for j := 0; j < nd; j++ {
			q := fmt.Sprintf("%s.disk%d", p, j)
			d := vs.diskByID(kv[q+".node"])
			if d == nil {
				return fmt.Errorf("%s: %s names no disk of the VM (%q)", local, q, kv[q+".node"])
			}
			want := resolve(kv[q+".fileName"])
			for _, l := range d.layers {
				if l.dsPath == want {
					sn.frozen[d.id] = l
				}
			}
			if sn.frozen[d.id] == nil || sn.frozen[d.id] == d.top() {
				return fmt.Errorf("%s: %s (%s) is not a frozen level of %s's chain", local, q, want, d.id)
			}
		}
		hi, _ := strconv.ParseInt(kv[p+".createTimeHigh"], 10, 64)
		lo, _ := strconv.ParseInt(kv[p+".createTimeLow"], 10, 64)
		m := meta{name: kv[p+".displayName"], desc: kv[p+".description"], uid: uid, created: time.UnixMicro(hi<<32 | int64(uint32(lo)))}
		if fn := kv[p+".filename"]; fn != "" {
			m.vmsn = resolve(fn)
		}
		snaps = append(snaps, sn)
		metas = append(metas, m)
	}
	for i, sn := range snaps {
		s.newSnapshotObject(ctx, vm, sn, metas[i].name, metas[i].desc, types.VirtualMachinePowerStatePoweredOff, false, metas[i].created)
		sn.tree.Id = int32(metas[i].uid)
		sn.vmsn = metas[i].vmsn
		vs.snapCounter = max(vs.snapCounter, metas[i].uid)
	}
	if last, err := strconv.Atoi(kv["snapshot.lastUID"]); err == nil {
		vs.snapCounter = max(vs.snapCounter, last)
	}
	vs.snaps = snaps
	s.syncVM(ctx, vm, vs, false)
	return nil
}
