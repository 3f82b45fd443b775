package question

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vmlua/vmlua/modules/vm"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Found is a VM's pending question.
type Found = vm.Pending

// DefaultMaxWait is how long one WaitForUpdatesEx call waits on the
// server. It bounds how late a dropped session is noticed when the server
// does not fail the waiting call itself.
const DefaultMaxWait = 20 * time.Second

// props are the properties the watch reads: the question, the name, and
// whatever the VM specifier matches on.
func props(spec vm.Spec) []string {
	p := []string{"name", "runtime.question"}
	for _, x := range spec.Props() {
		if !slices.Contains(p, x) {
			p = append(p, x)
		}
	}
	return p
}

func vmErr(err error, doing string) error {
	return vm.FaultError(err, "", doing)
}

// Pending reads every pending question of the VMs spec matches, in one
// retrieval over a container view, sorted by VM name.
func Pending(ctx context.Context, c *vim25.Client, spec vm.Spec) ([]Found, error) {
	if spec.Kind == "none" {
		return nil, nil
	}
	v, err := view.NewManager(c).CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return nil, vmErr(err, "list the VMs")
	}
	defer destroyView(ctx, v)
	var vms []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, props(spec), &vms); err != nil {
		return nil, vmErr(err, "read the VMs' pending questions")
	}
	var out []Found
	for _, x := range vms {
		if x.Runtime.Question != nil && spec.Matches(x) {
			out = append(out, Found{VM: x.Name, Ref: x.Self, Question: x.Runtime.Question})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VM < out[j].VM })
	return out, nil
}

func destroyView(ctx context.Context, v *view.ContainerView) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = v.Destroy(ctx)
}

// Watcher calls Handle for each question as it appears on the VMs Spec
// matches. It uses one PropertyCollector filter over a container view of
// every VM and WaitForUpdatesEx, so the cost of a question does not grow
// with the inventory. When the session or the filter is lost, it logs in
// again (the vm module's connection does), builds a new filter, and so
// first re-reads every pending question: none that appeared meanwhile is
// missed, and none already handled is handled twice.
type Watcher struct {
	Client  *vim25.Client
	Spec    vm.Spec       // which VMs; the zero value means any:
	MaxWait time.Duration // per WaitForUpdatesEx call; DefaultMaxWait if 0
	Log     *slog.Logger
	// Handle is called for each new question, one at a time; an error
	// ends the watch with that error.
	Handle func(ctx context.Context, f Found) error

	seen map[string]string // VM moref -> id of the question already handled
}

// ErrStop, returned by Handle, ends the watch without an error.
var ErrStop = errors.New("stop watching")

type handleError struct{ err error }

func (e handleError) Error() string { return e.err.Error() }

