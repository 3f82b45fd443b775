package all_test

import (
	"testing"

	"github.com/vmlua/vmlua/transports"
	_ "github.com/vmlua/vmlua/transports/all"
	"github.com/vmlua/vmlua/transports/transporttest"
)

// TestEveryShippedSchemeIsRegistered: the binary imports this package, so
// a transport missing here cannot be used from the CLI at all.
func TestEveryShippedSchemeIsRegistered(t *testing.T) {
	have := map[string]bool{}
	for _, s := range transports.Schemes() {
		have[s.Name] = true
		for _, a := range s.Aliases {
			have[a] = true
		}
	}
	for _, want := range []string{"file", "nfs", "smb", "cifs", "ftp", "ftps", "sftp", "scp", "vmfs"} {
		if !have[want] {
			t.Errorf("scheme %s is not registered by transports/all", want)
		}
	}
}

// TestEveryTransportReadsItsDocumentedOptionsFromTheURL: each option a
// scheme registers (and docs/transports.md lists) works in the URL's
// query, not only from the config or a script's table. The URLs point at
// a closed port: every transport checks its options before it dials. vmfs
// needs a vSphere and is checked by its own package's tests.
func TestEveryTransportReadsItsDocumentedOptionsFromTheURL(t *testing.T) {
	dir := t.TempDir()
	bases := map[string]struct {
		url  string
		opts transports.Options
		skip []string
	}{
		"file": {"file://" + dir + "/missing", transports.Options{}, nil},
		"ftp":  {"ftp://backup@127.0.0.1:1/x", transports.Options{Credentials: transports.Credentials{Password: "p", AllowPlaintext: true}}, []string{"ca_file"}}, // a CA only matters to ftps, checked below
		"ftps": {"ftps://backup@127.0.0.1:1/x", transports.Options{Credentials: transports.Credentials{Password: "p"}}, nil},
		"nfs":  {"nfs://127.0.0.1:1/export", transports.Options{}, nil},
		"sftp": {"sftp://backup@127.0.0.1:1/x", transports.Options{Credentials: transports.Credentials{Password: "p", HostKey: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"}}, nil},
		"smb":  {"smb://backup@127.0.0.1:1/share/x", transports.Options{Credentials: transports.Credentials{Password: "p"}}, nil},
		"vmfs": {}, // transports/vmfs: TestURLOptionsAreRead
	}
	for _, s := range transports.Schemes() {
		b, ok := bases[s.Name]
		if !ok {
			t.Errorf("scheme %s has no URL here: add one so that its options are checked", s.Name)
			continue
		}
		if b.url == "" {
			continue
		}
		t.Run(s.Name, func(t *testing.T) { transporttest.URLParams(t, b.url, b.opts, b.skip...) })
	}
}
