package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const notifyConfig = `
[credentials.smtp]
user = "backup-mail"
password_env = "VMLUA_TEST_SMTP_PASS"

[credentials.chat]
password_env = "VMLUA_TEST_CHAT_TOKEN"

[notify]
timeout = "20s"

[notify.mail]
server = "smtp.example.com"
from = "vmlua@backup01.example.com"
to = ["ops@example.com", "Oncall <oncall@example.com>"]
credentials = "smtp"

[notify.webhook.chat]
url_env = "VMLUA_TEST_HOOK_URL"
credentials = "chat"
header = "X-Token"
`

// TestNotifyTargetsResolvesTheSection: [notify] as docs/config.md shows
// it: the mail server gets its default port, AUTH its credentials, the
// webhook its URL from the environment and its token.
func TestNotifyTargetsResolvesTheSection(t *testing.T) {
	t.Setenv("VMLUA_TEST_SMTP_PASS", "smtp-pw")
	t.Setenv("VMLUA_TEST_CHAT_TOKEN", "chat-token")
	t.Setenv("VMLUA_TEST_HOOK_URL", "https://hooks.example.com/services/T0/B0/XYZ")
	c, err := Load(write(t, "c.toml", notifyConfig, 0o644))
	if err != nil {
		t.Fatal(err)
	}
	creds, err := c.TransportCredentials()
	if err != nil {
		t.Fatal(err)
	}
	nt, err := c.NotifyTargets(creds)
	if err != nil {
		t.Fatal(err)
	}
	m := nt.Mail
	if m == nil || m.Server != "smtp.example.com:587" || m.User != "backup-mail" || m.Password != "smtp-pw" || m.Implicit || len(m.To) != 2 || nt.Timeout.Seconds() != 20 {
		t.Errorf("mail = %+v, timeout %v", m, nt.Timeout)
	}
	if len(nt.Webhooks) != 1 || nt.Webhooks[0].Name != "chat" || nt.Webhooks[0].URL != "https://hooks.example.com/services/T0/B0/XYZ" ||
		nt.Webhooks[0].Token != "chat-token" || nt.Webhooks[0].Header != "X-Token" {
		t.Errorf("webhooks = %+v", nt.Webhooks)
	}
	if !c.Notify.Configured() || (&Config{}).Notify.Configured() {
		t.Error("Configured is wrong")
	}
}

// TestNotifyTargetsRefuses: each mistake is reported when the config is
// read, naming the key; a webhook URL (which may hold a token) is never
// repeated in the error.
func TestNotifyTargetsRefuses(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(dir, "url")
	if err := os.WriteFile(open, []byte("https://h/x"), 0o644); err != nil {
		t.Fatal(err)
	}
	mail := func(extra string) string {
		return "[credentials.m]\nuser = \"u\"\npassword = \"p\"\n[notify.mail]\nserver = \"smtp.example.com\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n" + extra
	}
	cases := []struct {
		name, body, want string
	}{
		{"mail in clear", mail(`tls = "none"`), `[notify.mail] tls = "none": want "starttls"`},
		{"no server", "[notify.mail]\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n", "[notify.mail] server: required"},
		{"a bad from", strings.Replace(mail(""), "a@example.com", "not an address", 1), `[notify.mail] from = "not an address"`},
		{"no recipient", strings.Replace(mail(""), `to = ["b@example.com"]`, "", 1), "[notify.mail] to: at least one address"},
		{"unknown credentials", mail(`credentials = "nope"`), `[notify.mail] credentials = "nope": no [credentials.nope]`},
		{"a CA file without certificates", mail(`ca_file = "` + ca + `"`), "holds no PEM certificate"},
		{"two URLs", "[notify.webhook.h]\nurl = \"https://h/x\"\nurl_env = \"X\"\n", "[notify.webhook.h] give exactly one of url, url_env, url_file"},
		{"no URL", "[notify.webhook.h]\nheader = \"X\"\n", "give exactly one of"},
		{"an unset url_env", "[notify.webhook.h]\nurl_env = \"VMLUA_TEST_UNSET_HOOK\"\n", "url_env names VMLUA_TEST_UNSET_HOOK, which is not set"},
		{"a readable url_file", "[notify.webhook.h]\nurl_file = \"" + open + "\"\n", "readable by group or others"},
		{"not http", "[notify.webhook.h]\nurl = \"ftp://h/secret-token\"\n", "[notify.webhook.h] the URL is not an http(s)://host/path URL"},
		{"a password in the URL", "[notify.webhook.h]\nurl = \"https://u:secret-token@h/x\"\n", "name credentials instead"},
		{"a header without a token", "[notify.webhook.h]\nurl = \"https://h/x\"\nheader = \"X-Token\"\n", "needs credentials"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(write(t, "c.toml", tc.body, 0o600))
			if err == nil {
				cr, cerr := c.TransportCredentials()
				if cerr != nil {
					t.Fatal(cerr)
				}
				_, err = c.NotifyTargets(cr)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret-token") {
				t.Errorf("the error repeats the URL: %v", err)
			}
		})
	}
}

// TestAnInlineWebhookURLIsASecret: a config file with a webhook URL in it
// (such URLs carry their token) must be private, as with a password.
func TestAnInlineWebhookURLIsASecret(t *testing.T) {
	body := "[notify.webhook.h]\nurl = \"https://hooks.example.com/T0/B0/XYZ\"\n"
	if _, err := Load(write(t, "c.toml", body, 0o644)); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a readable config with a webhook URL: err = %v", err)
	}
	if _, err := Load(write(t, "c.toml", body, 0o600)); err != nil {
		t.Errorf("a private one: %v", err)
	}
}
