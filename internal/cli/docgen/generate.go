package docgen

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
	_ "github.com/vmlua/vmlua/transports/all" // every scheme registers itself
)

// Command is how the generated files are rebuilt; the files and the
// staleness test say it.
const Command = "go run ./cmd/vmlua docs"

// Paths of the generated files, relative to the repository root.
const (
	LuaAPIPath     = "docs/lua-api.md"
	TransportsPath = "docs/transports.md"
	DefsPath       = "editor/vmlua.d.lua"
	EditorREADME   = "editor/README.md"
	LibraryDir     = "editor/library" // one require shim per module
)

// File is one generated file.
type File struct {
	Path string // relative to the repository root, with forward slashes
	Data []byte
}

// Generate renders every generated file from the modules' registration
// and the registered transports. It refuses modules whose documentation is
// incomplete or whose types are not valid type expressions (Check).
func Generate(mods []*runtime.Module) ([]File, error) {
	if err := Check(mods); err != nil {
		return nil, err
	}
	var api, tr, defs bytes.Buffer
	writeLuaAPI(&api, mods)
	writeTransports(&tr)
	writeDefs(&defs, mods)
	files := []File{
		{LuaAPIPath, tidy(api.Bytes())},
		{TransportsPath, tidy(tr.Bytes())},
		{DefsPath, tidy(defs.Bytes())},
		{EditorREADME, []byte(editorREADME)},
	}
	for _, m := range mods {
		files = append(files, File{LibraryDir + "/" + m.Name + ".lua", shim(m)})
	}
	return files, nil
}

// tidy collapses runs of blank lines into one (the generated text has no
// preformatted blocks where they would matter).
func tidy(b []byte) []byte {
	for bytes.Contains(b, []byte("\n\n\n")) {
		b = bytes.ReplaceAll(b, []byte("\n\n\n"), []byte("\n\n"))
	}
	return b
}

// Check reports what would make the generated reference or definitions
// wrong: missing documentation (runtime.Module.Validate), type expressions
// that do not parse or name an unknown type, argument names that are not
// Lua names, and a type or module defined twice.
func Check(mods []*runtime.Module) error {
	var errs []error
	known := map[string]string{} // type name -> module
	seenMod := map[string]bool{}
	for _, m := range mods {
		if seenMod[m.Name] {
			errs = append(errs, fmt.Errorf("module %s listed twice", m.Name))
		}
		seenMod[m.Name] = true
		if !isLuaName(m.Name) {
			errs = append(errs, fmt.Errorf("module name %q is not a Lua name", m.Name))
		}
		for _, t := range m.Types {
			if prev, dup := known[t.Name]; dup {
				errs = append(errs, fmt.Errorf("type %s defined by module %s and module %s", t.Name, prev, m.Name))
			}
			if builtinTypes[t.Name] || !isLuaName(t.Name) {
				errs = append(errs, fmt.Errorf("module %s: %q cannot be a type name", m.Name, t.Name))
			}
			known[t.Name] = m.Name
		}
	}
	typ := func(where, s string) {
		if strings.TrimSpace(s) == "" {
			errs = append(errs, fmt.Errorf("%s: type missing", where))
			return
		}
		t, err := parseType(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
			return
		}
		t.names(func(n string) {
			if !builtinTypes[n] && known[n] == "" {
				errs = append(errs, fmt.Errorf("%s: type %q names %q, which is neither a Lua type nor a type of a module", where, s, n))
			}
		})
	}
	var opts func(where string, os []runtime.Option)
	opts = func(where string, os []runtime.Option) {
		for _, o := range os {
			w := where + " option " + o.Name
			if o.Name != "*" && !isLuaName(o.Name) {
				errs = append(errs, fmt.Errorf("%s: not a Lua name", w))
			}
			typ(w, o.TypeString())
			opts(w, o.Options)
		}
	}
	funcs := func(owner string, fs []runtime.Func) {
		for _, f := range fs {
			where := owner + f.Name
			if !isLuaName(f.Name) {
				errs = append(errs, fmt.Errorf("%s: not a Lua name", where))
			}
			for i, a := range f.Args {
				if a.Name == "..." && i != len(f.Args)-1 {
					errs = append(errs, fmt.Errorf("%s: ... must be the last argument", where))
				}
				if a.Name != "..." && !isLuaName(a.Name) {
					errs = append(errs, fmt.Errorf("%s: argument %q is not a Lua name", where, a.Name))
				}
				typ(where+" argument "+a.Name, a.Type)
				opts(where+" argument "+a.Name, a.Options)
			}
			if f.Returns != "" {
				for _, r := range splitReturns(f.Returns) {
					typ(where+" returns", r)
				}
			}
		}
	}
	for _, m := range mods {
		if err := m.Validate(); err != nil {
			errs = append(errs, err)
		}
		funcs(m.Name+".", m.Funcs)
		for _, fl := range m.Fields {
			typ(m.Name+"."+fl.Name, fl.Type)
		}
		for _, t := range m.Types {
			funcs(t.Name+":", t.Methods)
			for _, fl := range t.Fields {
				typ(t.Name+"."+fl.Name, fl.Type)
			}
		}
	}
	return errors.Join(errs...)
}

