package taskwait

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vmlua/vmlua/internal/vfault"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/task"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Probes are the pauses before each early read of the task's info.
var Probes = []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 8 * time.Millisecond}

// Wait waits for t to finish and returns its info; a failed task returns
// its task.Error with its fault, as object.Task.WaitForResult does, in a
// vfault.Task, whose text is the fault's meaning (govmomi's is the
// fault's Go type when the task has no message).
func Wait(ctx context.Context, t *object.Task) (*types.TaskInfo, error) {
	pc := property.DefaultCollector(t.Client())
	for _, d := range Probes {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(d):
		}
		var m mo.Task
		if err := pc.RetrieveOne(ctx, t.Reference(), []string{"info"}, &m); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			break // the collector's wait below reports what is wrong
		}
		if info, err, done := finished(&m.Info); done {
			return info, err
		}
	}
	info, err := t.WaitForResult(ctx, nil)
	var te task.Error
	if errors.As(err, &te) && te.LocalizedMethodFault != nil {
		err = vfault.Task{Err: te}
	}
	return info, err
}

// finished returns the result of a task that has one.
func finished(info *types.TaskInfo) (*types.TaskInfo, error, bool) {
	switch info.State {
	case types.TaskInfoStateSuccess:
		return info, nil, true
	case types.TaskInfoStateError:
		if info.Error == nil {
			return info, fmt.Errorf("task %s failed without saying why", info.Key), true
		}
		return info, vfault.Task{Err: task.Error{LocalizedMethodFault: info.Error, Description: info.Description}}, true
	}
	return nil, nil, false
}

// Done is Wait for a caller that needs only whether the task succeeded.
func Done(ctx context.Context, t *object.Task) error {
	_, err := Wait(ctx, t)
	return err
}
