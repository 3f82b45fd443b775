package notify_test

import (
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/modules/all"
	"github.com/vmlua/vmlua/modules/notify"
	"github.com/vmlua/vmlua/runtime"
	"github.com/vmlua/vmlua/transports"
)

// run executes src with every module, the notify config c, the named
// credentials and the granted prefixes; it returns the run's error, its
// log records and what it printed.
type site struct {
	cfg    notify.Config
	creds  map[string]transports.Credentials
	allow  []string
	dryRun bool
}

func (s site) run(t *testing.T, src string) (error, *simtest.Records) {
	t.Helper()
	recs := &simtest.Records{}
	opts := runtime.Options{Logger: slog.New(recs), Modules: all.Modules(), Stdout: recs.Stdout(), Credentials: s.creds, DryRun: s.dryRun}
	for _, a := range s.allow {
		if err := opts.Grants.Allow(a); err != nil {
			t.Fatal(err)
		}
	}
	notify.Configure(&opts, s.cfg)
	r, err := runtime.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = r.ExecString("notify_test.lua", src)
	return err, recs
}

// hook is a webhook receiver on loopback that keeps what it was sent.
type hook struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []notify.Payload
	heads  []http.Header
	status int
}

func newHook(t *testing.T, tls bool) *hook {
	h := &hook{status: http.StatusNoContent}
	fn := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p notify.Payload
		if err := json.Unmarshal(b, &p); err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.bodies = append(h.bodies, p)
		h.heads = append(h.heads, r.Header.Clone())
		st := h.status
		h.mu.Unlock()
		if st != http.StatusNoContent {
			http.Error(w, "the hook is unhappy", st)
			return
		}
		w.WriteHeader(st)
	})
	if tls {
		h.Server = httptest.NewTLSServer(fn)
	} else {
		h.Server = httptest.NewServer(fn)
	}
	t.Cleanup(h.Close)
	return h
}

func (h *hook) got() ([]notify.Payload, []http.Header) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]notify.Payload(nil), h.bodies...), append([]http.Header(nil), h.heads...)
}

func (h *hook) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(h.Certificate())
	return p
}

func mailTo(t *testing.T, s *testservers.SMTPServer, password string) *notify.Mail {
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &notify.Mail{Server: s.Addr(), From: "vmlua@backup01.example.org", To: []string{"ops@example.org", "oncall@example.org"},
		User: s.User, Password: password, RootCAs: pool}
}

const sendPartial = `
local notify = require "notify"
assert(notify.configured())
local r = notify.send({subject = "nightly: 1 of 3 VMs partial", status = "partial",
  text = "VM    RESULT\nDB01  partial\nVM1   ok",
  details = {rows = {{vm = "DB01", status = "partial", bytes = 1048576}, {vm = "VM1", status = "ok", bytes = 0}}, failed = 0}},
  {when = "failure"})
print(r.sent, r.failed)
for _, x in ipairs(r.results) do print(x.to, x.ok, x.error or "") end`

// TestSendMailArrivesAtTheSMTPServer: the summary goes over STARTTLS with
// AUTH to a real SMTP server (mailpit), with the subject, the text, the
// details and the status; the SMTP password is in no log line and not in
// the mail.
func TestSendMailArrivesAtTheSMTPServer(t *testing.T) {
	srv := testservers.Mailpit(t)
	err, recs := site{cfg: notify.Config{Mail: mailTo(t, srv, srv.Password)}}.run(t, sendPartial)
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	if p := recs.Printed(); len(p) != 2 || p[0] != "1\t0" || !strings.HasPrefix(p[1], "mail\ttrue") {
		t.Fatalf("printed %q\n%s", p, recs)
	}
	msgs := srv.Messages(t)
	if len(msgs) != 1 {
		t.Fatalf("the server holds %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Subject != "nightly: 1 of 3 VMs partial" || m.From != "vmlua@backup01.example.org" || strings.Join(m.To, ",") != "ops@example.org,oncall@example.org" {
		t.Errorf("mail: subject %q from %q to %q", m.Subject, m.From, m.To)
	}
	for _, want := range []string{"DB01  partial", `"vm": "DB01"`, `"bytes": 1048576`, "status partial; sent by vmlua"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("the mail's text lacks %q:\n%s", want, m.Text)
		}
	}
	if !strings.Contains(m.Raw, "X-Vmlua-Status: partial") {
		t.Errorf("the mail lacks its X-Vmlua-Status header:\n%s", m.Raw)
	}
	if strings.Contains(m.Raw, srv.Password) || strings.Contains(recs.String(), srv.Password) {
		t.Errorf("the SMTP password is in the mail or the log")
	}
	if len(recs.Find("notify: summary sent")) != 1 {
		t.Errorf("no 'summary sent' log line:\n%s", recs)
	}
}

