package internal

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/vmlua/vmlua/"

// floor names the floor of a package directory (relative to the module
// root): "lib", "cli", "harness", or "" for a package outside internal/.
func floor(dir string) string {
	switch {
	case strings.HasPrefix(dir, "internal/cli/"):
		return "cli"
	case strings.HasPrefix(dir, "internal/harness/"):
		return "harness"
	case strings.HasPrefix(dir, "internal/"):
		return "lib"
	}
	return ""
}

// checkImport says why the package in dir may not import imp (a vmlua
// package path relative to the module root), or "" when it may. test
// says whether the importing file is a _test.go file.
func checkImport(dir, imp string, test bool) string {
	to := floor(imp)
	if to == "harness" && !test && floor(dir) != "harness" {
		return "only test files import a harness"
	}
	if test {
		return ""
	}
	switch floor(dir) {
	case "lib":
		if to != "lib" {
			return "a library imports only other libraries of internal/"
		}
	case "cli":
		if strings.HasPrefix(imp, "modules/") || strings.HasPrefix(imp, "cmd/") {
			return "a command helper imports no module nor command"
		}
	}
	return ""
}

func TestCheckImport(t *testing.T) {
	for _, c := range []struct {
		dir, imp string
		test     bool
		refused  bool
	}{
		{"internal/dsread", "internal/vmdk", false, false},
		{"internal/dsread", "runtime", false, true},
		{"internal/dsread", "modules/vm", false, true},
		{"internal/dsread", "internal/cli/config", false, true},
		{"internal/dsread", "internal/harness/simtest", false, true},
		{"internal/dsread", "internal/harness/simtest", true, false},
		{"internal/cli/config", "runtime", false, false},
		{"internal/cli/config", "transports", false, false},
		{"internal/cli/config", "modules/vm", false, true},
		{"internal/harness/simtest", "modules/all", false, false},
		{"modules/vm", "internal/harness/simtest", false, true},
		{"modules/vm", "internal/harness/simtest", true, false},
		{"cmd/vmlua", "internal/cli/docgen", false, false},
	} {
		why := checkImport(c.dir, c.imp, c.test)
		if (why != "") != c.refused {
			t.Errorf("%s imports %s (test file %v): refused %q, want refused=%v", c.dir, c.imp, c.test, why, c.refused)
		}
	}
}

// TestTheFloorsHold reads every Go file of the module and fails on an
// import that crosses the floors the package comment describes.
func TestTheFloorsHold(t *testing.T) {
	root := ".."
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == "testdata" || (strings.HasPrefix(n, ".") && n != "..") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return fmt.Errorf("parse %s: %w", p, err)
		}
		files++
		rel, _ := filepath.Rel(root, p)
		dir := filepath.ToSlash(filepath.Dir(rel))
		for _, is := range f.Imports {
			imp, _ := strconv.Unquote(is.Path.Value)
			if !strings.HasPrefix(imp, module) {
				continue
			}
			if why := checkImport(dir+"/", strings.TrimPrefix(imp, module)+"/", strings.HasSuffix(p, "_test.go")); why != "" {
				t.Errorf("%s imports %s: %s (internal/doc.go)", rel, imp, why)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("read %d Go files: the walk missed the module", files)
	}
}
