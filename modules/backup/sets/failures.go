package sets

import (
	"sync"

	"github.com/vmlua/vmlua/runtime"
)

// failures records, per run, whether each VM's latest backup failed.
type failures struct {
	mu sync.Mutex
	m  map[string]bool
}

func failuresOf(r *runtime.Run) *failures {
	return failuresKey.Init(r, func() *failures { return &failures{m: map[string]bool{}} })
}

var failuresKey = runtime.NewKey[*failures]("backup.failures")

func (f *failures) set(vmName string, failed bool) {
	f.mu.Lock()
	f.m[DirName(vmName)] = failed
	f.mu.Unlock()
}

// SetFailed records whether the latest backup of a VM (or "host/NAME")
// in this run failed; Prune leaves the sets of a failed one alone.
func SetFailed(r *runtime.Run, name string, failed bool) { failuresOf(r).set(name, failed) }

// Failed reports whether the VM's latest backup in this run failed.
func Failed(r *runtime.Run, vmName string) bool {
	f := failuresOf(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[DirName(vmName)]
}
