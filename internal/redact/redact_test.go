package redact

import (
	"bytes"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
)

// TestTextMasksSecretsWhereTheyAreWritten: secrets go where they
// structurally live; every other word stays as it was, even when it is the
// text of a password ("backup", "vm", "disk", "a" are passwords here).
func TestTextMasksSecretsWhereTheyAreWritten(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"a URL's userinfo password", `Post "https://root:backup@vc.example.com/sdk": EOF`, `Post "https://root:xxxxx@vc.example.com/sdk": EOF`},
		{"a password with a colon in it", "sftp://u:a:b@nas/x", "sftp://u:xxxxx@nas/x"},
		{"a password with an unescaped @ in it", "smb://CORP;u:vm@x@nas/share", "smb://CORP;u:xxxxx@nas/share"},
		{"a URL without a password keeps its user", "sftp://backup@nas/backups/backup_all", "sftp://backup@nas/backups/backup_all"},
		{"two URLs in one line", "from ftp://a:disk@h1/x to ftp://b:vm@h2/y", "from ftp://a:xxxxx@h1/x to ftp://b:xxxxx@h2/y"},
		{"an Authorization header", "Authorization: Basic YmFja3VwOmJhY2t1cA==\nnext line", "Authorization: xxxxx\nnext line"},
		{"a Cookie header", `Cookie: vmware_soap_session="52a1"; path=/`, "Cookie: xxxxx"},
		{"a password pair", "login as root password=vm failed", "login as root password=xxxxx failed"},
		{"a password pair in a query", "https://h/x?user=a&password=disk&mode=1", "https://h/x?user=a&password=xxxxx&mode=1"},
		{"a JSON credential field", `{"user":"root","password":"backup","vm":"DB01"}`, `{"user":"root","password":"xxxxx","vm":"DB01"}`},
		{"a quoted field with spaces", `db_password = "a b c" then`, `db_password = "xxxxx" then`},
		{"a token and a secret", "access_token: abc client_secret=def", "access_token: xxxxx client_secret=xxxxx"},
		{"ordinary words that are passwords elsewhere stay", "backup_all.lua: backup of the disk of vm a failed", "backup_all.lua: backup of the disk of vm a failed"},
		{"a field that names a password file stays", "password_file=/etc/vmlua/pw password_env=NAS_PASSWORD", "password_file=/etc/vmlua/pw password_env=NAS_PASSWORD"},
		{"a path ending in a credential word stays", `require "/etc/passwd": not a module name`, `require "/etc/passwd": not a module name`},
		{"a quoted word ending in a credential word stays", `module "x.token": not found`, `module "x.token": not found`},
		{"times and ratios stay", "took 12:30:01, 3:1", "took 12:30:01, 3:1"},
		{"masking twice changes nothing", "https://u:xxxxx@h/ password=xxxxx Authorization: xxxxx", "https://u:xxxxx@h/ password=xxxxx Authorization: xxxxx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Text(tc.in); got != tc.want {
				t.Errorf("Text(%q)\n got  %q\n want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestKeyNamesCredentialFields(t *testing.T) {
	for k, want := range map[string]bool{
		"password": true, "Password": true, "db_password": true, "clientSecret": true, "X-Api-Key": true,
		"access-token": true, "pw": true, "passwd": true, "Authorization": true, "vmware_cgi_ticket": true,
		"password_file": false, "password_env": false, "vm": false, "disk": false, "credentials": false, "user": false, "path": false,
	} {
		if Key(k) != want {
			t.Errorf("Key(%q) = %v, want %v", k, !want, want)
		}
	}
}

// TestHandlerMasksRecordsByStructure: a record's attribute named like a
// credential is masked whatever its value; URL passwords in messages,
// strings and errors are masked; the rest of the record, including words
// equal to a password, is intact.
func TestHandlerMasksRecordsByStructure(t *testing.T) {
	type creds struct {
		User     string
		Password string
		Domain   string
	}
	var b bytes.Buffer
	l := slog.New(NewHandler(slog.NewJSONHandler(&b, nil))).With("pw", "disk")
	u := &url.URL{Scheme: "https", Host: "vc", Path: "/sdk", User: url.UserPassword("root", "a")}
	l.Info("backup_all.lua: login to "+u.String()+" failed",
		"script", "backup_all.lua", "vm", "a", "password", "backup",
		"err", errors.New("dial https://root:vm@vc/sdk: refused"),
		"creds", creds{User: "backup", Password: "backup", Domain: "vm"},
		slog.Group("target", "url", "sftp://u:disk@nas/x", "token", "vm"))
	got := b.String()
	for _, want := range []string{
		`"msg":"backup_all.lua: login to https://root:xxxxx@vc/sdk failed"`,
		`"script":"backup_all.lua"`, `"vm":"a"`, `"password":"xxxxx"`, `"pw":"xxxxx"`,
		`"err":"dial https://root:xxxxx@vc/sdk: refused"`,
		`"creds":"{User:backup Password:xxxxx Domain:vm}"`,
		`"target":{"url":"sftp://u:xxxxx@nas/x","token":"xxxxx"}`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("record lacks %s:\n%s", want, got)
		}
	}
}
