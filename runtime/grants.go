package runtime

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"strings"
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

var defaultPorts = map[string]string{
	"sftp": "22", "scp": "22", "ftp": "21", "ftps": "21",
	"smb": "445", "cifs": "445", "nfs": "2049", "https": "443", "http": "80",
}

// schemeAliases maps alias schemes onto the name grants compare.
var schemeAliases = map[string]string{"scp": "sftp", "cifs": "smb"}

func normalize(raw string) (normURL, error) {
	if strings.ContainsAny(raw, "\x00\r\n\t") {
		return normURL{}, fmt.Errorf("URL %q contains control characters", raw)
	}
	if n, ok, err := normalizeVMFSBracket(raw); ok {
		return n, err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return normURL{}, fmt.Errorf("URL %q: %w", raw, err)
	}
	if u.Opaque != "" {
		return normURL{}, fmt.Errorf("URL %q is not hierarchical (want scheme://host/path)", raw)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "" {
		return normURL{}, fmt.Errorf("URL %q has no scheme (want e.g. sftp://user@host/path or file:///path)", raw)
	}
	if a, ok := schemeAliases[scheme]; ok {
		scheme = a
	}
	n := normURL{scheme: scheme, host: strings.ToLower(u.Hostname()), port: u.Port()}
	if n.port == "" {
		n.port = defaultPorts[scheme]
	}
	if ip := net.ParseIP(n.host); ip != nil {
		n.host = ip.String()
	} else if strings.ContainsAny(n.host, ":[]") {
		return normURL{}, fmt.Errorf("URL %q: host %q is neither a name nor an IP address", raw, n.host)
	}
	if u.User != nil {
		n.user = u.User.Username()
	}
	p := u.Path // already percent-decoded by url.Parse
	if strings.Contains(p, "\\") {
		return normURL{}, fmt.Errorf("URL %q: backslashes are not allowed in paths", raw)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return normURL{}, fmt.Errorf("URL %q: '..' is not allowed in paths", raw)
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
		return &Error{Code: CodeInvalidArg, Message: err.Error(), Path: redactURL(rawURL)}
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
			redactURL(rawURL), redactURL(rawURL)),
		Path: redactURL(rawURL),
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

// vmfsBracket matches vSphere's datastore-path syntax in a vmfs URL,
// "vmfs://[datastore] path", which url.Parse refuses ("[" opens an IPv6
// literal). It carries no user or password.
func vmfsBracket(raw string) (ds, rest string, ok bool) {
	const prefix = "vmfs://["
	if len(raw) < len(prefix) || !strings.EqualFold(raw[:len(prefix)], prefix) {
		return "", "", false
	}
	return strings.Cut(raw[len(prefix):], "]")
}

// normalizeVMFSBracket normalizes "vmfs://[datastore] path" to what
// "vmfs://datastore/path" normalizes to, so either form matches a grant
// given in the other. ok is false for any other URL.
func normalizeVMFSBracket(raw string) (normURL, bool, error) {
	ds, rest, ok := vmfsBracket(raw)
	if !ok {
		return normURL{}, false, nil
	}
	if ds == "" || strings.ContainsAny(ds, "[]/@") {
		return normURL{}, true, fmt.Errorf("URL %q: the datastore between [ and ] must be a plain name", raw)
	}
	p := strings.TrimSpace(rest)
	if strings.Contains(p, "\\") {
		return normURL{}, true, fmt.Errorf("URL %q: backslashes are not allowed in paths", raw)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return normURL{}, true, fmt.Errorf("URL %q: '..' is not allowed in paths", raw)
		}
	}
	return normURL{scheme: "vmfs", host: strings.ToLower(ds), path: path.Clean("/" + p)}, true, nil
}

func redactURL(raw string) string {
	if _, _, ok := vmfsBracket(raw); ok {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
