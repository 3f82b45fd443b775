package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	mail "github.com/wneessen/go-mail"
)

// sendMail delivers p to m's recipients: STARTTLS (or implicit TLS) with
// the certificate verified, AUTH when a user is configured. The error says
// which step failed, without the password.
func sendMail(ctx context.Context, m *Mail, p Payload) error {
	host, portStr, err := net.SplitHostPort(m.Server)
	if err != nil {
		return fmt.Errorf("SMTP server %q: want host:port", m.Server)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("SMTP server %q: bad port", m.Server)
	}
	opts := []mail.Option{
		mail.WithPort(port),
		mail.WithTLSConfig(&tls.Config{ServerName: host, RootCAs: m.RootCAs, MinVersion: tls.VersionTLS12}),
	}
	if m.Implicit {
		opts = append(opts, mail.WithSSL())
	} else {
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if m.User != "" {
		// PLAIN, LOGIN or SCRAM as the server offers, always inside TLS
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(m.User), mail.WithPassword(m.Password))
	}
	c, err := mail.NewClient(host, opts...)
	if err != nil {
		return fmt.Errorf("SMTP client for %s: %w", m.Server, err)
	}
	msg := mail.NewMsg()
	if err := msg.From(m.From); err != nil {
		return fmt.Errorf("from address %q: %w", m.From, err)
	}
	if err := msg.To(m.To...); err != nil {
		return fmt.Errorf("to addresses %q: %w", m.To, err)
	}
	msg.Subject(p.Subject)
	msg.SetGenHeader("X-Vmlua-Status", p.Status)
	msg.SetBodyString(mail.TypeTextPlain, p.mailBody())
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("SMTP server %s: %w", m.Server, err)
	}
	return nil
}

// maxAnswer bounds what is read of a webhook's answer (for the error).
const maxAnswer = 512

// post sends body to w; any 2xx answer is success. The error names the
// webhook by name and Display(URL), never the URL itself.
func post(ctx context.Context, w Webhook, p Payload) error {
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode the summary: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook URL %s: %v", Display(w.URL), stripURL(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vmlua/"+p.Vmlua)
	switch {
	case w.Token == "":
	case w.Header != "":
		req.Header.Set(w.Header, w.Token)
	case w.User != "":
		req.SetBasicAuth(w.User, w.Token)
	default:
		req.Header.Set("Authorization", "Bearer "+w.Token)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: w.RootCAs, MinVersion: tls.VersionTLS12}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		// a redirect would carry the summary (and a bearer token) to a
		// URL nobody granted
		return http.ErrUseLastResponse
	}}
	res, err := client.Do(req)
	if err != nil {
		return stripURL(err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
		msg := strings.Join(strings.Fields(string(b)), " ")
		if msg != "" {
			msg = ": " + msg
		}
		return fmt.Errorf("answered %s%s", res.Status, msg)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	return nil
}

// stripURL drops the URL net/http puts into its errors (it may hold a
// token), keeping what went wrong.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
