package dsread

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"

	"github.com/vmlua/vmlua/internal/vmdk"
	"github.com/vmlua/vmlua/internal/vsim"
)

// TestReadingASimulatedDatastore reads a two-extent disk from the
// simulator's datastore, directly and through a proxy that drops the Range
// header as a datastore that ignores ranges would.
func TestReadingASimulatedDatastore(t *testing.T) {
	dir := t.TempDir()
	s, err := vsim.Start(t.Context(), vsim.Options{DatastoreDir: dir, VMs: 1, DiskSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ext := []vmdk.Extent{{File: "d-s001.vmdk", Bytes: 19*MiB + 4096}, {File: "d-s002.vmdk", Bytes: 3 * MiB}}
	rng := rand.NewChaCha8([32]byte{1})
	var image []byte
	if err := os.MkdirAll(filepath.Join(dir, "LocalDS_0", "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range ext {
		b := make([]byte, e.Bytes)
		_, _ = rng.Read(b)
		if err := os.WriteFile(filepath.Join(dir, "LocalDS_0", "d", e.File), b, 0o644); err != nil {
			t.Fatal(err)
		}
		image = append(image, b...)
	}
	areas := []Area{{0, 9 * MiB}, {9*MiB + 512, 9*MiB + 4096}, {12 * MiB, 21 * MiB}}
	var want []byte
	for _, a := range areas {
		want = append(want, image[a.Off:a.End]...)
	}
	spans := Spans(ext, areas, MaxSpan)

	var ignoreRanges atomic.Bool
	target := url.URL{Scheme: s.URL.Scheme, Host: s.URL.Host}
	proxy := httptest.NewTLSServer(&httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&target)
			if ignoreRanges.Load() {
				r.Out.Header.Del("Range")
			}
		},
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
		ErrorLog:  log.New(io.Discard, "", 0), // the GETs ReadSpans cancels
	})
	defer proxy.Close()
	_, ds := openDS(t, s.URL)
	c, err := NewClient(t.Context(), ds, "d", ext[:2])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Direct() {
		t.Error("the client does not read from the host directly")
	}

	var got []byte
	if err := c.ReadSpans(t.Context(), spans, func(s Span, p []byte) error { got = append(got, p...); return nil }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("ReadSpans: the bytes differ from the disk's")
	}
	readAll := func(c *Client) []byte {
		var b bytes.Buffer
		if err := c.Copy(t.Context(), &b, spans); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	if !bytes.Equal(readAll(c), want) {
		t.Error("Copy: the bytes differ from the disk's")
	}

	// the next disk of the session reads on the same connection pool: no
	// TLS handshake per disk
	c2, err := NewClient(t.Context(), ds, "d", ext[1:])
	if err != nil {
		t.Fatal(err)
	}
	if c2.tr == nil || c2.tr != c.tr {
		t.Error("a second client of the same session has a connection pool of its own")
	}
	c2.Close()

	// through "vCenter", here a proxy that drops the Range header
	pu, _ := url.Parse(proxy.URL + "/sdk")
	pu.User = s.URL.User
	pvc, pds := openDS(t, pu)
	if _, err := Attach(pvc.Client, Config{ThroughVCenter: true}); err != nil {
		t.Fatal(err)
	}
	pc, err := NewClient(t.Context(), pds, "d", ext[:2])
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if pc.Direct() {
		t.Error("ThroughVCenter: the client reads from the host directly")
	}
	if !bytes.Equal(readAll(pc), want) {
		t.Error("Copy through vCenter: the bytes differ from the disk's")
	}
	ignoreRanges.Store(true)
	err = pc.ReadSpans(t.Context(), spans, func(s Span, p []byte) error { return nil })
	if !errors.Is(err, ErrRangeIgnored) {
		t.Errorf("ReadSpans from a datastore that ignores ranges: %v, want %v", err, ErrRangeIgnored)
	}
	if !bytes.Equal(readAll(pc), want) {
		t.Error("Copy from a datastore that ignores ranges: the bytes differ from the disk's")
	}
}

// openDS logs in to the vSphere at u and returns the session and the
// datastore LocalDS_0.
func openDS(t *testing.T, u *url.URL) (*govmomi.Client, *object.Datastore) {
	t.Helper()
	vc, err := govmomi.NewClient(t.Context(), u, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vc.Logout(context.Background()) })
	fd := find.NewFinder(vc.Client)
	dc, err := fd.DefaultDatacenter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	fd.SetDatacenter(dc)
	ds, err := fd.Datastore(t.Context(), "LocalDS_0")
	if err != nil {
		t.Fatal(err)
	}
	return vc, ds
}
