package transports

import (
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCleanPath: CleanPath never returns a path that escapes the root.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"a/b", "", ".", "..", "../etc", "a/../../etc", "/etc/passwd", "a\\..\\..\\x", "a/./b//c/", "..a/b", "a/..", "\x00", "%2e%2e/x", "a/b/../../..", "C:\\x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := CleanPath(p)
		if err != nil {
			if c != "" {
				t.Fatalf("CleanPath(%q) returned %q with an error", p, c)
			}
			return
		}
		if c == "" {
			return
		}
		if strings.HasPrefix(c, "/") || c == ".." || strings.HasPrefix(c, "../") || strings.ContainsAny(c, "\x00\\") || path.Clean(c) != c {
			t.Fatalf("CleanPath(%q) = %q escapes or is not clean", p, c)
		}
		const root = "/srv/target"
		if j := filepath.Join(root, c); !strings.HasPrefix(j, root+"/") {
			t.Fatalf("CleanPath(%q) = %q joins to %q, outside %s", p, c, j, root)
		}
	})
}
