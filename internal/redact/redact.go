package redact

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"strings"
)

// Mask is what stands in place of a secret.
const Mask = "xxxxx"

// secretSuffixes are what the name of a field holding a credential ends
// with, compared in lower case without separators (db_password,
// clientSecret, access-token, X-Api-Key).
var secretSuffixes = []string{
	"password", "passwd", "passphrase", "pwd", "pw",
	"secret", "token", "apikey", "privatekey",
	"authorization", "cookie", "sessionkey", "sessionid", "ticket",
}

// Key reports whether a field, attribute or header named key holds a
// credential.
func Key(key string) bool {
	var b strings.Builder
	for _, c := range strings.ToLower(key) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	k := b.String()
	for _, s := range secretSuffixes {
		if strings.HasSuffix(k, s) {
			return true
		}
	}
	return false
}

var (
	// userinfo: scheme://user:password@ — the password runs to the last
	// @ before the host (an unescaped @ in it must not leave a tail)
	userinfoRe = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.\-]*://)([^\s/?#@:"'<>]*):([^\s/?#"'<>]*)@`)
	// a header line: Authorization: Basic ..., Cookie: a=b; c=d (the
	// value is the rest of the line)
	headerRe = regexp.MustCompile(`(?i)(^|[^"'\w-])((?:proxy-)?authorization|set-cookie|cookie)(\s*:[ \t]*)([^\r\n]+)`)
	// name=value, name: value, "name": "value", name="value" where the
	// name is a credential's; the value is quoted, or runs to a space or
	// a separator
	pairRe = regexp.MustCompile(`(^|[^A-Za-z0-9_.\-/])("?)([A-Za-z0-9_.\-]+)("?[ \t]*[=:][ \t]*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;&"'}\])]+)`)
)

// Text returns s with the secrets it holds where secrets are written
// replaced by Mask: URL userinfo passwords, Authorization and Cookie
// header values, and the values of name=value pairs (and their JSON and
// quoted forms) whose name is a credential's (Key). Everything else is
// left as it is.
func Text(s string) string {
	if s == "" {
		return s
	}
	if strings.Contains(s, "://") {
		s = userinfoRe.ReplaceAllString(s, "${1}${2}:"+Mask+"@")
	}
	if strings.ContainsAny(s, "=:") {
		s = headerRe.ReplaceAllStringFunc(s, func(m string) string {
			g := headerRe.FindStringSubmatch(m)
			if g[4] == Mask {
				return m
			}
			return g[1] + g[2] + g[3] + Mask
		})
		s = pairRe.ReplaceAllStringFunc(s, func(m string) string {
			g := pairRe.FindStringSubmatch(m)
			// a quoted name is JSON: quoted on both sides, with a quoted
			// value ("password": "x", but not require "/etc/passwd": not
			// a module)
			quoted := g[2] != ""
			if !Key(g[3]) || quoted != strings.HasPrefix(g[4], `"`) || quoted && !strings.HasPrefix(g[5], `"`) {
				return m
			}
			v := g[5]
			switch {
			case strings.HasPrefix(v, `"`):
				v = `"` + Mask + `"`
			case strings.HasPrefix(v, `'`):
				v = `'` + Mask + `'`
			default:
				v = Mask
			}
			return g[1] + g[2] + g[3] + g[4] + v
		})
	}
	return s
}

// Value renders v for a log or a message with its secrets masked: an
// error or a Stringer by Text of its text, a struct (or a pointer to one)
// field by field with the fields named like a credential masked, anything
// else as fmt prints it, through Text.
func Value(v any) string {
	switch x := v.(type) {
	case nil:
		return "<nil>"
	case error:
		return Text(x.Error())
	case fmt.Stringer:
		return Text(x.String())
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer && !rv.IsNil() {
		rv = rv.Elem()
	}
	if rv.Kind() == reflect.Struct {
		return structText(rv)
	}
	return Text(fmt.Sprint(v))
}

func structText(rv reflect.Value) string {
	var b strings.Builder
	b.WriteString("{")
	rt := rv.Type()
	n := 0
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		if !f.IsExported() {
			continue
		}
		if n > 0 {
			b.WriteString(" ")
		}
		n++
		b.WriteString(f.Name + ":")
		fv := rv.Field(i)
		switch {
		case Key(f.Name) && !fv.IsZero():
			b.WriteString(Mask)
		case fv.Kind() == reflect.Struct:
			b.WriteString(structText(fv))
		default:
			b.WriteString(Text(fmt.Sprint(fv.Interface())))
		}
	}
	b.WriteString("}")
	return b.String()
}

// Attr returns a with its secrets masked: the value of an attribute named
// like a credential entirely, other strings by Text, errors and other
// values by Value, groups attribute by attribute.
func Attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if Key(a.Key) && v.Kind() != slog.KindGroup {
		if v.Kind() == slog.KindString && v.String() == "" {
			return slog.String(a.Key, "")
		}
		return slog.String(a.Key, Mask)
	}
	switch v.Kind() {
	case slog.KindGroup:
		g := v.Group()
		as := make([]any, len(g))
		for i, x := range g {
			as[i] = Attr(x)
		}
		return slog.Group(a.Key, as...)
	case slog.KindString:
		return slog.String(a.Key, Text(v.String()))
	case slog.KindAny:
		return slog.String(a.Key, Value(v.Any()))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// Handler masks the secrets of every record (Text of the message, Attr of
// every attribute, those given to WithAttrs too) before the handler it
// wraps writes it.
type Handler struct{ h slog.Handler }

var _ slog.Handler = Handler{}

// NewHandler wraps h.
func NewHandler(h slog.Handler) Handler { return Handler{h: h} }

// Enabled implements slog.Handler.
func (h Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h Handler) Handle(ctx context.Context, rec slog.Record) error {
	n := slog.NewRecord(rec.Time, rec.Level, Text(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		n.AddAttrs(Attr(a))
		return true
	})
	return h.h.Handle(ctx, n)
}

// WithAttrs implements slog.Handler.
func (h Handler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = Attr(a)
	}
	return Handler{h: h.h.WithAttrs(red)}
}

// WithGroup implements slog.Handler.
func (h Handler) WithGroup(name string) slog.Handler {
	return Handler{h: h.h.WithGroup(name)}
}
