package question

import (
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// TestTextPatterns: Lua patterns in rules mean what string.find means.
func TestTextPatterns(t *testing.T) {
	for _, tc := range []struct {
		pattern, text string
		match         bool
	}{
		{"REDO", "Cannot create a REDO log", true},
		{"^REDO", "Cannot create a REDO log", false},
		{"log$", "a REDO log", true},
		{"copied %(uuid %d+%)", "copied (uuid 42)", true},
		{"%d+%.%d", "version 7.0", true},
		{"[Nn]o space", "No space left", true},
		{"[^%s]+ left", "space left", true},
		{"CD%-ROM", "the CD-ROM door", true},
		{"a.-b", "axxb", true},
		{"%u%l+", "hello", false},
		{"[%w_]+=", "key_1=", true},
		{"x?y", "y", true},
		{"a.c", "a\nc", true},
	} {
		re, err := compilePattern(tc.pattern)
		if err != nil {
			t.Errorf("%q: %v", tc.pattern, err)
			continue
		}
		if got := re.MatchString(tc.text); got != tc.match {
			t.Errorf("%q in %q = %v, want %v (RE2 %s)", tc.pattern, tc.text, got, tc.match, re)
		}
	}
}

// TestPolicyMistakesAreRefused: a rules table with a mistake is refused
// with a message naming it, instead of silently answering otherwise.
func TestPolicyMistakesAreRefused(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"an unknown rule key", `{ {txt="x", choice=0} }`, `unknown key "txt"`},
		{"a rule that matches nothing", `{ {choice=0} }`, "give message_id= or text="},
		{"a rule with both choice and leave", `{ {text="x", choice=0, leave=true} }`, "either choice="},
		{"a rule with neither choice nor leave", `{ {text="x"} }`, "either choice="},
		{"a negative index", `{ {text="x", choice=-1} }`, "0-based index"},
		{"a bad single_choice", `{ single_choice="yes" }`, `single_choice must be "answer" or "leave"`},
		{"an unsupported pattern item", `{ {text="%b()", choice=0} }`, "%b is not supported"},
		{"a rule that is not a table", `{ "x" }`, "rule 1 is a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			L := lua.NewState()
			defer L.Close()
			if err := L.DoString("return " + tc.src); err != nil {
				t.Fatal(err)
			}
			_, err := ParsePolicy(L.Get(-1).(*lua.LTable))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
