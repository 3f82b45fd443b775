package transporttest

import (
	"net/url"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/transports"
)

// InvalidParam is the value URLParams gives each option: no option of any
// transport accepts it.
const InvalidParam = "vmlua-invalid-value"

// URLParams checks that every option base's scheme documents in its
// registration is read from the URL's query: opening base with
// ?NAME=InvalidParam must fail with an error that names NAME. The option
// list comes from transports.Schemes(), so an option added to a
// registration is checked without touching the test. base must be a URL
// that the options' parsing is reached with (a server that refuses the
// connection is enough for transports that check their options before
// dialing); opts carries its credentials or environment. skip names
// options that base's form does not use (say why at the call).
func URLParams(t *testing.T, base string, opts transports.Options, skip ...string) {
	t.Helper()
	scheme, _, ok := strings.Cut(base, "://")
	if !ok {
		t.Fatalf("URLParams: %q has no scheme", base)
	}
	s, found := schemeOf(scheme)
	if !found {
		t.Fatalf("URLParams: scheme %q is not registered", scheme)
	}
	if len(s.Options) == 0 {
		t.Logf("%s: no options registered", s.Name)
	}
	for _, o := range s.Options {
		if containsFold(skip, o.Name) {
			continue
		}
		t.Run(o.Name+" is read from the URL query", func(t *testing.T) {
			sep := "?"
			if strings.Contains(base, "?") {
				sep = "&"
			}
			raw := base + sep + url.QueryEscape(o.Name) + "=" + InvalidParam
			tr, err := transports.Open(ctxT(t), raw, opts)
			if err == nil {
				tr.Close()
				t.Fatalf("%s opened: option %s=%s in the URL query was not read (or not checked)", raw, o.Name, InvalidParam)
			}
			// The URL itself names the option: only the rest of the
			// message counts.
			msg := strings.ReplaceAll(strings.ReplaceAll(err.Error(), raw, ""), transports.Redact(raw), "")
			if !strings.Contains(msg, o.Name) {
				t.Errorf("%s: the error does not name option %s, so the query's value was not what failed:\n%v", raw, o.Name, err)
			}
		})
	}
}

func schemeOf(name string) (transports.Scheme, bool) {
	for _, s := range transports.Schemes() {
		if strings.EqualFold(s.Name, name) || containsFold(s.Aliases, name) {
			return s, true
		}
	}
	return transports.Scheme{}, false
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
