package sftp

import (
	"net/url"
	"testing"

	"github.com/vmlua/vmlua/transports"
)

func TestURLFormsParse(t *testing.T) {
	cases := []struct {
		name, url        string
		user, addr, root string
	}{
		{"sftp with a port and an absolute path", "sftp://bob@nas:2222/srv/backup", "bob", "nas:2222", "/srv/backup"},
		{"sftp without a port uses 22", "sftp://bob@nas/srv/backup", "bob", "nas:22", "/srv/backup"},
		{"scp with a port", "scp://bob@nas:2200/srv", "bob", "nas:2200", "/srv"},
		{"vcbMounter's scp://user@host:/path has an empty port", "scp://bob@nas:/vmfs/backup", "bob", "nas:22", "/vmfs/backup"},
		{"/~/ is relative to the login directory", "sftp://bob@nas/~/backups", "bob", "nas:22", "~/backups"},
		{"no path is the login directory", "sftp://bob@nas", "bob", "nas:22", ""},
		{"the credential's user when the URL has none", "sftp://nas/x", "cred", "nas:22", "/x"},
		{"an IPv6 host", "sftp://bob@[::1]:2222/x", "bob", "[::1]:2222", "/x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u, err := url.Parse(c.url)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := parseURL(u, transports.Options{Credentials: transports.Credentials{User: "cred"}})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Credentials.User != c.user || cfg.Addr != c.addr || cfg.Root != c.root {
				t.Fatalf("got user %q addr %q root %q, want %q %q %q", cfg.Credentials.User, cfg.Addr, cfg.Root, c.user, c.addr, c.root)
			}
		})
	}
}

func TestBadOptionsAreRefused(t *testing.T) {
	for _, raw := range []string{"sftp://bob@nas/x?concurrency=0", "sftp://bob@nas/x?timeout=soon", "sftp:nas/x"} {
		u, _ := url.Parse(raw)
		if _, err := parseURL(u, transports.Options{}); err == nil {
			t.Errorf("%s: accepted", raw)
		}
	}
}
