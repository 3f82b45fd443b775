package docgen

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/vmlua/vmlua/runtime"
)

// modClass is the LuaLS class of a module table.
func modClass(m *runtime.Module) string { return "vmlua." + m.Name }

// lsType renders a vmlua type expression as a LuaLS type; Check has
// already parsed every expression, so failure falls back to any.
func lsType(s string) string {
	t, err := parseType(s)
	if err != nil {
		return "any"
	}
	return t.luaLS()
}

// comment writes text as LuaLS description lines ("---text").
func comment(b *bytes.Buffer, text string) {
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		fmt.Fprintf(b, "---%s\n", strings.TrimRight(line, " "))
	}
}

// writeDefs renders editor/vmlua.d.lua.
func writeDefs(b *bytes.Buffer, mods []*runtime.Module) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("---@meta _\n")
	p("-- vmlua's Lua API for lua-language-server (VS Code, Neovim): completion, hover docs and type checks.\n")
	p("-- Generated from the modules' registration (internal/cli/docgen); do not edit; run: %s\n", Command)
	p("-- Setup: add this folder (editor/) to Lua.workspace.library; see editor/README.md.\n\n")

	p("---A vmlua error as pcall returns it; `tostring(err)` renders it as one line.\n")
	p("---@class vmlua.Error\n")
	codes := make([]string, 0)
	for _, c := range runtime.ErrorCodes() {
		codes = append(codes, `"`+c.Code+`"`)
	}
	p("---@field code %s what kind of failure (see docs/lua-api.md#errors)\n", strings.Join(codes, "|"))
	p("---@field message string what happened and what to do\n")
	p("---@field vm? string the VM concerned\n")
	p("---@field disk? string the disk concerned\n")
	p("---@field path? string the path concerned\n")
	p("---@field where? string script:line where it was raised\n\n")

	p("---The script's arguments: positional ones as arg[1], arg[2], ...; key=value ones as arg.key.\n")
	p("---@type table<string|integer, string>\n")
	p("arg = {}\n")

	for _, m := range mods {
		p("\n-- module %s %s\n\n", m.Name, strings.Repeat("-", max(3, 60-len(m.Name))))
		for _, t := range m.Types {
			comment(b, t.Summary)
			p("---@class %s\n", t.Name)
			for _, f := range t.Fields {
				p("---@field %s %s %s\n", f.Name, lsType(f.Type), oneLine(f.Doc))
			}
			p("local %s = {}\n\n", t.Name)
			for _, f := range t.Methods {
				writeStub(b, t.Name+":", f)
			}
		}
		text := m.Summary
		if m.Doc != "" {
			text += "\n\n" + m.Doc
		}
		comment(b, text)
		p("---@class %s\n", modClass(m))
		for _, f := range m.Fields {
			p("---@field %s %s %s\n", f.Name, lsType(f.Type), oneLine(f.Doc))
		}
		local := "M_" + m.Name
		p("local %s = {}\n\n", local)
		for _, f := range m.Funcs {
			writeStub(b, local+".", f)
		}
	}
}

func writeStub(b *bytes.Buffer, owner string, f runtime.Func) {
	// A table of options is a class of its own, so that the editor
	// completes and checks its keys.
	classes := map[string]string{}
	for _, a := range f.Args {
		if len(a.Options) > 0 {
			cls := "vmlua." + strings.NewReplacer("M_", "", ":", ".").Replace(owner) + f.Name + "." + a.Name
			writeOptionClass(b, cls, a.Options)
			classes[a.Name] = cls
		}
	}
	comment(b, f.Doc)
	var names []string
	for _, a := range f.Args {
		name := a.Name
		if a.Optional && name != "..." {
			name += "?"
		}
		typ := lsType(a.Type)
		if cls, ok := classes[a.Name]; ok {
			typ = strings.Replace(typ, "table", cls, 1)
		}
		fmt.Fprintf(b, "---@param %s %s %s\n", name, typ, oneLine(a.Doc))
		names = append(names, a.Name)
	}
	if f.Returns != "" {
		for _, r := range splitReturns(f.Returns) {
			fmt.Fprintf(b, "---@return %s\n", lsType(r))
		}
	}
	fmt.Fprintf(b, "function %s%s(%s) end\n\n", owner, f.Name, strings.Join(names, ", "))
}

// writeOptionClass declares a table of options as the class cls, and
// each option that is a table of options as a class of its own.
func writeOptionClass(b *bytes.Buffer, cls string, opts []runtime.Option) {
	fmt.Fprintf(b, "---@class %s\n", cls)
	for _, o := range opts {
		typ := lsType(o.TypeString())
		if len(o.Options) > 0 {
			typ = strings.Replace(typ, "table", optionClass(cls, o), 1)
		}
		doc := oneLine(o.Doc)
		if o.Default != "" {
			doc += " (default " + o.Default + ")"
		}
		switch {
		case o.Name == "*":
			fmt.Fprintf(b, "---@field [string] %s %s\n", typ, doc)
		case o.Required:
			fmt.Fprintf(b, "---@field %s %s %s\n", o.Name, typ, doc)
		default:
			fmt.Fprintf(b, "---@field %s? %s %s\n", o.Name, typ, doc)
		}
	}
	fmt.Fprintln(b)
	for _, o := range opts {
		if len(o.Options) > 0 {
			writeOptionClass(b, optionClass(cls, o), o.Options)
		}
	}
}

// optionClass names the class of option o of the class cls: cls.NAME, or
// cls.entry for the "*" option.
func optionClass(cls string, o runtime.Option) string {
	if o.Name == "*" {
		return cls + ".entry"
	}
	return cls + "." + o.Name
}

// shim is editor/library/NAME.lua: it makes require "NAME" resolve to the
// module's class in vmlua.d.lua.
func shim(m *runtime.Module) []byte {
	return []byte(fmt.Sprintf(`---@meta %s
-- Lets lua-language-server resolve require "%s" to the definitions in editor/vmlua.d.lua.
-- Generated (internal/cli/docgen); do not edit; run: %s

---@type %s
local %s

return %s
`, m.Name, m.Name, Command, modClass(m), m.Name, m.Name))
}

const editorREADME = `# Editor support

<!-- Generated (internal/cli/docgen); do not edit; run: ` + Command + ` -->

` + "`vmlua.d.lua`" + ` describes vmlua's Lua API to [lua-language-server](https://luals.github.io)
(VS Code's "Lua" extension by sumneko, Neovim's lua_ls): completion of module functions, object
fields and methods, hover documentation, and type checks of arguments. ` + "`library/`" + ` holds one small file
per module so that ` + "`require \"vm\"`" + ` resolves to its definitions. Both are generated with the API
reference ([docs/lua-api.md](../docs/lua-api.md)) from the modules' own registration, so they match the
vmlua they come from. ` + "`vmlua docs --out DIR`" + ` writes the set for the vmlua binary you run.

Put a ` + "`.luarc.json`" + ` beside your scripts:

` + "```json" + `
{
  "runtime.version": "Lua 5.1",
  "workspace.library": ["/path/to/vmlua/editor"],
  "diagnostics.disable": ["lowercase-global"]
}
` + "```" + `

In Neovim (nvim-lspconfig), the same settings go under ` + "`settings.Lua`" + ` of ` + "`lua_ls`" + `.

` + "`vmlua check SCRIPT`" + ` checks the same things from the command line (unknown functions and methods, wrong
argument counts) without an editor.
`