// Run watches until ctx is done (then it returns nil) or Handle fails.
func (w *Watcher) Run(ctx context.Context) error {
	if w.Spec.Kind == "" {
		w.Spec = vm.Spec{Kind: "any"}
	}
	if w.MaxWait <= 0 {
		w.MaxWait = DefaultMaxWait
	}
	if w.Log == nil {
		w.Log = slog.New(slog.DiscardHandler)
	}
	w.seen = map[string]string{}
	backoff := time.Duration(0)
	for {
		healthy, err := w.session(ctx)
		var he handleError
		if errors.As(err, &he) {
			if errors.Is(he.err, ErrStop) {
				return nil
			}
			return he.err
		}
		if ctx.Err() != nil {
			return nil
		}
		if healthy {
			backoff = 0
		}
		w.Log.Warn("the question watch lost its vSphere session or filter; re-reading every pending question and resuming", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(max(2*backoff, time.Second), 30*time.Second)
	}
}

// session builds a collector, a view and a filter, and handles updates
// until an error. healthy reports whether it got as far as an update.
func (w *Watcher) session(ctx context.Context) (healthy bool, err error) {
	pc, err := property.DefaultCollector(w.Client).Create(ctx)
	if err != nil {
		return false, vmErr(err, "create a property collector")
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = pc.Destroy(dctx)
	}()
	v, err := view.NewManager(w.Client).CreateContainerView(ctx, w.Client.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		return false, vmErr(err, "create a view of the VMs")
	}
	defer destroyView(ctx, v)
	_, err = pc.CreateFilter(ctx, types.CreateFilter{Spec: types.PropertyFilterSpec{
		ObjectSet: []types.ObjectSpec{{Obj: v.Reference(), Skip: types.NewBool(true),
			SelectSet: []types.BaseSelectionSpec{&types.TraversalSpec{Type: "ContainerView", Path: "view"}}}},
		PropSet: []types.PropertySpec{{Type: "VirtualMachine", PathSet: props(w.Spec)}},
	}})
	if err != nil {
		return false, vmErr(err, "create the question filter")
	}
	state := map[string]*mo.VirtualMachine{}
	version := ""
	ready := false
	secs := int32(max(w.MaxWait/time.Second, 1))
	for {
		res, err := methods.WaitForUpdatesEx(ctx, w.Client, &types.WaitForUpdatesEx{This: pc.Reference(), Version: version, Options: &types.WaitOptions{MaxWaitSeconds: &secs}})
		if err != nil {
			return healthy, vmErr(err, "wait for questions")
		}
		healthy = true
		set := res.Returnval
		if set == nil {
			continue // MaxWaitSeconds passed without a change
		}
		version = set.Version
		var changed []string
		for _, fs := range set.FilterSet {
			for _, ou := range fs.ObjectSet {
				ref := ou.Obj.Value
				if ou.Kind == types.ObjectUpdateKindLeave {
					delete(state, ref)
					delete(w.seen, ref)
					continue
				}
				x := state[ref]
				if x == nil {
					x = &mo.VirtualMachine{}
					x.Self = ou.Obj
					state[ref] = x
				}
				mo.ApplyPropertyChange(x, ou.ChangeSet)
				changed = append(changed, ref)
			}
		}
		for _, ref := range changed {
			x := state[ref]
			q := x.Runtime.Question
			if q == nil {
				delete(w.seen, ref)
				continue
			}
			if w.seen[ref] == q.Id || !w.Spec.Matches(*x) {
				continue
			}
			w.seen[ref] = q.Id
			if err := w.Handle(ctx, Found{VM: x.Name, Ref: x.Self, Question: q}); err != nil {
				return healthy, handleError{err}
			}
		}
		if !ready && !pagedOut(set) {
			ready = true
			w.Log.Debug("question watch ready: every pending question was read", "vms", len(state))
		}
	}
}

// pagedOut reports whether the server has more of the update set to send
// (a large initial set comes in pages).
func pagedOut(set *types.UpdateSet) bool { return set.Truncated != nil && *set.Truncated }

// Answerer applies a policy to questions and answers them (vm.Answer: in
// a dry run of Run nothing is answered).
type Answerer struct {
	Run    *runtime.Run // its dry-run flag and its log
	Client *vim25.Client
	Policy *Policy // DefaultPolicy() if nil

	Answered, Left int // counts, for a summary
}

// Handle decides one question, answers it and logs what it did. vSphere
// errors are logged, not returned: a daemon keeps watching.
func (a *Answerer) Handle(ctx context.Context, f Found) error {
	q := f.Question
	d := a.Policy.Decide(q)
	switch {
	case d.Err != nil:
		a.Left++
		a.Run.Log.Error("left a question: its rule names a choice it does not have", "vm", f.VM, "question", q.Id, "text", q.Text, "choices", strings.Join(vm.ChoiceLabels(q), ", "), "error", d.Err)
		return nil
	case !d.Answer:
		a.Left++
		LogLeft(a.Run.Log, f, d.Reason)
		return nil
	}
	a.answer(ctx, f, d.Key, d.Label, d.By)
	return nil
}

// answer answers f with the choice key and counts it. A failure is logged
// as a warning, not returned (question.watch and 'vmlua answer' keep
// watching): a question answered by someone else meanwhile is skipped;
// one vSphere would not let vmlua answer is still pending and counts as
// left; nothing is logged when the watch itself is ending (ctx done).
func (a *Answerer) answer(ctx context.Context, f Found, key, label, by string) {
	done, err := vm.Answer(ctx, a.Run, a.Client, f, key, by)
	switch {
	case err == nil:
		if done {
			a.Answered++
		}
	case ctx.Err() != nil:
	case vm.IsNoLongerPending(err):
		a.Run.Log.Warn("could not answer a question: it is no longer pending", "vm", f.VM, "question", f.Question.Id, "text", f.Question.Text, "choice", label, "by", by, "error", err)
	default:
		a.Left++
		a.Run.Log.Warn("could not answer a question", "vm", f.VM, "question", f.Question.Id, "text", f.Question.Text, "choice", label, "by", by, "error", err)
	}
}

// LogLeft logs a question left for a person (a warning: someone must act).
func LogLeft(log *slog.Logger, f Found, reason string) {
	log.Warn("left a question for a person", "vm", f.VM, "question", f.Question.Id, "text", f.Question.Text, "choices", strings.Join(vm.ChoiceLabels(f.Question), ", "), "reason", reason)
}
