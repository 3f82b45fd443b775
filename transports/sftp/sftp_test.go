package sftp_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/transports"
	_ "github.com/vmlua/vmlua/transports/sftp"
	"github.com/vmlua/vmlua/transports/transporttest"
)

// freshDir makes an empty directory owned by the server's user.
func freshDir(tb testing.TB, srv *testservers.SSHServer) string {
	tb.Helper()
	d, err := os.MkdirTemp(srv.DataDir, "t-")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.Chown(d, srv.User.UID, srv.User.GID); err != nil {
		tb.Fatal(err)
	}
	return d
}

func keyCreds(srv *testservers.SSHServer) transports.Credentials {
	return transports.Credentials{Name: "test-key", KeyFile: srv.ClientKeyFile, KnownHosts: srv.KnownHostsFile}
}

func passwordCreds(srv *testservers.SSHServer) transports.Credentials {
	return transports.Credentials{Name: "test-pw", Password: srv.User.Password, HostKey: srv.HostKeyFingerprint}
}

func openTB(tb testing.TB, rawURL string, cr transports.Credentials) transports.Transport {
	tb.Helper()
	tr, err := transports.Open(context.Background(), rawURL, transports.Options{Credentials: cr})
	if err != nil {
		tb.Fatalf("Open(%s): %v", rawURL, err)
	}
	tb.Cleanup(func() { tr.Close() })
	return tr
}

func target(t *testing.T, scheme string, creds func(*testservers.SSHServer) transports.Credentials) transporttest.Target {
	t.Setenv("SSH_AUTH_SOCK", "") // only the credential's methods
	srv := testservers.SSHD(t)
	return transporttest.Target{
		Name: scheme,
		Fresh: func(t *testing.T) transporttest.Fresh {
			d := freshDir(t, srv)
			return transporttest.Fresh{URL: srv.URL(scheme, d), Options: transports.Options{Credentials: creds(srv)}, Dir: d}
		},
		Kill: func(t *testing.T) { srv.Kill() },
		Full: func(t *testing.T) transports.Transport {
			return openTB(t, srv.URL(scheme, srv.User.SmallDisk(t, 4<<20)), creds(srv))
		},
	}
}

func TestConformanceWithKey(t *testing.T) {
	transporttest.Run(t, target(t, "sftp", keyCreds))
}

func TestConformanceWithPasswordAndPinnedHostKey(t *testing.T) {
	transporttest.Run(t, target(t, "scp", passwordCreds))
}

func TestLogin(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	srv := testservers.SSHD(t)
	emptyKnownHosts := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(emptyKnownHosts, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	otherKnownHosts := filepath.Join(t.TempDir(), "known_hosts_other")
	// the right host, another key
	other := strings.Fields(srv.KnownHostsLine)[0] + " ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPdzTTaK/2cPTEzmlrgdXn4wy4CZ5rSHO1X/r0BO7ah3\n"
	if err := os.WriteFile(otherKnownHosts, []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	good := passwordCreds(srv)
	cases := []struct {
		name    string
		url     string
		cr      transports.Credentials
		wantErr error    // nil: must open
		wantMsg []string // substrings of the error
	}{
		{"a key file and known_hosts log in", srv.URL("sftp", ""), keyCreds(srv), nil, nil},
		{"a password and a pinned fingerprint log in", srv.URL("sftp", ""), good, nil, nil},
		{"an scp:// URL logs in", srv.URL("scp", ""), good, nil, nil},
		{"a wrong password is ErrAuth", srv.URL("sftp", ""),
			transports.Credentials{Password: "not-the-password", HostKey: srv.HostKeyFingerprint}, transports.ErrAuth, []string{"refused the login"}},
		{"an unknown host key is refused with its fingerprint", srv.URL("sftp", ""),
			transports.Credentials{Password: srv.User.Password, KnownHosts: emptyKnownHosts}, transports.ErrAuth, []string{"unknown host", srv.HostKeyFingerprint, "host_key"}},
		{"a changed host key is refused with its fingerprint", srv.URL("sftp", ""),
			transports.Credentials{Password: srv.User.Password, KnownHosts: otherKnownHosts}, transports.ErrAuth, []string{"HOST KEY CHANGED", srv.HostKeyFingerprint}},
		{"a wrong pinned fingerprint is refused with the right one", srv.URL("sftp", ""),
			transports.Credentials{Password: srv.User.Password, HostKey: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, transports.ErrAuth, []string{"mismatch", srv.HostKeyFingerprint}},
		{"no known_hosts and no host_key is refused before connecting", srv.URL("sftp", ""),
			transports.Credentials{Password: srv.User.Password}, nil, []string{"known_hosts", "host_key"}},
		{"a missing root directory with create=false fails", srv.URL("sftp", srv.DataDir+"/missing") + "?create=false", good, fs.ErrNotExist, []string{"missing", "create=false"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, err := transports.Open(context.Background(), c.url, transports.Options{Credentials: c.cr})
			if c.wantErr == nil && c.wantMsg == nil {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer tr.Close()
				if _, err := tr.List(context.Background(), ""); err != nil {
					t.Fatalf("List: %v", err)
				}
				return
			}
			if err == nil {
				tr.Close()
				t.Fatal("Open succeeded")
			}
			if c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Errorf("error %v does not wrap %v", err, c.wantErr)
			}
			for _, m := range c.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if c.cr.Password != "" && strings.Contains(err.Error(), c.cr.Password) {
				t.Errorf("the error carries the password: %q", err)
			}
			t.Logf("error: %v", err)
		})
	}
}

func TestHomeRelativeURL(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	srv := testservers.SSHD(t)
	tr := openTB(t, strings.TrimSuffix(srv.URL("sftp", "/"), "/")+"/~/", keyCreds(srv))
	if _, err := tr.List(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
}
