package backup

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/vim25/types"
	lua "github.com/yuin/gopher-lua"
)

// A REDO log grows with every guest write while the backup holds it; when
// it fills its datastore, ESXi stops the VM on msg.hbacommon.outofspace
// ("There is no more space for virtual disk 'VM1-000001.vmdk'... freeing
// disk space on the relevant volume, and clicking Retry. Click Cancel to
// terminate this session.") and the VM does nothing until it is answered.
// When the question names a REDO log of this backup (a delta of a disk it
// froze, not one of the VM's own snapshots), the backup is what fills the
// datastore, and an admin would do what spaceGuard does: abort the backup
// (its disks fail, the set is not kept), commit the REDO logs (their
// deltas merge into the disks and free the space), then answer Retry so
// that the VM runs on where it stopped; Cancel would power it off. Every
// step is logged. A question naming another file is not the backup's: it
// is left to the run's question policy or a person, as any other.

// outOfSpaceID is ESXi's message id of the question.
const outOfSpaceID = "msg.hbacommon.outofspace"

// spaceGuard watches the VM for msg.hbacommon.outofspace while the backup
// holds its REDO logs.
type spaceGuard struct {
	r     *runtime.Run
	v     *vm.VM
	known map[string]bool   // the chains' files before the freeze: not the backup's
	bases map[string]string // a disk's base file name without .vmdk -> disk id
	// ctx is the export's: canceled when the datastore is full
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu   sync.Mutex
	full *fullREDO

	stopPoll   context.CancelFunc
	polled     chan struct{}
	removeHook func()
}

// fullREDO is the question that says a REDO log of the backup filled its
// datastore.
type fullREDO struct {
	q    *types.VirtualMachineQuestionInfo
	file string // the delta the question names ("VM1-000001.vmdk")
	disk string
}

func newSpaceGuard(r *runtime.Run, v *vm.VM, sel []vm.Disk) *spaceGuard {
	g := &spaceGuard{r: r, v: v, known: map[string]bool{}, bases: map[string]string{}}
	for _, d := range sel {
		for _, p := range append([]string{d.BasePath, d.Path}, d.Chain...) {
			g.known[fileName(p)] = true
		}
		g.bases[strings.TrimSuffix(fileName(d.BasePath), ".vmdk")] = d.ID
	}
	g.ctx, g.cancel = context.WithCancelCause(r.Context())
	return g
}

// fileName is the file name of a datastore path ("[ds] dir/x.vmdk"),
// a /vmfs/volumes path or a bare name.
func fileName(p string) string {
	if i := strings.Index(p, "] "); strings.HasPrefix(p, "[") && i >= 0 {
		p = p[i+2:]
	}
	return path.Base(p)
}

// namedFile finds the disk file an out-of-space question names: "virtual
// disk 'X'" (ESXi 5 and later) or "the redo log of X." (ESX 3 and 4).
var namedFile = regexp.MustCompile(`(?:virtual disk '([^']+)'|redo log of (\S+?\.vmdk))`)

// deltaName is a snapshot delta's descriptor: BASE-00000N.vmdk.
var deltaName = regexp.MustCompile(`^(.*)-\d{6}\.vmdk$`)

// ours reports which disk's REDO log of this backup the question says
// filled its datastore.
func (g *spaceGuard) ours(q *types.VirtualMachineQuestionInfo) (file, disk string, ok bool) {
	isOut := false
	for _, m := range q.Message {
		isOut = isOut || m.Id == outOfSpaceID
	}
	if !isOut {
		return "", "", false
	}
	m := namedFile.FindStringSubmatch(q.Text)
	if m == nil {
		return "", "", false
	}
	file = fileName(m[1] + m[2])
	if g.known[file] {
		return "", "", false // a delta of the VM's own snapshots
	}
	dm := deltaName.FindStringSubmatch(file)
	if dm == nil {
		return "", "", false
	}
	disk, ok = g.bases[dm[1]]
	return file, disk, ok
}

// check records q when it is the backup's REDO log filling its datastore,
// and aborts the export; it reports whether q is.
func (g *spaceGuard) check(q *types.VirtualMachineQuestionInfo) bool {
	file, disk, ok := g.ours(q)
	if !ok {
		return false
	}
	g.mu.Lock()
	first := g.full == nil
	if first {
		g.full = &fullREDO{q: q, file: file, disk: disk}
	}
	g.mu.Unlock()
	if first {
		g.r.Log.Error("backup: the datastore is full: the VM stopped on "+outOfSpaceID+" for this backup's REDO log; aborting the backup, committing its REDO logs to free the space, then answering Retry",
			"vm", g.v.Name(), "disk", disk, "file", file, "question", q.Id)
		g.cancel(errors.New("the datastore filled up with the backup's REDO log " + file))
	}
	return true
}

