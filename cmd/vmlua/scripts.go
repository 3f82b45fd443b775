package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/vmlua/vmlua/scripts"
)

func init() { register(func() verb { return &scriptsVerb{} }) }

// scriptsVerb is vmlua scripts.
type scriptsVerb struct{ noFlags }

func (*scriptsVerb) About() about {
	return about{
		name:    "scripts",
		summary: "list the shipped scripts, print one, or export them into a folder (never overwriting)",
		usage: `Usage: vmlua scripts list
       vmlua scripts show NAME
       vmlua scripts export DIR

The shipped scripts are built into vmlua ('make install' also puts them in
$PREFIX/share/vmlua/scripts). list names them; show prints one to stdout;
export copies them into DIR to adapt. export never overwrites a file: a copy
you edited is kept, and export says which it kept.`,
	}
}

func (*scriptsVerb) Run(inv *call, pos []string) int {
	if len(pos) == 0 {
		return inv.usageError()
	}
	switch verb := pos[0]; {
	case verb == "list" && len(pos) == 1:
		for _, n := range shippedScripts() {
			fmt.Fprintln(inv.stdout, n)
		}
		return exitOK
	case verb == "show" && len(pos) == 2:
		b, err := scripts.Files.ReadFile(pos[1])
		if err != nil {
			fmt.Fprintf(inv.stderr, "vmlua scripts show: no shipped script %q (vmlua scripts list names them)\n", pos[1])
			return exitUsage
		}
		_, _ = inv.stdout.Write(b)
		return exitOK
	case verb == "export" && len(pos) == 2:
		res, err := exportScripts(pos[1])
		res.print(inv.stdout, pos[1])
		if err != nil {
			fmt.Fprintf(inv.stderr, "vmlua scripts export: %v\n", err)
			return exitFailure
		}
		return exitOK
	}
	return inv.usageError()
}

// shippedScripts names the embedded scripts, sorted.
func shippedScripts() []string {
	var names []string
	_ = fs.WalkDir(scripts.Files, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	return names
}

// exportResult says what exportScripts did with each script.
type exportResult struct {
	Written []string // new files
	Same    []string // already there with the shipped content
	Kept    []string // there with other content (the user's edits): left alone
}

func (r exportResult) print(w io.Writer, dir string) {
	for _, n := range r.Written {
		fmt.Fprintf(w, "wrote  %s\n", filepath.Join(dir, n))
	}
	for _, n := range r.Same {
		fmt.Fprintf(w, "same   %s (already the shipped version)\n", filepath.Join(dir, n))
	}
	for _, n := range r.Kept {
		fmt.Fprintf(w, "kept   %s: it differs from the shipped version, which was not written (vmlua scripts show %s prints it)\n", filepath.Join(dir, n), n)
	}
}

// exportScripts copies the shipped scripts into dir, creating it. A file
// that exists is never overwritten (O_EXCL): identical ones are reported
// as the same, others as kept.
func exportScripts(dir string) (exportResult, error) {
	var res exportResult
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	for _, n := range shippedScripts() {
		b, err := scripts.Files.ReadFile(n)
		if err != nil {
			return res, err
		}
		p := filepath.Join(dir, n)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			have, rerr := os.ReadFile(p)
			if rerr == nil && bytes.Equal(have, b) {
				res.Same = append(res.Same, n)
			} else {
				res.Kept = append(res.Kept, n)
			}
			continue
		}
		if err != nil {
			return res, err
		}
		_, werr := f.Write(b)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(p)
			return res, fmt.Errorf("write %s: %w", p, werr)
		}
		res.Written = append(res.Written, n)
	}
	return res, nil
}
