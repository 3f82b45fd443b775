package testservers

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

func TestVSFTPDServesPlainAndExplicitTLS(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "ftps"}[useTLS]
		t.Run(name, func(t *testing.T) {
			s := VSFTPD(t, useTLS)
			opts := []ftp.DialOption{ftp.DialWithTimeout(10 * time.Second)}
			if useTLS {
				pem, err := os.ReadFile(s.CAFile)
				if err != nil {
					t.Fatal(err)
				}
				pool := x509.NewCertPool()
				pool.AppendCertsFromPEM(pem)
				opts = append(opts, ftp.DialWithExplicitTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}))
			}
			c, err := ftp.Dial(s.Addr(), opts...)
			if err != nil {
				t.Fatalf("dial: %v\n%s", err, s.Daemon.Output())
			}
			defer c.Quit()
			if err := c.Login(s.User.Name, s.User.Password); err != nil {
				t.Fatalf("login: %v\n%s", err, s.Daemon.Output())
			}
			if err := c.Stor("hello.txt", bytes.NewReader([]byte("hello"))); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(s.DataDir, "hello.txt"))
			if err != nil || string(b) != "hello" {
				t.Fatalf("file on disk: %q %v", b, err)
			}
		})
	}
}

func TestVSFTPDPlainLoginRefusedWhenTLSRequired(t *testing.T) {
	s := VSFTPD(t, true)
	c, err := ftp.Dial(s.Addr(), ftp.DialWithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit()
	if err := c.Login(s.User.Name, s.User.Password); err == nil {
		t.Fatal("plain login accepted by an FTPS-only server")
	}
}