// TestAFailingSMTPServerIsAWarningNotAFailure: a server that refuses the
// password, one that refuses the recipients (451) and a port where nothing
// listens each give ok=false with an error saying what failed, a WARN, and
// a run that still succeeds; the password appears nowhere.
func TestAFailingSMTPServerIsAWarningNotAFailure(t *testing.T) {
	refusing := testservers.MailpitWith(t, testservers.MailpitOptions{Chaos: "Recipient:451:100"})
	good := testservers.Mailpit(t)
	closed := mailTo(t, good, good.Password)
	closed.Server = "127.0.0.1:" + strconv.Itoa(testservers.FreePort(t))
	untrusted := mailTo(t, good, good.Password)
	untrusted.RootCAs = nil
	cases := []struct {
		name string
		mail *notify.Mail
		want string // in the error
	}{
		{"a wrong password", mailTo(t, good, "not-the-password"), "535"},
		{"recipients refused", mailTo(t, refusing, refusing.Password), "451"},
		{"nothing listening", closed, "connection refused"},
		{"a certificate nobody trusts", untrusted, "certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err, recs := site{cfg: notify.Config{Mail: tc.mail}}.run(t, sendPartial)
			if err != nil {
				t.Fatalf("the run failed: %v\n%s", err, recs)
			}
			p := recs.Printed()
			if len(p) != 2 || p[0] != "0\t1" || !strings.HasPrefix(p[1], "mail\tfalse\tSMTP server "+tc.mail.Server) || !strings.Contains(p[1], tc.want) {
				t.Fatalf("printed %q, want a failed mail whose error holds %q", p, tc.want)
			}
			w := recs.Find("notify: the summary could not be sent (the run's exit status is not changed)")
			if len(w) != 1 || w[0]["level"] != "WARN" {
				t.Errorf("want one WARN, got %v\n%s", w, recs)
			}
			if strings.Contains(recs.String(), tc.mail.Password) || strings.Contains(strings.Join(p, "\n"), tc.mail.Password) {
				t.Errorf("the password is in the log or the result")
			}
		})
	}
	if n := len(good.Messages(t)) + len(refusing.Messages(t)); n != 0 {
		t.Errorf("%d messages were taken", n)
	}
}

// TestWebhookPostsTheSummaryAsJSON: a configured webhook (TLS, its
// certificate trusted by ca) gets one JSON POST with the summary and the
// bearer token; the URL's token and the bearer token are in no log line,
// and the webhook is named by its name.
func TestWebhookPostsTheSummaryAsJSON(t *testing.T) {
	h := newHook(t, true)
	const token = "tok-0123456789abcdef"
	url := h.URL + "/services/T000/B000/secret-path-token-xyz"
	err, recs := site{cfg: notify.Config{Webhooks: []notify.Webhook{{Name: "chat", URL: url, Token: token, RootCAs: h.pool()}}}}.run(t, sendPartial)
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	bodies, heads := h.got()
	if len(bodies) != 1 {
		t.Fatalf("the hook got %d POSTs, want 1", len(bodies))
	}
	b := bodies[0]
	if b.Subject != "nightly: 1 of 3 VMs partial" || b.Status != "partial" || !strings.Contains(b.Text, "DB01  partial") || b.Vmlua != runtime.Version || b.Time == "" || b.Host == "" {
		t.Errorf("payload %+v", b)
	}
	d, _ := json.Marshal(b.Details)
	if !strings.Contains(string(d), `{"bytes":1048576,"status":"partial","vm":"DB01"}`) {
		t.Errorf("details %s", d)
	}
	if got := heads[0].Get("Authorization"); got != "Bearer "+token {
		t.Errorf("Authorization: %q", got)
	}
	if p := recs.Printed(); len(p) != 2 || p[1] != "webhook:chat\ttrue\t" {
		t.Errorf("printed %q", p)
	}
	log := recs.String()
	for _, secret := range []string{token, "secret-path-token-xyz"} {
		if strings.Contains(log, secret) {
			t.Errorf("%q is in the log:\n%s", secret, log)
		}
	}
}

// TestWebhookFailuresAreClearAndRedacted: a hook answering 500 and one
// whose certificate is not trusted give ok=false with the reason, named
// without the URL's token.
func TestWebhookFailuresAreClearAndRedacted(t *testing.T) {
	h := newHook(t, true)
	h.status = http.StatusInternalServerError
	const secret = "/hooks/very-secret-token-42"
	cases := []struct {
		name string
		w    notify.Webhook
		want string
	}{
		{"an error answer", notify.Webhook{Name: "ops", URL: h.URL + secret, RootCAs: h.pool()}, "answered 500 Internal Server Error: the hook is unhappy"},
		{"an untrusted certificate", notify.Webhook{Name: "ops", URL: h.URL + secret}, "certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err, recs := site{cfg: notify.Config{Webhooks: []notify.Webhook{tc.w}}}.run(t, sendPartial)
			if err != nil {
				t.Fatal(err)
			}
			p := recs.Printed()
			if len(p) != 2 || p[0] != "0\t1" || !strings.HasPrefix(p[1], "webhook:ops\tfalse\t") || !strings.Contains(p[1], tc.want) {
				t.Fatalf("printed %q, want an error with %q", p, tc.want)
			}
			if strings.Contains(recs.String()+strings.Join(p, "\n"), "very-secret-token-42") {
				t.Errorf("the URL's token is in the log or the result")
			}
		})
	}
}

