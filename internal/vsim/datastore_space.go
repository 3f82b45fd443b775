package vsim

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// Datastores have a capacity and fill up (Options.DatastoreCapacity, `vmlua
// sim --datastore-capacity`): what a datastore holds is the space its
// files take (allocated blocks: a thin disk's holes are free), its
// summary.capacity and summary.freeSpace say so (RefreshDatastore brings
// them up to date, as on ESXi). A guest write that would grow a disk file
// on a full datastore stops the VM on msg.hbacommon.outofspace, naming the
// file ("There is no more space for virtual disk 'VM1-000001.vmdk'...",
// esxi_questions.go for the sources): the guest writes nothing until it is
// answered. Retry tries the write again (and asks again while the
// datastore is still full); Cancel "terminates this session": the VM is
// powered off. The failure a REDO left behind causes on real hosts: the
// delta grows with every guest write until the datastore is full (VMware
// KB 1007849, KB 318856 "Troubleshooting ESXi datastore or VMFS volume
// full").
//
// Only guest writes to a delta are checked (a base counts as thick); uploads through /folder, snapshot merges
// and new files are not refused (ESXi's own reserve lets a merge of a
// delta into a thick base finish; the simulator's bases are thin).

// DefaultDatastoreCapacity is a datastore's capacity unless
// Options.DatastoreCapacity says otherwise: 1 TiB, vcsim's own figure.
const DefaultDatastoreCapacity = 1 << 40

// errOutOfSpace is a guest write the datastore has no room for.
type errOutOfSpace struct{ file, ds string }

func (e *errOutOfSpace) Error() string { return "datastore " + e.ds + " is full: " + e.file }

// dsCapacity is the capacity of every datastore; 0 means no limit.
func (s *Sim) dsCapacity() int64 {
	if c := s.capacity.Load(); c != 0 {
		return max(c, 0)
	}
	return s.opts.DatastoreCapacity
}

// SetDatastoreCapacity changes the capacity of every datastore (negative:
// no limit), as a test that fills one needs: the datastores' summaries
// follow.
func (s *Sim) SetDatastoreCapacity(n int64) {
	if n == 0 {
		n = -1
	}
	s.capacity.Store(n)
	s.mu.Lock()
	var names []string
	for name := range s.dsDirs {
		names = append(names, name)
	}
	s.mu.Unlock()
	for _, name := range names {
		s.refreshSpace(name)
	}
}

// dsUsed is the space the files of the datastore take.
func (s *Sim) dsUsed(name string) int64 {
	dir, ok := s.dsDir(name)
	if !ok {
		return 0
	}
	var used int64
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				used += st.Blocks * 512
			} else {
				used += fi.Size()
			}
		}
		return nil
	})
	return used
}

// DatastoreFree returns the free space of the named datastore as the
// simulator counts it (capacity less what its files take).
func (s *Sim) DatastoreFree(name string) int64 {
	c := s.dsCapacity()
	if c <= 0 {
		return DefaultDatastoreCapacity
	}
	return max(c-s.dsUsed(name), 0)
}

// DatastoreUsed returns the space the named datastore's files take.
func (s *Sim) DatastoreUsed(name string) int64 { return s.dsUsed(name) }

// writeNeeds is the space a guest write of n bytes at off grows the top of
// d's chain by: the grains a delta does not hold yet; nothing on a base,
// which counts as allocated (thick). vs.mu held.
func writeNeeds(d *disk, off, n int64) int64 {
	t := d.top()
	if t.bits == nil {
		return 0
	}
	var need int64
	for g := off / GrainSize; g*GrainSize < off+n; g++ {
		if !t.has(g) {
			need += GrainSize
		}
	}
	return need
}

// roomFor returns errOutOfSpace when d's datastore cannot take need more
// bytes. vs.mu held. Far from full, the space the files take is read again
// only every spaceRecount (a guest write must not walk the datastore);
// within spaceExact of full, at every write.
func (s *Sim) roomFor(d *disk, need int64) error {
	capacity := s.dsCapacity()
	if need == 0 || capacity <= 0 {
		return nil
	}
	s.spaceMu.Lock()
	c, ok := s.spaceSeen[d.dsName]
	s.spaceMu.Unlock()
	if ok && time.Since(c.at) < spaceRecount && capacity-c.used-c.since > spaceExact {
		s.spaceMu.Lock()
		c.since += need
		s.spaceSeen[d.dsName] = c
		s.spaceMu.Unlock()
		return nil
	}
	used := s.dsUsed(d.dsName)
	s.spaceMu.Lock()
	if s.spaceSeen == nil {
		s.spaceSeen = map[string]spaceCount{}
	}
	s.spaceSeen[d.dsName] = spaceCount{used: used, at: time.Now()}
	s.spaceMu.Unlock()
	if capacity-used >= need {
		return nil
	}
	return &errOutOfSpace{file: path.Base(dsPathPath(d.top().dsPath)), ds: d.dsName}
}

