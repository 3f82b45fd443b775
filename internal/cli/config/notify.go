package config

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/vmlua/vmlua/transports"
)

// Notify is the [notify] section: where runs send their summaries.
type Notify struct {
	// Timeout bounds each delivery ("30s" when not given).
	Timeout Duration                 `toml:"timeout"`
	Mail    *NotifyMail              `toml:"mail"`
	Webhook map[string]NotifyWebhook `toml:"webhook"`
}

// NotifyMail is [notify.mail]: an SMTP server and the addresses.
type NotifyMail struct {
	Server      string   `toml:"server"` // host[:port]; port 587 (465 with tls = "implicit")
	From        string   `toml:"from"`
	To          []string `toml:"to"`
	Credentials string   `toml:"credentials"` // [credentials.NAME] for AUTH
	TLS         string   `toml:"tls"`         // "starttls" (default) or "implicit"
	CAFile      string   `toml:"ca_file"`     // PEM certificates trusted besides the system's
}

// NotifyWebhook is [notify.webhook.NAME]: a URL the summary is POSTed to.
type NotifyWebhook struct {
	URL         string `toml:"url"`
	URLEnv      string `toml:"url_env"`
	URLFile     string `toml:"url_file"`
	Credentials string `toml:"credentials"` // bearer token (password), or basic auth with user
	Header      string `toml:"header"`      // send the token in this header instead
	CAFile      string `toml:"ca_file"`
}

// NotifyTargets is [notify] resolved: URLs and passwords read, addresses
// and certificates checked.
type NotifyTargets struct {
	Timeout  time.Duration
	Mail     *MailTarget
	Webhooks []WebhookTarget // sorted by name
}

// MailTarget is a resolved [notify.mail].
type MailTarget struct {
	Server         string // host:port
	From           string
	To             []string
	User, Password string
	Implicit       bool
	RootCAs        *x509.CertPool // nil: the system's
}

// WebhookTarget is a resolved [notify.webhook.NAME].
type WebhookTarget struct {
	Name, URL           string
	User, Token, Header string
	RootCAs             *x509.CertPool
}

// Configured reports whether [notify] names a destination.
func (n Notify) Configured() bool { return n.Mail != nil || len(n.Webhook) > 0 }

// holdsSecret reports whether [notify] has a secret written in the file:
// an inline webhook URL (such URLs usually carry their token).
func (n Notify) holdsSecret() bool {
	for _, w := range n.Webhook {
		if w.URL != "" {
			return true
		}
	}
	return false
}

// NotifyTargets resolves [notify] with the named credentials (as
// TransportCredentials returns them). Every mistake is an error naming the
// key, found when the config is read rather than at the end of a night.
func (c *Config) NotifyTargets(creds map[string]transports.Credentials) (NotifyTargets, error) {
	n := c.Notify
	out := NotifyTargets{Timeout: n.Timeout.Duration}
	if n.Timeout.Duration < 0 {
		return out, fmt.Errorf("[notify] timeout: must not be negative")
	}
	if m := n.Mail; m != nil {
		t, err := mailTarget(m, creds)
		if err != nil {
			return out, fmt.Errorf("[notify.mail] %w", err)
		}
		out.Mail = t
	}
	var names []string
	for name := range n.Webhook {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t, err := webhookTarget(name, n.Webhook[name], creds)
		if err != nil {
			return out, fmt.Errorf("[notify.webhook.%s] %w", name, err)
		}
		out.Webhooks = append(out.Webhooks, t)
	}
	return out, nil
}

