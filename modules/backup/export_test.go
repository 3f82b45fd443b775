package backup

// SetConfigBuffered sets the largest configuration file kept in memory to
// be stored during the freeze and returns a function that restores it.
func SetConfigBuffered(n int) (restore func()) {
	old := configBuffered
	configBuffered = n
	return func() { configBuffered = old }
}
