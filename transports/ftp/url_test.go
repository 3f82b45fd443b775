package ftp

import (
	"net/url"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/transports"
)

func TestURLFormsParse(t *testing.T) {
	allow := transports.Credentials{AllowPlaintext: true, User: "cred"}
	cases := []struct {
		name, url        string
		user, addr, root string
		tls              bool
	}{
		{"ftps with a port", "ftps://bob@nas:2121/backups/x", "bob", "nas:2121", "backups/x", true},
		{"ftp without a port uses 21", "ftp://bob@nas/backups", "bob", "nas:21", "backups", false},
		{"an encoded first slash is an absolute path", "ftp://bob@nas/%2Fsrv/backups", "bob", "nas:21", "/srv/backups", false},
		{"no path is the login directory", "ftps://bob@nas", "bob", "nas:21", "", true},
		{"the credential's user when the URL has none", "ftp://nas/x", "cred", "nas:21", "x", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, err := url.Parse(c.url)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := parseURL(u, transports.Options{Credentials: allow})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Credentials.User != c.user || cfg.Addr != c.addr || cfg.Root != c.root || cfg.TLS != c.tls {
				t.Fatalf("got %+v", cfg)
			}
		})
	}
}

func TestPlainFTPWithoutAllowPlaintextIsRefusedWithAReason(t *testing.T) {
	u, _ := url.Parse("ftp://bob@nas/x")
	_, err := parseURL(u, transports.Options{Credentials: transports.Credentials{Name: "nas", Password: "pw-secret"}})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"unencrypted", "ftps://", "allow_plaintext = true", `credential "nas"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "pw-secret") {
		t.Errorf("the error carries the password: %q", err)
	}
}