var luaKeywords = map[string]bool{
	"and": true, "break": true, "do": true, "else": true, "elseif": true, "end": true,
	"false": true, "for": true, "function": true, "if": true, "in": true, "local": true,
	"nil": true, "not": true, "or": true, "repeat": true, "return": true, "then": true,
	"true": true, "until": true, "while": true, "goto": true,
}

func isLuaName(s string) bool {
	if s == "" || luaKeywords[s] || !isNameByte(s[0], true) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isNameByte(s[i], false) || s[i] == '.' {
			return false
		}
	}
	return true
}

func writeTransports(b *bytes.Buffer) {
	var body bytes.Buffer
	if err := transports.Markdown(&body); err != nil {
		fmt.Fprintf(&body, "\n(transports.Markdown failed: %v)\n", err)
	}
	s := body.String()
	// The intro goes after Markdown's title and generated-file notice.
	head, rest, ok := strings.Cut(s, "do not edit. -->\n")
	if !ok {
		head, rest = "", s
	} else {
		head += "do not edit. -->\n"
	}
	b.WriteString(strings.Replace(head, "do not edit.", "do not edit; run: "+Command, 1))
	b.WriteString(transportsIntro)
	b.WriteString(rest)
}

const transportsIntro = `
A transport is where backups go and where restores come from. A script opens one with
` + "`transport.open(url [, {credentials=NAME}])`" + ` or passes a URL string wherever a destination is
taken (` + "`v:export(disk, url)`" + `). The URL must be granted by the operator (` + "`--allow`" + ` or the config's
grants: see [config.md](config.md)); passwords never appear in a URL a script holds, they come from
the config's named credentials. Paths given to a handle are relative to its URL and cannot leave it.
The Lua side of a handle is documented in [lua-api.md](lua-api.md#transport).
`

// Stale compares the generated files with those under root and returns the
// paths that differ, are missing, or should no longer exist (a shim in
// editor/library for a module that is gone).
func Stale(root string, files []File) []string {
	var out []string
	want := map[string]bool{}
	for _, f := range files {
		want[f.Path] = true
		got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f.Path)))
		if err != nil || !bytes.Equal(got, f.Data) {
			out = append(out, f.Path)
		}
	}
	for _, p := range extraShims(root, want) {
		out = append(out, p+" (no longer generated)")
	}
	sort.Strings(out)
	return out
}

func extraShims(root string, want map[string]bool) []string {
	ents, _ := os.ReadDir(filepath.Join(root, filepath.FromSlash(LibraryDir)))
	var out []string
	for _, e := range ents {
		p := LibraryDir + "/" + e.Name()
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".lua") && !want[p] {
			out = append(out, p)
		}
	}
	return out
}

// Write writes the files under root, creating directories, and removes
// shims of modules that no longer exist. It returns the paths it changed.
func Write(root string, files []File) ([]string, error) {
	var changed []string
	want := map[string]bool{}
	for _, f := range files {
		want[f.Path] = true
		p := filepath.Join(root, filepath.FromSlash(f.Path))
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, f.Data) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return changed, err
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return changed, err
		}
		changed = append(changed, f.Path)
	}
	for _, p := range extraShims(root, want) {
		if err := os.Remove(filepath.Join(root, filepath.FromSlash(p))); err != nil {
			return changed, err
		}
		changed = append(changed, p+" (removed)")
	}
	return changed, nil
}
