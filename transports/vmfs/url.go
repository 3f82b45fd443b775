package vmfs

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/vmlua/vmlua/transports"
)

// ParseURL splits a vmfs URL into the datastore's name and the directory
// inside it (clean, relative, "" for the datastore's root). Two forms are
// accepted:
//
//	vmfs://datastore/path/inside        (percent-encoding allowed in the path)
//	vmfs://[datastore] path/inside      (vSphere's own datastore-path syntax)
//
// The bracketed form is what vSphere shows ("[LocalDS_1] backups/DB01") and
// the only one that can name a datastore with spaces in it; Go's url.Parse
// refuses it (a "[" opens an IPv6 literal), so it is parsed here from the
// raw string, literally: no percent-decoding, no query.
func ParseURL(raw string) (datastore, dir string, err error) {
	if ds, rest, ok := cutBracket(raw); ok {
		if ds == "" || strings.ContainsAny(ds, "[]/") {
			return "", "", fmt.Errorf("vmfs URL %q: the datastore between [ and ] must be a plain name, as in vmfs://[LocalDS_1] backups/db01", raw)
		}
		dir, err := cleanDir(raw, strings.TrimSpace(rest))
		return ds, dir, err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", fmt.Errorf("vmfs URL %q: %w (a datastore whose name has spaces is written vmfs://[name with spaces] path)", raw, err)
	}
	if !strings.EqualFold(u.Scheme, "vmfs") {
		return "", "", fmt.Errorf("URL %q is not a vmfs:// URL", raw)
	}
	return fromURL(u)
}

// cutBracket recognises "vmfs://[ds] rest" (scheme case-insensitive).
func cutBracket(raw string) (ds, rest string, ok bool) {
	const prefix = "vmfs://["
	if len(raw) < len(prefix) || !strings.EqualFold(raw[:len(prefix)], prefix) {
		return "", "", false
	}
	ds, rest, ok = strings.Cut(raw[len(prefix):], "]")
	return ds, rest, ok
}

func fromURL(u *url.URL) (string, string, error) {
	shown := transports.Redact(u.String())
	if u.User != nil {
		return "", "", fmt.Errorf("vmfs URL %s names a user: vmfs:// uses the run's vSphere session, so leave the user out", shown)
	}
	if u.Opaque != "" || u.Host == "" {
		return "", "", fmt.Errorf("vmfs URL %s names no datastore: write vmfs://DATASTORE/path or vmfs://[DATASTORE] path", shown)
	}
	if u.Port() != "" {
		return "", "", fmt.Errorf("vmfs URL %s: a datastore has no port; write vmfs://DATASTORE/path", shown)
	}
	dir, err := cleanDir(shown, u.Path)
	return u.Host, dir, err
}

func cleanDir(shown, p string) (string, error) {
	p = strings.TrimLeft(p, "/")
	c, err := transports.CleanPath(p)
	if err != nil {
		return "", fmt.Errorf("vmfs URL %s: %w", shown, err)
	}
	return c, nil
}

// FormatURL is the inverse of ParseURL: the host form when the datastore's
// name fits in a URL host, the bracketed form otherwise.
func FormatURL(datastore, dir string) string {
	if hostSafe(datastore) {
		return (&url.URL{Scheme: "vmfs", Host: datastore, Path: "/" + dir}).String()
	}
	if dir == "" {
		return "vmfs://[" + datastore + "]"
	}
	return "vmfs://[" + datastore + "] " + dir
}

func hostSafe(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return s != ""
}
