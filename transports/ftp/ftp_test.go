package ftp_test

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
	_ "github.com/vmlua/vmlua/transports/ftp"
	"github.com/vmlua/vmlua/transports/transporttest"
)

func creds(srv *testservers.FTPServer) transports.Options {
	o := transports.Options{Credentials: transports.Credentials{Name: "test", Password: srv.User.Password, AllowPlaintext: !srv.TLS}}
	if srv.TLS {
		o.Params = map[string]string{"ca_file": srv.CAFile}
	}
	return o
}

// freshDir makes an empty directory, owned by the FTP user, under the
// login directory and returns its name.
func freshDir(tb testing.TB, srv *testservers.FTPServer) string {
	tb.Helper()
	d, err := os.MkdirTemp(srv.DataDir, "t-")
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.Chown(d, srv.User.UID, srv.User.GID); err != nil {
		tb.Fatal(err)
	}
	return d[len(srv.DataDir)+1:]
}

func openTB(tb testing.TB, rawURL string, o transports.Options) transports.Transport {
	tb.Helper()
	tr, err := transports.Open(context.Background(), rawURL, o)
	if err != nil {
		tb.Fatalf("Open(%s): %v", rawURL, err)
	}
	tb.Cleanup(func() { tr.Close() })
	return tr
}

func target(t *testing.T, tls bool) transporttest.Target {
	srv := testservers.VSFTPD(t, tls)
	return transporttest.Target{
		Name: srv.URL(),
		Fresh: func(t *testing.T) transporttest.Fresh {
			d := freshDir(t, srv)
			return transporttest.Fresh{URL: srv.URL() + d, Options: creds(srv), Dir: filepath.Join(srv.DataDir, d)}
		},
		Kill: func(t *testing.T) { srv.Kill() },
		Full: func(t *testing.T) transports.Transport {
			small := testservers.VSFTPDWith(t, testservers.VSFTPDOptions{TLS: tls, Root: srv.User.SmallDisk(t, 4<<20)})
			return openTB(t, small.URL(), creds(small))
		},
	}
}

func TestConformancePlainFTP(t *testing.T) { transporttest.Run(t, target(t, false)) }

func TestConformanceFTPS(t *testing.T) { transporttest.Run(t, target(t, true)) }

// TestAReadOnlyFolderIsNotRetried: vsftpd's "553 Could not create file"
// and "550 Create directory operation failed" on a folder the FTP user
// cannot write are permanent: a backup fails at once, not after five tries.
func TestAReadOnlyFolderIsNotRetried(t *testing.T) {
	srv := testservers.VSFTPD(t, false)
	d := freshDir(t, srv)
	if err := os.Chmod(filepath.Join(srv.DataDir, d), 0o555); err != nil {
		t.Fatal(err)
	}
	transporttest.ReadOnlyIsNotRetried(t, openTB(t, srv.URL()+d, creds(srv)))
}

func TestLogin(t *testing.T) {
	plain := testservers.VSFTPD(t, false)
	secure := testservers.VSFTPD(t, true)
	wrongPW := creds(plain)
	wrongPW.Credentials.Password = "not-the-password"
	noCA := creds(secure)
	noCA.Params = nil
	insecure := noCA
	insecure.Credentials.InsecureTLS = true
	noPlain := creds(plain)
	noPlain.Credentials.AllowPlaintext = false
	cases := []struct {
		name    string
		url     string
		o       transports.Options
		wantErr error
		wantMsg []string
	}{
		{"plain ftp with allow_plaintext logs in", plain.URL(), creds(plain), nil, nil},
		{"ftps with the server's CA logs in", secure.URL(), creds(secure), nil, nil},
		{"ftps with insecure_tls logs in", secure.URL(), insecure, nil, nil},
		{"a wrong password is ErrAuth", plain.URL(), wrongPW, transports.ErrAuth, []string{"refused"}},
		{"plain ftp without allow_plaintext is refused with the reason", plain.URL(), noPlain, nil, []string{"unencrypted", "allow_plaintext = true"}},
		{"an unverifiable certificate is refused", secure.URL(), noCA, nil, []string{"certificate"}},
		{"plain ftp to a server that demands TLS fails", "ftp" + strings.TrimPrefix(secure.URL(), "ftps"), creds(plain), nil, []string{"encryption"}},
		{"a missing root directory with create=false fails", plain.URL() + "missing?create=false", creds(plain), fs.ErrNotExist, []string{"missing", "create=false"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr, err := transports.Open(context.Background(), c.url, c.o)
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
			if pw := c.o.Credentials.Password; pw != "" && strings.Contains(err.Error(), pw) {
				t.Errorf("the error carries the password: %q", err)
			}
			t.Logf("error: %v", err)
		})
	}
}
