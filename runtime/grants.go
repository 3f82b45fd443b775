package runtime

import (
	"fmt"
	"net"
	"path"
	"path/filepath"
	"strings"

	"github.com/vmlua/vmlua/internal/redact"
	"github.com/vmlua/vmlua/transports"
)

// Grants are the URL prefixes the operator allowed a run to reach
// (--allow and the config's [grants] allow). A script cannot add to them.
type Grants struct {
	prefixes []grant
}

type grant struct {
	raw  string
	norm normURL
}

// normURL is a URL reduced to what a grant compares: scheme, user, host,
// port and a clean, decoded path.
type normURL struct {
	scheme, user, host, port, path string
}

func normalize(raw string) (normURL, error) {
	// errors quote the URL with its password masked (it may not parse, so
	// by the URL's structure as text)
	shown := redact.Text(raw)
	if strings.ContainsAny(raw, "\x00\r\n\t") {
		return normURL{}, fmt.Errorf("URL %q contains control characters", shown)
	}
	u, err := transports.Parse(raw)
	if err != nil {
		return normURL{}, fmt.Errorf("URL %q: %w", shown, err)
	}
	if u.Opaque != "" {
		return normURL{}, fmt.Errorf("URL %q is not hierarchical (want scheme://host/path)", shown)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "" {
		return normURL{}, fmt.Errorf("URL %q has no scheme (want e.g. sftp://user@host/path or file:///path)", shown)
	}
	n := normURL{scheme: scheme, host: strings.ToLower(u.Hostname()), port: u.Port()}
	// The scheme's registration says which names are one scheme and
	// which port a URL without one reaches; unregistered schemes compare
	// as spelled.
	if sc, ok := transports.Lookup(scheme); ok {
		n.scheme = sc.Name
		if n.port == "" {
			n.port = sc.DefaultPort
		}
	}
	if ip := net.ParseIP(n.host); ip != nil {
		n.host = ip.String()
	} else if strings.ContainsAny(n.host, ":[]@/") {
		return normURL{}, fmt.Errorf("URL %q: host %q is neither a name nor an IP address", shown, n.host)
	}
	if u.User != nil {
		n.user = u.User.Username()
	}
	p := u.Path // already percent-decoded by url.Parse
	if strings.Contains(p, "\\") {
		return normURL{}, fmt.Errorf("URL %q: backslashes are not allowed in paths", shown)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return normURL{}, fmt.Errorf("URL %q: '..' is not allowed in paths", shown)
		}
	}
	if p == "" {
		p = "/"
	}
	n.path = path.Clean("/" + p)
	return n, nil
}

// Allow adds a prefix. Prefixes are compared structurally: same scheme
// (scp counts as sftp, cifs as smb), same host and port, same user if the
// prefix names one, and a path equal to or below the prefix's path.
func (g *Grants) Allow(prefix string) error {
	n, err := normalize(prefix)
	if err != nil {
		return fmt.Errorf("grant %w", err)
	}
	g.prefixes = append(g.prefixes, grant{raw: prefix, norm: n})
	return nil
}

// List returns the granted prefixes as given.
func (g *Grants) List() []string {
	var out []string
	for _, p := range g.prefixes {
		out = append(out, p.raw)
	}
	return out
}

// Check returns nil when rawURL is inside a grant, else an *Error with code
// not_granted that says how to grant it.
func (g *Grants) Check(rawURL string) error {
	n, err := normalize(rawURL)
	if err != nil {
		return &Error{Code: CodeInvalidArg, Message: err.Error(), Path: transports.Redact(rawURL)}
	}
	for _, p := range g.prefixes {
		// Local paths are judged by where they resolve, other URLs by
		// their normalised spelling.
		if (n.scheme == "file" && p.norm.coversResolved(n)) || (n.scheme != "file" && p.norm.covers(n)) {
			return nil
		}
	}
	return &Error{
		Code: CodeNotGranted,
		Message: fmt.Sprintf("%s is not granted to this run; the operator grants it with 'vmlua run --allow %s' or in the config file's [grants] allow list",
			transports.Redact(rawURL), transports.Redact(rawURL)),
		Path: transports.Redact(rawURL),
	}
}

// coversResolved is covers for local paths after symlinks are resolved on
// both sides: a symlink inside a granted folder that points elsewhere does
// not extend the grant, and a granted folder that is itself a symlink
// still covers what lies below it.
func (p normURL) coversResolved(n normURL) bool {
	pr, nr := p, n
	pr.path, nr.path = resolveLocal(p.path), resolveLocal(n.path)
	return pr.covers(nr)
}

// resolveLocal resolves the symlinks of the longest existing prefix of an
// absolute path and appends the rest, which does not exist yet.
func resolveLocal(p string) string {
	rest := ""
	for cur := p; ; cur = path.Dir(cur) {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return path.Clean(filepath.ToSlash(r) + "/" + rest)
		}
		if cur == "/" || cur == "." {
			return p
		}
		rest = path.Join(path.Base(cur), rest)
	}
}

func (p normURL) covers(n normURL) bool {
	if p.scheme != n.scheme || p.host != n.host || p.port != n.port {
		return false
	}
	if p.user != "" && p.user != n.user {
		return false
	}
	if p.path == "/" || p.path == n.path {
		return true
	}
	return strings.HasPrefix(n.path, p.path+"/")
}
