package runtime

import (
	"fmt"
	"strings"
)

// Option declares one key of a table of options, as backup.prune{at=,
// keep=} takes them. An argument lists its keys in Arg.Options; from that
// one declaration the API reference renders the option table, the editor
// definitions type it, and 'vmlua check' (and so 'vmlua run' before it
// starts) checks the table a script writes out literally: unknown keys
// ("did you mean"), literal values of the wrong type (compress = 9), a
// string that is not one of the values the option takes (mode =
// "incremantal"), and a required key that is missing. Every key the
// module's Go code reads must be declared, or check would refuse a script
// that uses it (modules/all's test reads the code to make sure).
type Option struct {
	// Name is the key. "*" stands for any key the others do not name (a
	// table whose keys are the script's own, such as script.args' spec):
	// its Type, Enum and Options apply to each of them.
	Name string
	// Type is a type expression as Arg.Type: "string", "number",
	// "boolean", "table", "function", "Transport|string", "{string}|string".
	Type string
	// Enum lists the values a string option takes; nil: any string. The
	// reference and the editor definitions show the type as
	// "a"|"b"|"c".
	Enum []string
	// Default is the value used when the key is absent, as Lua source
	// ("zstd" is written `"zstd"`, `true`, `7`); "" when there is none
	// or it needs words (then Doc says it).
	Default string
	// Required: a call without the key fails.
	Required bool
	Doc      string
	// Options are the keys of an option that is itself a table of
	// options (policy = {daily=, weekly=}).
	Options []Option
}

// TypeString is the option's type as the reference shows it: the Enum's
// values as string literals ("none"|"gzip"|"zstd") when it has one.
func (o Option) TypeString() string {
	if len(o.Enum) == 0 {
		return o.Type
	}
	vals := make([]string, len(o.Enum))
	for i, e := range o.Enum {
		vals[i] = `"` + e + `"`
	}
	return strings.Join(vals, "|")
}

// LookupOption returns the declaration of key in opts: its own, or the
// "*" one, or false.
func LookupOption(opts []Option, key string) (Option, bool) {
	var any Option
	found := false
	for _, o := range opts {
		if o.Name == key {
			return o, true
		}
		if o.Name == "*" {
			any, found = o, true
		}
	}
	return any, found
}

// OptionNames lists the declared keys (not "*"), for "did you mean".
func OptionNames(opts []Option) []string {
	var out []string
	for _, o := range opts {
		if o.Name != "*" {
			out = append(out, o.Name)
		}
	}
	return out
}

// validateOptions reports the declarations of opts that lack something:
// owner names where they are ("backup.prune argument options").
func validateOptions(owner string, opts []Option) []string {
	var missing []string
	seen := map[string]bool{}
	for _, o := range opts {
		where := owner + " option " + o.Name
		switch {
		case o.Name == "":
			missing = append(missing, owner+" option without a name")
		case seen[o.Name]:
			missing = append(missing, where+" (declared twice)")
		}
		seen[o.Name] = true
		if o.Type == "" {
			missing = append(missing, where+" (type)")
		}
		if strings.TrimSpace(o.Doc) == "" {
			missing = append(missing, where)
		}
		if len(o.Enum) > 0 && o.Type != "string" {
			missing = append(missing, where+" (an Enum needs Type \"string\")")
		}
		if o.Required && o.Default != "" {
			missing = append(missing, where+" (required with a default)")
		}
		missing = append(missing, validateOptions(where, o.Options)...)
	}
	return missing
}

// typeAccepts tells whether a value of Lua kind ("string", "number",
// "boolean", "table", "function") fits the type expression typ. known is
// false when typ names something Check cannot judge (a name it does not
// know): then nothing is reported. Object types (VM, Transport) are
// userdata, which no literal is.
func typeAccepts(typ, kind string, types map[string]*Type) (ok, known bool) {
	known = true
	for _, part := range SplitTopLevel(typ, '|') {
		switch {
		case part == "any":
			return true, true
		case strings.HasPrefix(part, `"`):
			if kind == "string" {
				return true, true
			}
		case strings.HasPrefix(part, "{"):
			if kind == "table" {
				return true, true
			}
		case part == "integer":
			if kind == "number" {
				return true, true
			}
		case part == kind:
			return true, true
		case part == "nil" || part == "string" || part == "number" || part == "boolean" || part == "table" || part == "function" || part == "userdata":
		default:
			if types[part] == nil {
				known = false
			}
		}
	}
	return false, known
}

// SplitTopLevel splits a type expression at sep outside braces and
// parentheses ("VM|nil, {string}" at ',' is two values, "{A|B}|C" at '|'
// two members), trimming each part; "" is no part.
func SplitTopLevel(s string, sep byte) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{', '(':
			depth++
		case '}', ')':
			depth--
		case sep:
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}

// quoteList renders values as "a", "b", "c".
func quoteList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = fmt.Sprintf("%q", v)
	}
	return strings.Join(q, ", ")
}
