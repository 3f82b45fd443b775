package main

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/vmlua/vmlua/internal/vsim"
)

// readGate holds, at the simulator's hosts, every GET of a disk's data
// file (/folder/...-flat.vmdk) until the test releases the gate: a backup
// that reaches it is stopped in the middle of reading a disk, for as long
// as the test wants, whatever the machine's speed. (The reads go to the
// VM's host, not through the SDK's address: the gate is the simulator's
// OnFolder hook.)
type readGate struct {
	URL     *url.URL      // the SDK URL, with the simulator's credentials
	reached chan struct{} // closed by the first GET held
	release chan struct{}
	once    sync.Once
	rel     sync.Once
}

// Release lets the held GETs and every later one through.
func (g *readGate) Release() { g.rel.Do(func() { close(g.release) }) }

func newReadGate(t *testing.T, s *vsim.Sim) *readGate {
	t.Helper()
	g := &readGate{reached: make(chan struct{}), release: make(chan struct{}), URL: s.URL}
	s.SetOnFolder(func(r vsim.FolderRequest) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "-flat.vmdk") {
			g.once.Do(func() { close(g.reached) })
			<-g.release
		}
	})
	t.Cleanup(g.Release)
	return g
}
