package docgen

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/vmlua/vmlua/runtime"
)

// writeLuaAPI renders docs/lua-api.md.
func writeLuaAPI(b *bytes.Buffer, mods []*runtime.Module) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("# Lua API reference\n\n")
	p("<!-- Generated from the modules' registration (internal/cli/docgen); do not edit; run: %s -->\n\n", Command)
	p("A script loads vmlua's modules with `require` (`local vm = require \"vm\"`) and calls their functions with `.`; " +
		"the objects they return (a `VM`, a `Transport`, ...) have fields (`v.name`) and methods called with `:` (`v:add_redo(\"scsi0:1\")`). " +
		"Arguments in brackets are optional. Types: `A|B` is either, `{T}` a list of T, `{K=V}` a table from K to V, `nil` nothing found.\n\n")
	p("`vmlua check SCRIPT` reports calls of functions and methods that do not exist, or with the wrong number of arguments, and options a table written out in the call " +
		"does not take, or gives a value of the wrong type or outside the values listed, without running the script; `vmlua run` does the same before it starts. " +
		"For completion and type checks in VS Code or Neovim, see [editor/README.md](../editor/README.md).\n\n")
	p("Modules:\n\n")
	for _, m := range mods {
		p("- [%s](#%s) — %s\n", m.Name, anchor(m.Name), oneLine(m.Summary))
	}
	p("- [Errors](#errors)\n- [The sandbox](#the-sandbox)\n")

	for _, m := range mods {
		p("\n## %s\n\n", m.Name)
		p("```lua\nlocal %s = require \"%s\"\n```\n\n", m.Name, m.Name)
		p("%s\n\n", strings.TrimSpace(m.Summary))
		if d := strings.TrimSpace(m.Doc); d != "" {
			p("%s\n\n", d)
		}
		if len(m.Fields) > 0 {
			p("| field | type | meaning |\n|---|---|---|\n")
			for _, f := range m.Fields {
				p("| `%s.%s` | %s | %s |\n", m.Name, f.Name, code(f.Type), cell(f.Doc))
			}
			p("\n")
		}
		for _, f := range m.Funcs {
			p("### %s.%s\n\n", m.Name, f.Name)
			writeFunc(b, m.Name+".", f)
		}
		for _, t := range m.Types {
			p("### type %s\n\n", t.Name)
			p("%s\n\n", strings.TrimSpace(t.Summary))
			if len(t.Fields) > 0 {
				p("| field | type | meaning |\n|---|---|---|\n")
				for _, f := range t.Fields {
					p("| `%s` | %s | %s |\n", f.Name, code(f.Type), cell(f.Doc))
				}
				p("\n")
			}
			if len(t.Methods) == 0 {
				p("%s objects have no methods.\n\n", t.Name)
			}
			for _, f := range t.Methods {
				p("#### %s:%s\n\n", t.Name, f.Name)
				writeFunc(b, t.Name+":", f)
			}
		}
	}

	p("\n## Errors\n\n")
	p("A failing call raises a Lua error whose value is a table: `err.code` (below), `err.message` (what happened and what to do), " +
		"and when they apply `err.vm`, `err.disk`, `err.path`, `err.where` (script:line). `tostring(err)` is one line; `pcall` returns the table as it is. " +
		"Look-ups that may legitimately find nothing return `nil` instead of raising. A script may raise the same shape itself: " +
		"`error({code = \"not_found\", message = \"...\"})`.\n\n")
	p("| `err.code` | meaning |\n|---|---|\n")
	for _, c := range runtime.ErrorCodes() {
		p("| `%s` | %s |\n", c.Code, cell(c.Meaning))
	}

	p("\n## The sandbox\n\n")
	p("Besides vmlua's modules, a script gets these parts of Lua 5.1's standard library (gopher-lua), and the global `arg`: " +
		"positional arguments as `arg[1]`, `arg[2]`, ..., `key=value` ones as `arg.key`. Details and known limits: [security.md](security.md).\n\n")
	p("| library | what a script gets |\n|---|---|\n")
	for _, l := range runtime.SandboxLibraries() {
		if !l.Available {
			p("| `%s` | not available: %s |\n", l.Name, cell(l.Note))
			continue
		}
		var s strings.Builder
		s.WriteString(strings.Join(wrapCode(l.Functions), ", "))
		if l.Note != "" {
			s.WriteString("; " + l.Note)
		}
		if len(l.Removed) > 0 {
			s.WriteString("; removed: " + removedList(l.Removed))
		}
		p("| `%s` | %s |\n", l.Name, cell(s.String()))
	}
}

func writeFunc(b *bytes.Buffer, owner string, f runtime.Func) {
	ret := ""
	if f.Returns != "" {
		ret = " → " + f.Returns
	}
	fmt.Fprintf(b, "```lua\n%s%s%s\n```\n\n", owner, f.Signature(), ret)
	fmt.Fprintf(b, "%s\n\n", strings.TrimSpace(f.Doc))
	if len(f.Args) > 0 {
		fmt.Fprintf(b, "| argument | type | meaning |\n|---|---|---|\n")
		for _, a := range f.Args {
			doc := a.Doc
			if a.Optional {
				doc = "optional; " + doc
			}
			fmt.Fprintf(b, "| `%s` | %s | %s |\n", a.Name, code(a.Type), cell(doc))
		}
		fmt.Fprintln(b)
		for _, a := range f.Args {
			if len(a.Options) > 0 {
				fmt.Fprintf(b, "Options of `%s`:\n\n", a.Name)
				fmt.Fprintf(b, "| option | type | default | meaning |\n|---|---|---|---|\n")
				writeOptions(b, "", a.Options)
				fmt.Fprintln(b)
			}
		}
	}
	if f.Returns != "" {
		fmt.Fprintf(b, "Returns `%s`.\n\n", oneLine(f.Returns))
	}
}

// writeOptions writes one row per option, a nested table's options
// after it as parent.key.
func writeOptions(b *bytes.Buffer, prefix string, opts []runtime.Option) {
	for _, o := range opts {
		name := prefix + o.Name
		if o.Name == "*" {
			name = prefix + "NAME"
		}
		def := code(o.Default)
		if o.Required {
			def = "required"
		}
		doc := o.Doc
		if o.Name == "*" {
			doc = "any key (NAME): " + doc
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", name, code(o.TypeString()), def, cell(doc))
		writeOptions(b, name+".", o.Options)
	}
}

// removedList groups "name: why" entries that share a reason.
func removedList(rs []string) string {
	var order []string
	by := map[string][]string{}
	for _, r := range rs {
		name, why, _ := strings.Cut(r, ": ")
		if _, ok := by[why]; !ok {
			order = append(order, why)
		}
		by[why] = append(by[why], "`"+name+"`")
	}
	var parts []string
	for _, why := range order {
		parts = append(parts, strings.Join(by[why], ", ")+" ("+why+")")
	}
	return strings.Join(parts, ", ")
}

func wrapCode(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = "`" + s + "`"
	}
	return out
}

// anchor is GitHub's heading anchor for a plain heading.
func anchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func cell(s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), "|", `\|`)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + cell(s) + "`"
}
