package runtime

import (
	"errors"
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// syntaxError reads gopher-lua's parse error as a line and a message.
// The lexer reports an error it finds at the end of a line (an
// unterminated string) after it has counted the newline: at column 0 of
// the next line. No token starts at column 0 (columns count from 1), so
// such a position means the end of the line before, where the user must
// look. ok is false when err is no parse error.
func syntaxError(err error) (line int, msg string, ok bool) {
	var api *lua.ApiError
	if errors.As(err, &api) && api.Cause != nil {
		err = api.Cause // L.Load's error has no Unwrap
	}
	var pe *parse.Error
	if !errors.As(err, &pe) {
		return 0, "", false
	}
	line = pe.Pos.Line
	if line > 1 && pe.Pos.Column == 0 {
		line--
	}
	msg = "syntax error: " + strings.TrimSpace(pe.Message)
	switch {
	case pe.Pos.Line == parse.EOF:
		line = 0
		msg += " at the end of the script (an unclosed block, bracket or call?)"
	case pe.Token != "":
		msg += fmt.Sprintf(" near '%s'", pe.Token)
	}
	return line, msg, true
}

// syntaxText is err as "name:line: syntax error: ..." when it is a parse
// error, else err's own text.
func syntaxText(name string, err error) string {
	line, msg, ok := syntaxError(err)
	switch {
	case !ok:
		return err.Error()
	case line > 0:
		return fmt.Sprintf("%s:%d: %s", name, line, msg)
	}
	return name + ": " + msg
}
