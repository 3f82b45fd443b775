package vsim

import (
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// Session expiry: a management session that makes no API call for
// Options.SessionIdle (default 30 minutes) expires. Its next API call
// fails with NotAuthenticated, its next /folder request (by its cookie,
// or by a service ticket it acquired) gets 401, and it is gone: the client
// must log in again.
//
// Source: Xen Orchestra's vectura measured the lifetime of an ESXi
// management session without a management call at 30 to 52 minutes,
// "reads on the data port do not renew it"
// (@xen-orchestra/vmware-explorer/vectura/docs/reference/host-requirements-and-limits.md);
// Xen Orchestra logs in again on NotAuthenticated (PR #10363). So here too
// a /folder read does not renew a session: only API calls do.
//
// Idleness is measured on the simulator's clock (clock.go): a test makes
// a session expire at a point of its choosing with AdvanceClock.

// DefaultSessionIdle is how long a session may go without an API call.
const DefaultSessionIdle = 30 * time.Minute

// sessions is the simulator's record of when each session last made an
// API call.
type sessions struct {
	mu   sync.Mutex
	last map[string]time.Time // session key -> last API call (simulator clock)
}

// touchSession records an API call of the caller's session, or expires
// the session when it was idle too long (the call then fails with the
// fault returned). vcsim's own in-process session and the simulator's
// control session never expire.
func (s *Sim) touchSession(ctx *simulator.Context) types.BaseMethodFault {
	if ctx.Session == nil || s.opts.SessionIdle < 0 {
		return nil
	}
	key := ctx.Session.Key
	if !s.idleExpired(key) {
		s.sess.mu.Lock()
		s.sess.last[key] = s.now()
		s.sess.mu.Unlock()
		return nil
	}
	s.expireSession(key)
	return &types.NotAuthenticated{NoPermission: types.NoPermission{Object: ctx.Caller, PrivilegeId: "System.View"}}
}

// idleExpired reports whether the session went without an API call for
// longer than the idle limit. A session seen for the first time starts
// its idle time now.
func (s *Sim) idleExpired(key string) bool {
	if s.opts.SessionIdle < 0 || key == s.ctlKey {
		return false
	}
	now := s.now()
	s.sess.mu.Lock()
	last, seen := s.sess.last[key]
	if !seen {
		s.sess.last[key] = now
	}
	s.sess.mu.Unlock()
	if !seen || now.Sub(last) <= s.opts.SessionIdle {
		return false
	}
	// vcsim's in-process session (its own /folder look-ups) is not one of
	// the SessionManager's: it never expires
	return s.liveSession(key)
}

// expireSession ends a session as vCenter does when it times out.
func (s *Sim) expireSession(key string) {
	s.sess.mu.Lock()
	delete(s.sess.last, key)
	s.sess.mu.Unlock()
	s.forgetTickets(key)
	s.terminate(key)
	s.logf("vsim: session %s…: idle for more than %v, expired", key[:min(8, len(key))], s.opts.SessionIdle)
}

// terminate removes a session from vcsim's SessionManager (what
// TerminateSession does, called on behalf of nobody).
func (s *Sim) terminate(key string) {
	sm := s.reg.SessionManager()
	ctx := &simulator.Context{Map: s.reg, Context: s.ctx, Session: &simulator.Session{UserSession: types.UserSession{Key: "vmlua-sim-expiry"}}}
	sm.TerminateSession(ctx, &types.TerminateSession{This: sm.Self, SessionId: []string{key}})
}
