package vsim

import "time"

// The simulator's clock: wall time plus an offset a test may advance
// (AdvanceClock), so that what real vSphere does after minutes of
// idleness (a session expiring, session_expiry.go) happens at a point of
// the test's choosing instead of after a race with the wall clock. Only
// the behaviours that say so read it; the guests write on wall time.

// now is the simulator's time.
func (s *Sim) now() time.Time {
	return time.Now().Add(time.Duration(s.clockOffset.Load()))
}

// AdvanceClock moves the simulator's clock forward by d, as if that much
// time had passed: sessions idle for longer than Options.SessionIdle
// expire at their next request.
func (s *Sim) AdvanceClock(d time.Duration) {
	if d <= 0 {
		return
	}
	// a session not seen calling yet (logged in, nothing more) has been
	// idle since now at least
	now := s.now()
	all, _ := s.liveSessions()
	s.sess.mu.Lock()
	for _, us := range all {
		if _, seen := s.sess.last[us.Key]; !seen {
			s.sess.last[us.Key] = now
		}
	}
	s.sess.mu.Unlock()
	s.clockOffset.Add(int64(d))
}
