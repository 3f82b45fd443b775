package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEncryptionSection(t *testing.T) {
	dir := t.TempDir()
	idFile := filepath.Join(dir, "backup.key")
	os.WriteFile(idFile, []byte("AGE-SECRET-KEY-1...\n"), 0o600)
	open := filepath.Join(dir, "open.key")
	os.WriteFile(open, []byte("AGE-SECRET-KEY-1...\n"), 0o644)
	passFile := filepath.Join(dir, "pass")
	os.WriteFile(passFile, []byte("from the file\n"), 0o600)
	p := write(t, "vmlua.toml", `
[encryption]
recipients = ["age1aaa", "age1bbb"]
identity = "`+idFile+`"
passphrase_file = "`+passFile+`"
require = true
`, 0o600)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if e := c.Encryption; len(e.Recipients) != 2 || e.Identity != idFile || !e.Require {
		t.Fatalf("[encryption] = %+v", e)
	}
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		name, flag   string
		env          map[string]string
		conf         *Config
		path, pass   string
		errSubstring string
	}{
		{name: "the config's identity and passphrase file", conf: c, path: idFile, pass: "from the file"},
		{name: "--identity wins over the environment and the config", flag: open + "x", env: map[string]string{"VMLUA_IDENTITY": open}, conf: c, path: open + "x", pass: "from the file"},
		{name: "$VMLUA_IDENTITY wins over the config", env: map[string]string{"VMLUA_IDENTITY": idFile}, conf: &Config{}, path: idFile},
		{name: "the passphrase from $VMLUA_IDENTITY_PASSPHRASE without passphrase_*", env: map[string]string{"VMLUA_IDENTITY_PASSPHRASE": "from env"}, flag: idFile, conf: &Config{}, path: idFile, pass: "from env"},
		{name: "an identity file others may read is refused", flag: open, conf: &Config{}, errSubstring: "chmod 600"},
		{name: "no identity at all", conf: &Config{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env = tc.env
			path, pass, err := tc.conf.IdentityFile(tc.flag, getenv)
			if tc.errSubstring != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errSubstring) {
					t.Fatalf("err %v, want %q", err, tc.errSubstring)
				}
				return
			}
			if err != nil || path != tc.path || pass != tc.pass {
				t.Fatalf("IdentityFile = %q, %q, %v; want %q, %q", path, pass, err, tc.path, tc.pass)
			}
		})
	}
}
