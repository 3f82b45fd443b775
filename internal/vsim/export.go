package vsim

import (
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// source is what an export URL or a /folder GET streams: a flat file as it
// is (a frozen base, served like http.FileServer does), or the logical
// content of a chain level.
type source struct {
	file    string       // flat file, or
	chain   *chainReader // a chain level
	size    int64
	cid     uint32 // an export's descriptor
	adapter string
}

func (src source) serve(w http.ResponseWriter, r *http.Request, name string) {
	if src.chain != nil {
		rs := *src.chain
		http.ServeContent(w, r, name, time.Time{}, &rs)
		return
	}
	f, err := os.Open(src.file)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	http.ServeContent(w, r, name, time.Time{}, f) // *os.File: sendfile where the connection allows
}

// diskSource returns the source for d's chain up to level.
func (vs *vmState) diskSource(d *disk, level int) source {
	if level == 0 {
		return source{file: d.layers[0].dataFile, size: d.capacity}
	}
	return source{chain: &chainReader{mu: &vs.mu, d: d, l: d.layers[level], size: d.capacity}, size: d.capacity}
}

// serveFolder answers GET/HEAD of /folder: every file as it is on the
// datastore, a snapshot delta in its real format (delta_format.go) as ESXi
// serves it.
func (s *Sim) serveFolder(w http.ResponseWriter, r *http.Request) {
	ds := r.URL.Query().Get("dsName")
	p := strings.TrimPrefix(r.URL.Path, "/folder/")
	if dir, ok := s.dsDir(ds); ok && !strings.Contains(p, "..") {
		local := filepath.Join(dir, filepath.FromSlash(p))
		// a plain file straight from the datastore's folder: vcsim's
		// ServeDatastore looks the datastore up through the property
		// collector on every request, which made each range GET of a
		// backup cost milliseconds
		if fi, err := os.Stat(local); err == nil && fi.Mode().IsRegular() {
			source{file: local, size: fi.Size()}.serve(w, r, path.Base(p))
			return
		}
	}
	s.model.Service.ServeDatastore(w, r)
}

var _ sync.Locker = (*sync.Mutex)(nil)
