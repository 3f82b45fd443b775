package testservers

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SMTPServer is a mailpit started by Mailpit: a real SMTP server that
// requires STARTTLS (a certificate made for this test, for 127.0.0.1 and
// localhost) and AUTH (PLAIN or LOGIN, one user), and keeps what it
// receives for the test to read through its HTTP API.
type SMTPServer struct {
	Host     string // 127.0.0.1
	Port     int    // SMTP
	APIPort  int    // mailpit's HTTP API (and web UI)
	User     string // the one SMTP AUTH user
	Password string
	// CAFile is the PEM certificate the server presents in STARTTLS
	// (self-signed), to verify it with.
	CAFile string
	Daemon *Daemon
}

// MailpitOptions adjust MailpitWith.
type MailpitOptions struct {
	// Chaos makes the server fail: mailpit's --chaos-triggers, e.g.
	// "Recipient:451:100" refuses every RCPT TO with 451.
	Chaos string
}

// Addr is host:port of the SMTP server.
func (s *SMTPServer) Addr() string { return fmt.Sprintf("%s:%d", s.Host, s.Port) }

// Mailpit starts mailpit (built by .ci/install-deps at a pinned version) on
// free ports of 127.0.0.1: SMTP with STARTTLS and AUTH required, and its
// API. It makes no connection of its own (version check and reverse DNS
// off) and stores mail in a database of the test's. Stopped when the test
// ends. A missing binary fails the test.
func Mailpit(t testing.TB) *SMTPServer { return MailpitWith(t, MailpitOptions{}) }

// MailpitWith is Mailpit with options.
func MailpitWith(t testing.TB, o MailpitOptions) *SMTPServer {
	t.Helper()
	bin, err := exec.LookPath("mailpit")
	if err != nil {
		t.Fatalf("testservers: Mailpit needs the mailpit binary, which is not installed (bash .ci/install-deps builds it): %v", err)
	}
	dir := Dir(t)
	cert, key := selfSignedCert(t, dir)
	s := &SMTPServer{Host: "127.0.0.1", Port: FreePort(t), APIPort: FreePort(t), User: "vmlua-mail", Password: "smtp-" + strconv.FormatInt(time.Now().UnixNano(), 36), CAFile: cert}
	auth := filepath.Join(dir, "smtp-auth")
	mustWrite(t, auth, []byte(s.User+":"+s.Password+"\n"), 0o600)
	argv := []string{bin,
		"--smtp", s.Addr(),
		"--listen", fmt.Sprintf("%s:%d", s.Host, s.APIPort),
		"--database", filepath.Join(dir, "mailpit.db"),
		"--smtp-tls-cert", cert, "--smtp-tls-key", key,
		"--smtp-require-starttls",
		"--smtp-auth-file", auth,
		"--smtp-disable-rdns",
		"--disable-version-check",
		"--quiet",
	}
	if o.Chaos != "" {
		argv = append(argv, "--enable-chaos", "--chaos-triggers", o.Chaos)
	}
	s.Daemon = Start(t, "mailpit", argv...)
	s.Daemon.WaitPort(t, s.Port, 30*time.Second)
	s.Daemon.WaitPort(t, s.APIPort, 30*time.Second)
	return s
}

// Mail is a message as the server received it.
type Mail struct {
	ID      string
	From    string
	To      []string
	Subject string
	Text    string // the plain-text body
	Raw     string // the whole message as sent (headers and body)
}

// Messages returns every message the server holds, newest first.
func (s *SMTPServer) Messages(t testing.TB) []Mail {
	t.Helper()
	var list struct {
		Messages []struct{ ID string } `json:"messages"`
	}
	s.get(t, "/api/v1/messages", &list)
	var out []Mail
	for _, m := range list.Messages {
		var full struct {
			ID      string
			From    struct{ Address string }
			To      []struct{ Address string }
			Subject string
			Text    string
		}
		s.get(t, "/api/v1/message/"+m.ID, &full)
		ml := Mail{ID: full.ID, From: full.From.Address, Subject: full.Subject, Text: full.Text}
		for _, a := range full.To {
			ml.To = append(ml.To, a.Address)
		}
		var raw strings.Builder
		s.get(t, "/api/v1/message/"+m.ID+"/raw", &raw)
		ml.Raw = raw.String()
		out = append(out, ml)
	}
	return out
}

// get reads an API path into out: JSON, or the body as it is for a
// *strings.Builder.
func (s *SMTPServer) get(t testing.TB, path string, out any) {
	t.Helper()
	res, err := http.Get(fmt.Sprintf("http://%s:%d%s", s.Host, s.APIPort, path))
	if err != nil {
		t.Fatalf("testservers: mailpit API %s: %v", path, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("testservers: mailpit API %s: %s: %s", path, res.Status, b)
	}
	if sb, ok := out.(*strings.Builder); ok {
		if _, err := io.Copy(sb, res.Body); err != nil {
			t.Fatalf("testservers: mailpit API %s: %v", path, err)
		}
		return
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		t.Fatalf("testservers: mailpit API %s: %v", path, err)
	}
}
