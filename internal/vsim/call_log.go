package vsim

// The API calls the simulator served, for tests that prove a command
// changed nothing (vmlua doctor): every method called by a logged-in
// session other than the simulator's own control session, in order, by
// name ("RetrieveProperties", "CreateSnapshot_Task"). Calls made before
// a login (RetrieveServiceContent, Login) are not recorded.

// Calls returns the names of the API methods called so far.
func (s *Sim) Calls() []string {
	s.calls.Lock()
	defer s.calls.Unlock()
	return append([]string(nil), s.calls.names...)
}

// recordCall notes one call of a session (dispatch).
func (s *Sim) recordCall(sessionKey, method string) {
	if sessionKey == s.ctlKey {
		return
	}
	s.calls.Lock()
	s.calls.names = append(s.calls.names, method)
	s.calls.Unlock()
}