func mailTarget(m *NotifyMail, creds map[string]transports.Credentials) (*MailTarget, error) {
	t := &MailTarget{}
	switch m.TLS {
	case "", "starttls":
	case "implicit":
		t.Implicit = true
	default:
		return nil, fmt.Errorf("tls = %q: want \"starttls\" (the default: STARTTLS, port 587) or \"implicit\" (TLS from the first byte, port 465); mail is never sent in clear", m.TLS)
	}
	if m.Server == "" {
		return nil, fmt.Errorf("server: required (host or host:port of the SMTP server)")
	}
	host, port, err := net.SplitHostPort(m.Server)
	if err != nil {
		host, port = m.Server, "587"
		if t.Implicit {
			port = "465"
		}
	}
	if host == "" || strings.ContainsAny(host, "/@ ") {
		return nil, fmt.Errorf("server = %q: want host or host:port", m.Server)
	}
	t.Server = net.JoinHostPort(host, port)
	if _, err := mail.ParseAddress(m.From); err != nil {
		return nil, fmt.Errorf("from = %q: %v (want an address such as vmlua@backup01.example.com)", m.From, err)
	}
	t.From = m.From
	if len(m.To) == 0 {
		return nil, fmt.Errorf("to: at least one address is required")
	}
	for _, a := range m.To {
		if _, err := mail.ParseAddress(a); err != nil {
			return nil, fmt.Errorf("to: %q: %v", a, err)
		}
	}
	t.To = append([]string(nil), m.To...)
	if m.Credentials != "" {
		c, ok := creds[m.Credentials]
		if !ok {
			return nil, fmt.Errorf("credentials = %q: no [credentials.%s] in the config file", m.Credentials, m.Credentials)
		}
		if c.User == "" {
			return nil, fmt.Errorf("credentials = %q: [credentials.%s] has no user (the SMTP AUTH user)", m.Credentials, m.Credentials)
		}
		t.User, t.Password = c.User, c.Password
	}
	if t.RootCAs, err = caPool(m.CAFile); err != nil {
		return nil, err
	}
	return t, nil
}

func webhookTarget(name string, w NotifyWebhook, creds map[string]transports.Credentials) (WebhookTarget, error) {
	t := WebhookTarget{Name: name, Header: w.Header}
	n := 0
	for _, s := range []string{w.URL, w.URLEnv, w.URLFile} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return t, fmt.Errorf("give exactly one of url, url_env, url_file")
	}
	raw := w.URL
	switch {
	case w.URLEnv != "":
		v, ok := os.LookupEnv(w.URLEnv)
		if !ok || v == "" {
			return t, fmt.Errorf("url_env names %s, which is not set", w.URLEnv)
		}
		raw = v
	case w.URLFile != "":
		if err := checkPrivate(w.URLFile); err != nil {
			return t, fmt.Errorf("url_file %s is %w: run 'chmod 600 %s'", w.URLFile, err, w.URLFile)
		}
		b, err := os.ReadFile(w.URLFile)
		if err != nil {
			return t, fmt.Errorf("url_file: %w", err)
		}
		raw = strings.TrimSpace(string(b))
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		// the URL may hold a token: never repeat it
		return t, fmt.Errorf("the URL is not an http(s)://host/path URL")
	}
	if u.User != nil {
		return t, fmt.Errorf("the URL has a user or password in it: name credentials instead")
	}
	t.URL = raw
	if w.Header != "" && strings.ContainsAny(w.Header, " :\t\r\n") {
		return t, fmt.Errorf("header = %q: want a header name such as X-Token", w.Header)
	}
	if w.Credentials != "" {
		c, ok := creds[w.Credentials]
		if !ok {
			return t, fmt.Errorf("credentials = %q: no [credentials.%s] in the config file", w.Credentials, w.Credentials)
		}
		t.User, t.Token = c.User, c.Password
		if t.Token == "" {
			return t, fmt.Errorf("credentials = %q: [credentials.%s] has no password (the token)", w.Credentials, w.Credentials)
		}
	} else if w.Header != "" {
		return t, fmt.Errorf("header = %q needs credentials (the token sent in it)", w.Header)
	}
	if t.RootCAs, err = caPool(w.CAFile); err != nil {
		return t, err
	}
	return t, nil
}

// caPool returns the system's certificates plus those of file (PEM); nil
// (the system's) when file is "".
func caPool(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("ca_file %s holds no PEM certificate", file)
	}
	return pool, nil
}
