package notify

import (
	"crypto/x509"
	"net/url"
	"sort"
	"time"

	"github.com/vmlua/vmlua/runtime"
)

// Config is what the operator configured ([notify] in the config file,
// resolved: passwords and URLs read from the environment or files).
type Config struct {
	Mail     *Mail     // nil: no mail
	Webhooks []Webhook // sorted by name
	// Timeout bounds each delivery (DefaultTimeout if 0).
	Timeout time.Duration
}

// DefaultTimeout bounds one delivery: a summary must not hold the end of
// a run for long when the mail server or the webhook does not answer.
const DefaultTimeout = 30 * time.Second

// Mail is an SMTP destination.
type Mail struct {
	Server   string // host:port
	From     string
	To       []string
	User     string // AUTH; "" for none
	Password string
	// Implicit: TLS from the first byte (port 465) instead of STARTTLS.
	Implicit bool
	// RootCAs verify the server's certificate; nil: the system's.
	RootCAs *x509.CertPool
}

// Webhook is an HTTP endpoint the summary is POSTed to.
type Webhook struct {
	Name string
	URL  string // may hold a token: a secret
	// Token is sent as "Authorization: Bearer TOKEN", or in Header when
	// set, or with User as basic auth.
	User, Token, Header string
	RootCAs             *x509.CertPool // nil: the system's
}

// configKey holds the process's Config in runtime.Options.
var configKey = runtime.NewSharedKey[*Config]("notify.config")

// Configure makes the runs made from o send to c's destinations.
func Configure(o *runtime.Options, c Config) {
	sort.Slice(c.Webhooks, func(i, j int) bool { return c.Webhooks[i].Name < c.Webhooks[j].Name })
	configKey.Set(o, &c)
}

// configOf returns the run's Config (empty when none).
func configOf(r *runtime.Run) *Config {
	if c, ok := configKey.Get(r); ok && c != nil {
		return c
	}
	return &Config{}
}

// Configured reports whether c has a destination.
func (c *Config) Configured() bool { return c.Mail != nil || len(c.Webhooks) > 0 }

// Display is how a webhook URL is shown: scheme and host, never its path
// or query (which may hold a token).
func Display(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(a webhook URL)"
	}
	s := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		s += "/…"
	}
	return s
}
