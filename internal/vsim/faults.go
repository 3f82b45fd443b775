package vsim

import (
	"context"
	"fmt"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Points inside a running task where a TaskFault can strike.
const (
	PointStart = "start" // the task has started, nothing done yet
	PointMerge = "merge" // half-way through merging a delta (RemoveSnapshot_Task, RemoveAllSnapshots_Task, ConsolidateVMDisks_Task)
	PointEnd   = "end"   // the work is done, the task has not completed yet
)

// TaskFault makes a task fail from inside, after it was accepted: the call
// returns a task, which then ends in error with Fault. (vcsim's own fault
// rules, see AddFaultRule, fail the call itself.)
type TaskFault struct {
	Method string // "CreateSnapshot_Task", "RemoveSnapshot_Task", "RemoveAllSnapshots_Task", "ConsolidateVMDisks_Task"
	VM     string // VM name; "" matches any
	Point  string // PointStart (default), PointMerge or PointEnd
	Fault  types.BaseMethodFault
	Count  int // how many times it strikes; 0 means once

	hits int
}

// InjectTaskFault arms a TaskFault.
func (s *Sim) InjectTaskFault(f TaskFault) {
	if f.Point == "" {
		f.Point = PointStart
	}
	if f.Count <= 0 {
		f.Count = 1
	}
	if f.Fault == nil {
		f.Fault = &types.SystemError{Reason: "injected by vmlua sim"}
	}
	s.mu.Lock()
	s.taskFaults = append(s.taskFaults, &f)
	s.mu.Unlock()
}

func (s *Sim) taskFault(method, vm, point string) types.BaseMethodFault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.taskFaults {
		if f.Method == method && (f.VM == "" || f.VM == vm) && f.Point == point {
			f.hits++
			if f.hits >= f.Count {
				s.taskFaults = append(s.taskFaults[:i], s.taskFaults[i+1:]...)
			}
			return f.Fault
		}
	}
	return nil
}

// AddFaultRule adds a vcsim fault injection rule: the matching method calls
// fail with the rule's fault (see simulator.FaultInjectionRule).
func (s *Sim) AddFaultRule(rule *simulator.FaultInjectionRule) {
	s.model.Service.AddFaultRule(rule)
}

// DropSessions terminates every client session (but the simulator's own), as
// a vCenter restart or session timeout would; clients then get
// NotAuthenticated. It returns how many were dropped.
func (s *Sim) DropSessions(ctx context.Context) (int, error) {
	c := s.ctl.Client
	var sm mo.SessionManager
	if err := property.DefaultCollector(c).RetrieveOne(ctx, *c.ServiceContent.SessionManager, []string{"sessionList", "currentSession"}, &sm); err != nil {
		return 0, err
	}
	var ids []string
	for _, us := range sm.SessionList {
		if sm.CurrentSession != nil && us.Key == sm.CurrentSession.Key {
			continue
		}
		ids = append(ids, us.Key)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	_, err := methods.TerminateSession(ctx, c, &types.TerminateSession{This: *c.ServiceContent.SessionManager, SessionId: ids})
	if err != nil {
		return 0, fmt.Errorf("vsim: terminate sessions: %w", err)
	}
	return len(ids), nil
}