// spaceCount is what a datastore's files took when last counted, and what
// guest writes may have added since.
type spaceCount struct {
	used, since int64
	at          time.Time
}

const (
	spaceRecount = 100 * time.Millisecond
	spaceExact   = 16 << 20
)

// outOfSpace stops the guest on msg.hbacommon.outofspace until answered:
// Retry returns (the write is tried again), Cancel powers the VM off.
func (s *Sim) outOfSpace(vs *vmState, e *errOutOfSpace) {
	s.refreshSpace(e.ds)
	q, err := s.askESXi(vs, MsgOutOfSpace, e.file)
	if err != nil {
		// another question is pending: the guest is stopped on it anyway
		return
	}
	s.logf("vsim: %s: datastore %s is full: asked %s for %s", vs.name, e.ds, MsgOutOfSpace, e.file)
	choice, err := q.Wait(s.ctx)
	if err != nil || choice != outOfSpaceCancel {
		return
	}
	s.logf("vsim: %s: %s answered Cancel: powering the VM off", vs.name, MsgOutOfSpace)
	vm := object.NewVirtualMachine(s.ctl.Client, vs.ref)
	if t, err := vm.PowerOff(s.ctx); err == nil {
		_ = t.Wait(s.ctx)
	}
}

// refreshSpace brings the datastore's capacity and free space in its
// summary and info up to date.
func (s *Sim) refreshSpace(name string) {
	for _, e := range s.reg.All("Datastore") {
		ds, ok := e.(*simulator.Datastore)
		if !ok || ds.Name != name {
			continue
		}
		s.setSpace(s.bgContext(), ds)
	}
}

// setSpace writes the datastore's capacity and free space (on the
// simulator's own datastores only: a NAS datastore keeps vcsim's figures).
func (s *Sim) setSpace(ctx *simulator.Context, ds *simulator.Datastore) {
	if _, ok := s.dsDir(ds.Name); !ok || s.dsCapacity() <= 0 {
		return
	}
	ctx.WithLock(ds, func() { s.setSpaceLocked(ctx, ds) })
}

// setSpaceLocked is setSpace with the datastore's lock held.
func (s *Sim) setSpaceLocked(ctx *simulator.Context, ds *simulator.Datastore) {
	if _, ok := s.dsDir(ds.Name); !ok || s.dsCapacity() <= 0 {
		return
	}
	capacity := s.dsCapacity()
	free := s.DatastoreFree(ds.Name)
	info := ds.Info.GetDatastoreInfo()
	info.FreeSpace = free
	info.MaxFileSize = capacity
	info.MaxMemoryFileSize = capacity
	summary := ds.Summary
	summary.Capacity = capacity
	summary.FreeSpace = free
	ctx.Map.Update(ctx, ds, []types.PropertyChange{{Name: "summary", Val: summary}, {Name: "info", Val: ds.Info}})
}

type datastoreWrapper struct {
	*simulator.Datastore
	s *Sim
}

func (w *datastoreWrapper) RefreshDatastore(ctx *simulator.Context, req *types.RefreshDatastore) soap.HasFault {
	res := w.Datastore.RefreshDatastore(ctx, req)
	if b, ok := res.(*methods.RefreshDatastoreBody); ok && b.Fault_ == nil {
		w.s.setSpaceLocked(ctx, w.Datastore)
	}
	return res
}

// SetDatastoreSpace is a test control: the named datastore reports
// capacity and free bytes (summary and info), as a nearly full target
// datastore would; vcsim reports 1 TiB per host mounting it. A
// RefreshDatastore call recomputes vcsim's figures.
func (s *Sim) SetDatastoreSpace(name string, capacity, free int64) error {
	var ds *simulator.Datastore
	for _, ref := range s.reg.All("Datastore") {
		if d, ok := ref.(*simulator.Datastore); ok && d.Name == name {
			ds = d
		}
	}
	if ds == nil {
		return fmt.Errorf("vsim: no datastore %s", name)
	}
	s.bgContext().WithLock(ds, func() {
		ds.Summary.Capacity, ds.Summary.FreeSpace = capacity, free
		if info, ok := ds.Info.(types.BaseDatastoreInfo); ok {
			info.GetDatastoreInfo().FreeSpace = free
		}
	})
	return nil
}