// start watches the VM: a question that blocks one of its tasks meets the
// guard first (SetQuestionHook), and the VM's question is read every
// pollEvery while the disks are exported.
func (g *spaceGuard) start() {
	g.removeHook = g.v.SetQuestionHook(g.check)
	pctx, stop := context.WithCancel(g.ctx)
	g.stopPoll, g.polled = stop, make(chan struct{})
	go func() {
		defer close(g.polled)
		tick := time.NewTicker(pollEvery)
		defer tick.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-tick.C:
			}
			if q, err := g.v.Question(pctx); err == nil && q != nil {
				g.check(q)
			}
		}
	}()
}

// checkNow reads the VM's question once (the poller may not have seen a
// question that came between two of its reads).
func (g *spaceGuard) checkNow() {
	if g.removeHook == nil {
		return // not started: the VM had no REDO log
	}
	ctx, cancel := g.r.CleanupContext()
	defer cancel()
	if q, err := g.v.Question(ctx); err == nil && q != nil {
		g.check(q)
	}
}

// pollEvery is how often the guard reads the VM's question.
const pollEvery = 250 * time.Millisecond

// fullError is the backup's error once its REDO log filled the datastore.
func (g *spaceGuard) fullError() error {
	g.mu.Lock()
	f := g.full
	g.mu.Unlock()
	if f == nil {
		return nil
	}
	return &runtime.Error{Code: runtime.CodeConflict, VM: g.v.Name(), Disk: f.disk, Path: f.file, Message: fmt.Sprintf(
		"the backup's REDO log %s filled its datastore and the VM stopped on %s: the backup was aborted (no set is kept) and its REDO logs committed to free the space; free space on the datastore, or back the VM up when it writes less, and back it up again",
		f.file, outOfSpaceID)}
}

// finish ends the watch once the rollback committed the REDO logs: when
// the datastore filled up, it answers Retry (the space is free again) and
// returns fullError in place of err (the export's cancellation).
func (g *spaceGuard) finish(err error) error {
	if g.stopPoll != nil {
		g.stopPoll()
		<-g.polled
	}
	defer func() {
		if g.removeHook != nil {
			g.removeHook()
		}
		g.cancel(nil)
	}()
	ferr := g.fullError()
	if ferr == nil {
		return err
	}
	g.mu.Lock()
	f := g.full
	g.mu.Unlock()
	ctx, cancel := g.r.CleanupContext()
	defer cancel()
	v, log := g.v, g.r.Log
	if left := g.redoLeft(ctx); left != "" {
		log.Error("backup: its REDO log could not be committed, so the space is not free: the VM stays stopped on "+outOfSpaceID+"; free space on the datastore and answer Retry (vmlua answer); the run's cleanup commits the REDO log",
			"vm", v.Name(), "disk", f.disk, "still_on", left, "question", f.q.Id)
		return ferr
	}
	log.Info("backup: its REDO logs are committed: the space they took is free", "vm", v.Name(), "disk", f.disk, "file", f.file)
	q, qerr := v.Question(ctx)
	if qerr != nil || q == nil {
		log.Info("backup: the VM's out-of-space question is no longer pending (answered by someone else?)", "vm", v.Name(), "question", f.q.Id)
		return ferr
	}
	if !isOutOfSpace(q) {
		log.Warn("backup: the VM now shows another question; left to the run's question policy or a person", "vm", v.Name(), "question", q.Id, "text", q.Text)
		return ferr
	}
	key, _, kerr := vm.ChoiceKey(q, lua.LString("Retry"))
	if kerr != nil {
		log.Error("backup: the out-of-space question has no Retry choice; left for a person", "vm", v.Name(), "question", q.Id, "choices", strings.Join(vm.ChoiceLabels(q), ", "))
		return ferr
	}
	if _, aerr := vm.Answer(ctx, g.r, v.Obj.Client(), vm.Pending{VM: v.Name(), Ref: v.Ref, Question: q}, key, "backup: its REDO log filled the datastore and is committed"); aerr != nil {
		log.Error("backup: could not answer Retry; the VM stays stopped on the question: answer it (vmlua answer)", "vm", v.Name(), "question", q.Id, "error", aerr)
		return ferr
	}
	log.Info("backup: answered Retry: the VM runs on", "vm", v.Name(), "question", q.Id)
	return ferr
}

// isOutOfSpace reports whether q is ESXi's out-of-space question.
func isOutOfSpace(q *types.VirtualMachineQuestionInfo) bool {
	for _, m := range q.Message {
		if m.Id == outOfSpaceID {
			return true
		}
	}
	return false
}

// redoLeft names a file of the backup's REDO logs still on a disk, or "".
func (g *spaceGuard) redoLeft(ctx context.Context) string {
	if err := g.v.Refresh(ctx); err != nil {
		return "(the VM could not be read: " + err.Error() + ")"
	}
	for _, id := range g.bases {
		d, err := g.v.Disk(id)
		if err != nil {
			continue
		}
		if n := fileName(d.Path); !g.known[n] {
			return n
		}
	}
	return ""
}
