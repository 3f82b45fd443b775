package backup

import "time"

// SetProgressEvery sets how often progress.json follows stored files and
// returns a function that restores the old value.
func SetProgressEvery(d time.Duration) (restore func()) {
	old := progressEvery
	progressEvery = d
	return func() { progressEvery = old }
}

// SetConfigBuffered sets the largest configuration file kept in memory to
// be stored during the freeze and returns a function that restores it.
func SetConfigBuffered(n int) (restore func()) {
	old := configBuffered
	configBuffered = n
	return func() { configBuffered = old }
}
