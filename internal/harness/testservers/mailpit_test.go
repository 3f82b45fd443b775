package testservers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/smtp"
	"os"
	"strings"
	"testing"

	mail "github.com/wneessen/go-mail"
)

func mailpitClient(t *testing.T, s *SMTPServer, password string) *mail.Client {
	t.Helper()
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := mail.NewClient(s.Host, mail.WithPort(s.Port), mail.WithTLSPolicy(mail.TLSMandatory),
		mail.WithTLSConfig(&tls.Config{RootCAs: pool, ServerName: s.Host, MinVersion: tls.VersionTLS12}),
		mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername(s.User), mail.WithPassword(password))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMailpitTakesMailOverSTARTTLSWithAuth: the server takes a message over
// STARTTLS from its AUTH user and the API returns it; a wrong password and
// a client that does not start TLS are refused.
func TestMailpitTakesMailOverSTARTTLSWithAuth(t *testing.T) {
	s := Mailpit(t)
	m := mail.NewMsg()
	if err := m.From("vmlua@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := m.To("ops@example.org"); err != nil {
		t.Fatal(err)
	}
	m.Subject("hello")
	m.SetBodyString(mail.TypeTextPlain, "the body")
	if err := mailpitClient(t, s, s.Password).DialAndSendWithContext(context.Background(), m); err != nil {
		t.Fatalf("send: %v\n%s", err, s.Daemon.Output())
	}
	got := s.Messages(t)
	if len(got) != 1 || got[0].Subject != "hello" || got[0].From != "vmlua@example.org" || len(got[0].To) != 1 || got[0].To[0] != "ops@example.org" ||
		!strings.Contains(got[0].Text, "the body") || !strings.Contains(got[0].Raw, "Subject: hello") {
		t.Fatalf("the server holds %+v", got)
	}

	if err := mailpitClient(t, s, "wrong").DialAndSendWithContext(context.Background(), m); err == nil {
		t.Error("a wrong password was accepted")
	}
	// net/smtp without STARTTLS: MAIL FROM is refused.
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("vmlua@example.org"); err == nil {
		t.Error("MAIL FROM without STARTTLS was accepted")
	}
	if n := len(s.Messages(t)); n != 1 {
		t.Errorf("the server holds %d messages, want the first only", n)
	}
}
