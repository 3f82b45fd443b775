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

// TestSchemeFacts: what grants compare a URL by (primary name, default
// port) is each scheme's registration, found under any of its names.
func TestSchemeFacts(t *testing.T) {
	for _, tc := range []struct{ name, primary, port string }{
		{"file", "file", ""},
		{"ftp", "ftp", "21"},
		{"ftps", "ftps", "21"},
		{"nfs", "nfs", "2049"},
		{"sftp", "sftp", "22"},
		{"SCP", "sftp", "22"},
		{"smb", "smb", "445"},
		{"cifs", "smb", "445"},
		{"vmfs", "vmfs", ""},
	} {
		s, ok := transports.Lookup(tc.name)
		if !ok || s.Name != tc.primary || s.DefaultPort != tc.port {
			t.Errorf("Lookup(%q) = %q port %q (found %v), want %q port %q", tc.name, s.Name, s.DefaultPort, ok, tc.primary, tc.port)
		}
	}
	if _, ok := transports.Lookup("http"); ok {
		t.Error("Lookup(http) found a scheme no transport registers")
	}
}

// TestRedactWritesURLsTheirSchemeParses: a redacted URL hides the password
// and, given back, reaches the same place (a datastore whose name has a
// space used to come out as vmfs://datastore%201/..., which url.Parse
// refuses).
func TestRedactWritesURLsTheirSchemeParses(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"sftp://backup:s3cret@nas/backups", "sftp://backup:xxxxx@nas/backups"},
		{"smb://nas/share/x", "smb://nas/share/x"},
		{"vmfs://LocalDS_0/backups", "vmfs://LocalDS_0/backups"},
		{"vmfs://[LocalDS_0] backups/DB01", "vmfs://LocalDS_0/backups/DB01"},
		{"vmfs://[datastore 1] vm backups", "vmfs://[datastore 1] vm backups"},
		{"vmfs://[datastore 1] vm backups?create=false", "vmfs://[datastore 1] vm backups?create=false"},
		{"sftp://nas/%zz", "(unparsable URL)"},
	} {
		got := transports.Redact(tc.raw)
		if got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.raw, got, tc.want)
			continue
		}
		if tc.want == "(unparsable URL)" {
			continue
		}
		a, err1 := transports.Parse(tc.raw)
		b, err2 := transports.Parse(got)
		if err1 != nil || err2 != nil || a.Host != b.Host || a.Path != b.Path {
			t.Errorf("Parse(%q) = %v, %v; Parse of its redaction %q = %v, %v", tc.raw, a, err1, got, b, err2)
		}
	}
}

// TestEverySchemeDocumentsItsExclusiveCreateAndTakesCreate: the backup
// lock depends on each transport's exclusive create, so docs/transports.md
// says for each how it is made; and create= is one behaviour for all.
func TestEverySchemeDocumentsItsExclusiveCreateAndTakesCreate(t *testing.T) {
	for _, s := range transports.Schemes() {
		if s.Exclusive == "" {
			t.Errorf("scheme %s does not say how it creates a file exclusively (Scheme.Exclusive)", s.Name)
		}
		found := false
		for _, o := range s.Options {
			found = found || o == transports.CreateOption
		}
		if !found {
			t.Errorf("scheme %s does not take the create option", s.Name)
		}
	}
}
