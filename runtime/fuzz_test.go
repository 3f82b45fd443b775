package runtime

import (
	"net"
	"net/url"
	"strings"
	"testing"
)

// render writes a normalised URL back as a URL string.
func (n normURL) render() string {
	u := url.URL{Scheme: n.scheme, Host: n.host, Path: n.path}
	if n.port != "" {
		u.Host = net.JoinHostPort(n.host, n.port)
	} else if net.ParseIP(n.host) != nil && net.ParseIP(n.host).To4() == nil {
		u.Host = "[" + n.host + "]"
	}
	if n.user != "" {
		u.User = url.User(n.user)
	}
	return u.String()
}

// FuzzGrants: Allow and Check never panic; a URL Check accepts is covered
// structurally by a grant; normalising is idempotent (a normalised URL
// written back normalises to itself), so no second parse can widen a grant.
func FuzzGrants(f *testing.F) {
	for _, s := range [][2]string{
		{"sftp://backup@nas/backups", "sftp://backup@nas/backups/db01"},
		{"sftp://backup@nas/backups", "scp://backup@NAS:22/backups/./db01"},
		{"sftp://backup@nas/backups", "sftp://backup@nas/backups-evil"},
		{"sftp://backup@nas/backups", "sftp://backup@nas/backups/../etc"},
		{"sftp://backup@nas/backups", "sftp://backup@nas/backups/%2e%2e/etc"},
		{"sftp://backup@nas/backups", "sftp://backup@nas@evil/backups"},
		{"sftp://backup@nas/backups", "sftp://evil@nas/backups"},
		{"file:///srv/backup", "file:///srv/backup/x"},
		{"file:///srv/backup", "file:///srv/backup%2f..%2f/etc"},
		{"file:///srv/backup", "FILE:///SRV/backup"},
		{"smb://fs/share", "cifs://FS:445/share/a"},
		{"nfs://[::1]/export", "nfs://[0:0::1]:2049/export/x"},
		{"ftp://127.0.0.1/a", "ftp://127.000.000.001/a"},
		{"vmfs://LocalDS_0/backups", "vmfs://localds_0/backups/a"},
		{"sftp://nas/", "sftp://nas"},
		{"sftp://nas/x", "sftp://nas/x\\..\\y"},
		{"sftp://nas/x", "sftp://nas/x/\x00"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, prefix, raw string) {
		var g Grants
		if g.Allow(prefix) != nil {
			return
		}
		err := g.Check(raw)
		n, nerr := normalize(raw)
		if err == nil {
			if nerr != nil {
				t.Fatalf("Check(%q) accepted a URL normalize refuses: %v", raw, nerr)
			}
			if !g.prefixes[0].norm.covers(n) {
				t.Fatalf("Check(%q) accepted a URL the grant %q does not cover", raw, prefix)
			}
		}
		if nerr != nil {
			return
		}
		if strings.Contains(n.host, ":") && net.ParseIP(n.host) == nil {
			t.Fatalf("normalize(%q) accepted host %q, which is neither a name nor an IP address (F1)", raw, n.host)
		}
		again, err2 := normalize(n.render())
		if err2 != nil {
			t.Fatalf("normalize(%q) = %+v, whose rendering %q does not normalise: %v", raw, n, n.render(), err2)
		}
		if again != n {
			t.Fatalf("normalize is not idempotent: %q -> %+v -> %q -> %+v", raw, n, n.render(), again)
		}
		// a grant for exactly this URL accepts it, and what it accepts
		// lies at or below its path
		var g2 Grants
		if err := g2.Allow(n.render()); err != nil {
			t.Fatalf("the normalised URL %q cannot be granted: %v", n.render(), err)
		}
		if err := g2.Check(raw); err != nil {
			t.Fatalf("a grant of %q refuses %q: %v", n.render(), raw, err)
		}
	})
}
