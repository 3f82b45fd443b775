package question

import (
	"fmt"
	"regexp"
	"strings"
)

// maxPattern bounds a rule's text pattern.
const maxPattern = 512

// luaClasses maps Lua's %x classes to RE2's ASCII classes (Lua's C locale).
var luaClasses = map[byte]string{
	'a': "alpha", 'd': "digit", 'l': "lower", 's': "space", 'u': "upper",
	'w': "alnum", 'x': "xdigit", 'p': "punct", 'c': "cntrl", 'g': "graph",
}

// compilePattern translates a Lua pattern (string.find semantics: it may
// match anywhere unless anchored with ^) into an RE2 regular expression.
// Matching then takes linear time whatever the pattern, so a rule cannot
// stall the watcher. %b, %f and back references have no RE2 equivalent and
// are refused.
func compilePattern(p string) (*regexp.Regexp, error) {
	if len(p) > maxPattern {
		return nil, fmt.Errorf("text pattern of %d bytes is longer than %d", len(p), maxPattern)
	}
	var b strings.Builder
	b.WriteString("(?s)")
	i := 0
	if strings.HasPrefix(p, "^") {
		b.WriteString("^")
		i = 1
	}
	for i < len(p) {
		c := p[i]
		switch {
		case c == '$' && i == len(p)-1:
			b.WriteString(`\z`)
			i++
			continue
		case c == '(' || c == ')':
			b.WriteByte(c)
			i++
			continue
		}
		item, n, err := patternItem(p, i)
		if err != nil {
			return nil, fmt.Errorf("text pattern %q: %v", p, err)
		}
		i += n
		b.WriteString(item)
		if i < len(p) {
			switch p[i] {
			case '*', '+', '?':
				b.WriteByte(p[i])
				i++
			case '-':
				b.WriteString("*?")
				i++
			}
		}
	}
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("text pattern %q: %v", p, err)
	}
	return re, nil
}

// patternItem translates one single-character item at p[i]: a literal, ".",
// a %class or escape, or a [set]. It returns the RE2 text and its length.
func patternItem(p string, i int) (string, int, error) {
	switch c := p[i]; c {
	case '.':
		return ".", 1, nil
	case '%':
		if i+1 >= len(p) {
			return "", 0, fmt.Errorf("malformed pattern (ends with '%%')")
		}
		s, err := classOrEscape(p[i+1], false)
		return s, 2, err
	case '[':
		return patternSet(p, i)
	default:
		return regexp.QuoteMeta(p[i : i+1]), 1, nil
	}
}

func classOrEscape(c byte, inSet bool) (string, error) {
	lower := c | 0x20
	if name, ok := luaClasses[lower]; ok && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		neg := ""
		if c != lower {
			neg = "^"
		}
		if inSet {
			return "[:" + neg + name + ":]", nil
		}
		return "[[:" + neg + name + ":]]", nil
	}
	switch {
	case c == 'b' || c == 'f':
		return "", fmt.Errorf("%%%c is not supported in rules", c)
	case c >= '0' && c <= '9':
		return "", fmt.Errorf("back references (%%%c) are not supported in rules", c)
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		return string(c), nil
	}
	return escSet(c), nil
}

// patternSet translates a Lua [set] starting at p[i].
func patternSet(p string, i int) (string, int, error) {
	var b strings.Builder
	b.WriteByte('[')
	j := i + 1
	if j < len(p) && p[j] == '^' {
		b.WriteByte('^')
		j++
	}
	first := true
	for {
		if j >= len(p) {
			return "", 0, fmt.Errorf("malformed pattern (missing ']')")
		}
		c := p[j]
		if c == ']' && !first {
			break
		}
		first = false
		if c == '%' {
			if j+1 >= len(p) {
				return "", 0, fmt.Errorf("malformed pattern (missing ']')")
			}
			s, err := classOrEscape(p[j+1], true)
			if err != nil {
				return "", 0, err
			}
			b.WriteString(s)
			j += 2
			continue
		}
		if j+2 < len(p) && p[j+1] == '-' && p[j+2] != ']' {
			b.WriteString(escSet(c) + "-" + escSet(p[j+2]))
			j += 3
			continue
		}
		b.WriteString(escSet(c))
		j++
	}
	b.WriteByte(']')
	return b.String(), j + 1 - i, nil
}

// escSet renders one byte of a set: letters, digits and non-ASCII bytes as
// they are, everything else escaped.
func escSet(c byte) string {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80 {
		return string([]byte{c})
	}
	return `\` + string([]byte{c})
}
