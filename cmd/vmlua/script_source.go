package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/scripts"
)

// scriptSource is the script a run executes: a file, or a shipped script
// built into vmlua (scripts/embed.go), which a bare name that is not a
// file in the current directory runs: 'vmlua run nightly.lua' needs no
// path (the docs and the Kubernetes recipe gave the installed one's).
type scriptSource struct {
	name    string // as given ("nightly.lua", "./x.lua", "/srv/x.lua")
	text    string // its source
	shipped bool   // the built-in copy of a shipped script
}

// resolveScript finds the script name names: the file name, else, for a
// bare name (no directory), the shipped script of that name, with or
// without ".lua". A file wins over a shipped script of the same name. A
// script that cannot be run at all is an error (exit status 2, a usage
// error rather than a failed script).
func resolveScript(name string) (*scriptSource, error) {
	st, err := os.Stat(name)
	switch {
	case err == nil && st.IsDir():
		return nil, fmt.Errorf("run: %s is a directory, not a script", name)
	case err == nil:
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("run: cannot read the script %s: %w", name, err)
		}
		return &scriptSource{name: name, text: string(b)}, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("run: cannot read the script %s: %w", name, err)
	}
	if bare := filepath.Base(name) == name && !strings.ContainsRune(name, os.PathSeparator); bare {
		for _, n := range []string{name, name + ".lua"} {
			if b, err := scripts.Files.ReadFile(n); err == nil {
				return &scriptSource{name: n, text: string(b), shipped: true}, nil
			}
		}
	}
	return nil, fmt.Errorf("run: no script %s: no such file, and no shipped script of that name (vmlua scripts list names those, which run by their bare name, e.g. vmlua run nightly.lua)", name)
}

// chunk is the script's name in Lua's messages (file:line).
func (s *scriptSource) chunk() string { return filepath.Base(s.name) }

// logShipped logs, once per run, that the built-in copy of a shipped
// script runs, and which.
func (s *scriptSource) logShipped(log *slog.Logger) {
	if !s.shipped || log == nil {
		return
	}
	log.Info("running the shipped script "+s.name+" built into vmlua "+runtime.Version+" (no file "+s.name+" in the current directory; one there would run instead; vmlua scripts show "+s.name+" prints it)", "script", s.name, "shipped", true)
}
