package vsim

import "maps"

// The API calls the simulator served, for tests that prove a command
// changed nothing (vmlua doctor): how many times each method was called
// by a logged-in session other than the simulator's own control session,
// by name ("RetrieveProperties", "CreateSnapshot_Task"). Calls made
// before a login (RetrieveServiceContent, Login) are not counted. Counts,
// not a log, so that a simulator that runs for days stays small.

// Calls returns how many times each API method was called so far.
func (s *Sim) Calls() map[string]int {
	s.calls.Lock()
	defer s.calls.Unlock()
	return maps.Clone(s.calls.n)
}

// recordCall counts one call of a session (dispatch).
func (s *Sim) recordCall(sessionKey, method string) {
	if sessionKey == s.ctlKey {
		return
	}
	s.calls.Lock()
	if s.calls.n == nil {
		s.calls.n = map[string]int{}
	}
	s.calls.n[method]++
	s.calls.Unlock()
}