// TestAWebhookURLTheScriptGivesMustBeGranted: webhook= outside the grants
// is refused with not_granted and nothing is sent; once the operator
// grants it, the POST arrives with the named credentials' token.
func TestAWebhookURLTheScriptGivesMustBeGranted(t *testing.T) {
	h := newHook(t, false)
	src := `local r = require("notify").send({subject = "s", status = "failed"}, {webhook = arg[1] or "` + h.URL + `/hook", credentials = "hook"})
print(r.sent)`
	creds := map[string]transports.Credentials{"hook": {Password: "hook-token-123"}}
	err, _ := site{creds: creds}.run(t, src)
	if simtest.Code(err) != runtime.CodeNotGranted || !strings.Contains(err.Error(), "--allow") {
		t.Fatalf("an ungranted webhook: %v, want not_granted saying how to grant it", err)
	}
	if b, _ := h.got(); len(b) != 0 {
		t.Fatalf("the ungranted hook got %d POSTs", len(b))
	}
	err, recs := site{creds: creds, allow: []string{h.URL + "/"}}.run(t, src)
	if err != nil {
		t.Fatalf("%v\n%s", err, recs)
	}
	b, heads := h.got()
	if len(b) != 1 || b[0].Status != "failed" || heads[0].Get("Authorization") != "Bearer hook-token-123" {
		t.Fatalf("the granted hook got %+v %v", b, heads)
	}
}

// TestWhenDecidesWhatIsSent: when=failure sends every status but ok,
// always sends all, never none; nothing configured and a dry run send
// nothing and say why.
func TestWhenDecidesWhatIsSent(t *testing.T) {
	h := newHook(t, false)
	cfg := notify.Config{Webhooks: []notify.Webhook{{Name: "h", URL: h.URL + "/x"}}}
	cases := []struct {
		when, status string
		cfg          notify.Config
		dry          bool
		sent         bool
		skipped      string
	}{
		{"failure", "ok", cfg, false, false, "when"},
		{"failure", "failed", cfg, false, true, ""},
		{"failure", "partial", cfg, false, true, ""},
		{"failure", "nothing_selected", cfg, false, true, ""},
		{"always", "ok", cfg, false, true, ""},
		{"never", "failed", cfg, false, false, "when"},
		{"always", "failed", notify.Config{}, false, false, "not configured"},
		{"always", "failed", cfg, true, false, "dry run"},
	}
	for _, tc := range cases {
		t.Run(tc.when+" "+tc.status+" "+tc.skipped, func(t *testing.T) {
			before, _ := h.got()
			err, recs := site{cfg: tc.cfg, dryRun: tc.dry}.run(t, `local r = require("notify").send({subject = "s", status = "`+tc.status+`"}, {when = "`+tc.when+`"})
print(r.sent, r.skipped or "")`)
			if err != nil {
				t.Fatal(err)
			}
			after, _ := h.got()
			if sent := len(after) > len(before); sent != tc.sent {
				t.Errorf("sent %v, want %v", sent, tc.sent)
			}
			want := "0\t" + tc.skipped
			if tc.sent {
				want = "1\t"
			}
			if p := recs.Printed(); len(p) != 1 || p[0] != want {
				t.Errorf("printed %q, want %q", p, want)
			}
		})
	}
}

// TestSendRefusesAMalformedMessage: the mistakes a script can make raise
// invalid_argument.
func TestSendRefusesAMalformedMessage(t *testing.T) {
	for name, src := range map[string]string{
		"no subject":               `require("notify").send({status = "ok"})`,
		"a bad when":               `require("notify").send({subject = "s"}, {when = "sometimes"})`,
		"details with a cycle":     `local t = {}; t.me = t; require("notify").send({subject = "s", details = t})`,
		"details with a function":  `require("notify").send({subject = "s", details = {f = print}})`,
		"a webhook that is no URL": `require("notify").send({subject = "s"}, {webhook = "ftp://x/y"})`,
	} {
		t.Run(name, func(t *testing.T) {
			err, _ := site{}.run(t, src)
			if c := simtest.Code(err); c != runtime.CodeInvalidArg || !strings.Contains(err.Error(), "notify.send: ") {
				t.Errorf("%v: code %q, want invalid_argument", err, c)
			}
		})
	}
}
