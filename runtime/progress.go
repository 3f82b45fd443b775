package runtime

// Progress receives byte counts of long operations (exports, uploads,
// restores). The CLI renders it as bars on a terminal and as plain lines
// otherwise; tests record it.
type Progress interface {
	// Start announces an operation of total bytes (-1 when unknown).
	Start(name string, total int64) Tracker
}

// Tracker is one operation in progress.
type Tracker interface {
	Add(n int64)
	// Done ends the operation; err is nil on success.
	Done(err error)
}

// NopProgress discards progress.
type NopProgress struct{}

func (NopProgress) Start(string, int64) Tracker { return nopTracker{} }

type nopTracker struct{}

func (nopTracker) Add(int64)  {}
func (nopTracker) Done(error) {}
