package transports

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

var (
	// ErrOutsideRoot: a path would leave the transport's root.
	ErrOutsideRoot = errors.New("path leaves the transport's root")
	// ErrAuth: the server refused the credentials or the host key.
	ErrAuth = errors.New("authentication failed")
	// ErrNoSpace: the target is full.
	ErrNoSpace = errors.New("no space left on the target")
)

// CleanPath turns a transport-relative path into a clean relative path
// ("" for the root). Absolute paths and paths that climb out of the root
// with ".." are refused with ErrOutsideRoot.
func CleanPath(p string) (string, error) {
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("path %q: %w", p, ErrOutsideRoot)
	}
	p = strings.ReplaceAll(p, "\\", "/")
	if strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("path %q is absolute: %w", p, ErrOutsideRoot)
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("path %q: %w", p, ErrOutsideRoot)
	}
	if c == "." {
		return "", nil
	}
	return c, nil
}
