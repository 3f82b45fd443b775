package runtime_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/runtime"
)

// TestSyntaxErrorsNameTheLineTheMistakeIsOn: run and check both point at
// the line the user must fix, including the end-of-line mistakes the
// lexer notices only once it has counted the newline.
func TestSyntaxErrorsNameTheLineTheMistakeIsOn(t *testing.T) {
	cases := []struct {
		name, src string
		line      int
		want      string
	}{
		{"an unterminated string", "local a = 1\nlocal s = \"abc\nprint(a)\n", 2, "unterminated string"},
		{"an unterminated string on the last line", "local a = 1\n\nlocal s = 'abc\n", 3, "unterminated string"},
		{"a stray token", "local a = 1\nlocal = 3\nprint(a)\n", 2, "near '='"},
		{"two values without an operator", "local a = 1\nfunction f()\n  return 1 1\nend\n", 3, "near '1'"},
		{"a missing end", "local a = 1\nif a then\nprint(a)\n", 0, "end of the script"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runScript(t, tc.src, nil)
			var se *runtime.ScriptError
			if !errors.As(res.err, &se) {
				t.Fatalf("run: %v is not a ScriptError", res.err)
			}
			wantWhere := "test.lua"
			if tc.line > 0 {
				wantWhere = "test.lua:" + strconv.Itoa(tc.line)
			}
			if se.Where != wantWhere || !strings.Contains(se.Message, tc.want) || se.Code != "invalid_argument" {
				t.Errorf("run: where %q, message %q, code %s; want where %q and a message saying %q", se.Where, se.Message, se.Code, wantWhere, tc.want)
			}
			f := runtime.Check("test.lua", tc.src, nil)
			if len(f) != 1 || f[0].Line != tc.line || !strings.Contains(f[0].Message, tc.want) {
				t.Errorf("check: %+v; want one finding on line %d saying %q", f, tc.line, tc.want)
			}
		})
	}
}
