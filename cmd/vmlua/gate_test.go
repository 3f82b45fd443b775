package main

import (
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/vmlua/vmlua/internal/vsim"
)

// readGate is an HTTPS proxy in front of a simulator that holds every GET
// of a disk's data file (/folder/...-flat.vmdk) until the client gives up
// on it or the test releases the gate: a backup that reaches it is stopped
// in the middle of reading a disk, for as long as the test wants, whatever
// the machine's speed.
type readGate struct {
	URL     *url.URL      // the SDK URL through the proxy, with the simulator's credentials
	reached chan struct{} // closed by the first GET held
	release chan struct{}
	once    sync.Once
	rel     sync.Once
}

// Release lets the held GETs and every later one through.
func (g *readGate) Release() { g.rel.Do(func() { close(g.release) }) }

func newReadGate(t *testing.T, s *vsim.Sim) *readGate {
	t.Helper()
	g := &readGate{reached: make(chan struct{}), release: make(chan struct{})}
	target := url.URL{Scheme: s.URL.Scheme, Host: s.URL.Host}
	rp := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(&target) },
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/folder/") && strings.HasSuffix(r.URL.Path, "-flat.vmdk") {
			g.once.Do(func() { close(g.reached) })
			select {
			case <-r.Context().Done(): // vmlua gave up on the read
				return
			case <-g.release:
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL + "/sdk")
	u.User = s.URL.User
	g.URL = u
	return g
}
