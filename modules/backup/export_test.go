package backup

import "time"

// SetProgressEvery sets how often progress.json follows stored files and
// returns a function that restores the old value.
func SetProgressEvery(d time.Duration) (restore func()) {
	old := progressEvery
	progressEvery = d
	return func() { progressEvery = old }
}
