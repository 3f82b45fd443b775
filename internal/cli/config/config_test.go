package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, name, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

const full = `
default_vsphere = "vc1"
lib = "/srv/vmlua/lib"

[vsphere.vc1]
url = "https://vc1.example/sdk"
username = "backup@vsphere.local"
password = "S3cret-vc1"
thumbprint = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"

[vsphere.vc2]
url = "vc2.example"
username = "u2"
password_env = "VC2_PASS"

[credentials.nas]
user = "backup"
password = "S3cret-nas"
allow_plaintext = true

[grants]
allow = ["sftp://backup@nas/backups/"]

[limits]
timeout = "4h30m"
`

func TestLoadFullConfig(t *testing.T) {
	p := write(t, "vmlua.toml", full, 0o600)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("VC2_PASS", "from-env")
	eps, def, err := c.Endpoints(Overrides{}, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	if def != "vc1" || eps["vc1"].Password != "S3cret-vc1" || eps["vc1"].Thumbprint != "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU" || eps["vc2"].Password != "from-env" {
		t.Errorf("endpoints = %+v, default %q", eps, def)
	}
	creds, err := c.TransportCredentials()
	if err != nil {
		t.Fatal(err)
	}
	if creds["nas"].Password != "S3cret-nas" || !creds["nas"].AllowPlaintext || creds["nas"].Name != "nas" {
		t.Errorf("credentials = %+v", creds)
	}
	if c.Limits.Timeout.Hours() != 4.5 || c.Lib != "/srv/vmlua/lib" || len(c.Grants.Allow) != 1 {
		t.Errorf("config = %+v", c)
	}
}

func TestLoadRefuses(t *testing.T) {
	cases := []struct {
		name, body string
		mode       os.FileMode
		want       string
	}{
		{"a password in a world-readable file", full, 0o644, "holds a password and is readable by group or others (mode 0644): run 'chmod 600"},
		{"a password in a group-readable file", full, 0o640, "chmod 600"},
		{"unknown keys", "[vsphere.x]\nurll = \"x\"\n", 0o600, "unknown keys vsphere.x.urll"},
		{"a bad duration", "[limits]\ntimeout = \"forever\"\n", 0o600, "write e.g. \"4h\""},
		{"bad TOML", "[vsphere\n", 0o600, "config file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(write(t, "c.toml", tc.body, tc.mode))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load error = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "S3cret") {
				t.Errorf("error leaks a password: %v", err)
			}
		})
	}
	// Without a password, a readable file is fine.
	if _, err := Load(write(t, "c.toml", "[grants]\nallow = [\"file:///x\"]\n", 0o644)); err != nil {
		t.Errorf("a config without passwords must load whatever its mode: %v", err)
	}
}

func TestPasswordFile(t *testing.T) {
	pw := write(t, "pw", "from-file\n", 0o600)
	c := &Config{Credentials: map[string]Credential{"n": {User: "u", PasswordFile: pw}}}
	creds, err := c.TransportCredentials()
	if err != nil || creds["n"].Password != "from-file" {
		t.Fatalf("creds = %+v, %v", creds, err)
	}
	open := write(t, "pw2", "x", 0o644)
	c = &Config{Credentials: map[string]Credential{"n": {PasswordFile: open}}}
	if _, err := c.TransportCredentials(); !errors.Is(err, ErrUnsafePermissions) {
		t.Errorf("readable password file: err = %v, want ErrUnsafePermissions", err)
	}
	c = &Config{Credentials: map[string]Credential{"n": {Password: "a", PasswordEnv: "B"}}}
	if _, err := c.TransportCredentials(); err == nil || !strings.Contains(err.Error(), "only one of") {
		t.Errorf("two password sources: err = %v", err)
	}
	c = &Config{Credentials: map[string]Credential{"n": {PasswordEnv: "VMLUA_TEST_UNSET_VAR"}}}
	if _, err := c.TransportCredentials(); err == nil || !strings.Contains(err.Error(), "not set") {
		t.Errorf("unset env: err = %v", err)
	}
}

func TestEndpointOverrides(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		name string
		cfg  *Config
		o    Overrides
		env  map[string]string
		want string // URL user pass insecure thumbprint, or error text
	}{
		{"URL with credentials like govc", &Config{}, Overrides{URL: "https://user:pw@127.0.0.1:8989/sdk", Insecure: true}, nil, "https://127.0.0.1:8989/sdk user pw true "},
		{"bare host becomes an SDK URL", &Config{}, Overrides{URL: "vc.example"}, map[string]string{"VMLUA_USERNAME": "u", "VMLUA_PASSWORD": "p"}, "https://vc.example/sdk u p false "},
		{"environment like govc", &Config{}, Overrides{}, map[string]string{"VMLUA_URL": "https://vc/sdk", "VMLUA_USERNAME": "u", "VMLUA_PASSWORD": "p", "VMLUA_INSECURE": "1", "VMLUA_THUMBPRINT": "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd"}, "https://vc/sdk u p true aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd"},
		{"env overrides the profile's password", &Config{VSphere: map[string]VSphere{"a": {URL: "https://a/sdk", Username: "ua", Password: "pa"}}}, Overrides{}, map[string]string{"VMLUA_PASSWORD": "penv"}, "https://a/sdk ua penv false "},
		{"unknown profile", &Config{Path: "c.toml", VSphere: map[string]VSphere{"a": {URL: "https://a/sdk"}}}, Overrides{Profile: "bcd"}, nil, `--profile bcd: there is no [vsphere.bcd] in the config file c.toml; its profiles: a`},
		{"an unknown profile is not replaced by VMLUA_URL", &Config{Path: "/etc/vmlua/config.toml", VSphere: map[string]VSphere{"prod": {URL: "https://prod/sdk"}}}, Overrides{Profile: "prd"}, map[string]string{"VMLUA_URL": "https://lab/sdk"}, `--profile prd: there is no [vsphere.prd] in the config file /etc/vmlua/config.toml (did you mean prod?); its profiles: prod; nothing was connected`},
		{"an unknown profile is not replaced by --url", &Config{VSphere: map[string]VSphere{"prod": {URL: "https://prod/sdk"}}}, Overrides{Profile: "lab", URL: "https://lab/sdk"}, nil, `--profile lab: there is no [vsphere.lab]`},
		{"an unknown profile without a config file", &Config{}, Overrides{Profile: "prod"}, map[string]string{"VMLUA_URL": "https://lab/sdk"}, `--profile prod: there is no [vsphere.prod] in a config file (none was found`},
		{"a known profile with VMLUA_URL takes the URL (the environment overrides the profile it names)", &Config{VSphere: map[string]VSphere{"prod": {URL: "https://prod/sdk", Username: "u"}}}, Overrides{Profile: "prod"}, map[string]string{"VMLUA_URL": "https://lab/sdk"}, "https://lab/sdk u  false "},
		{"credentials without URL", &Config{}, Overrides{}, map[string]string{"VMLUA_PASSWORD": "p"}, "no URL"},
		{"not https", &Config{}, Overrides{URL: "ftp://x"}, nil, "scheme must be https"},
		{"a profile's thumbprint that is no fingerprint", &Config{VSphere: map[string]VSphere{"a": {URL: "https://a/sdk", Thumbprint: "SHA256:..."}}}, Overrides{}, nil, `thumbprint of [vsphere.a]: thumbprint "SHA256:..."`},
		{"a VMLUA_THUMBPRINT that is no fingerprint", &Config{}, Overrides{URL: "x"}, map[string]string{"VMLUA_THUMBPRINT": "AA:BB"}, `VMLUA_THUMBPRINT: thumbprint "AA:BB" has 2 bytes`},
		{"a --thumbprint that is no fingerprint", &Config{}, Overrides{URL: "x", Thumbprint: "nope"}, nil, `--thumbprint: thumbprint "nope" is not a certificate fingerprint`},
		{"a --thumbprint in OpenSSH's form", &Config{}, Overrides{URL: "x", Thumbprint: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"}, nil, "https://x/sdk   false SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"},
		{"bad VMLUA_INSECURE", &Config{}, Overrides{URL: "x"}, map[string]string{"VMLUA_INSECURE": "maybe"}, "want true or false"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eps, def, err := tc.cfg.Endpoints(tc.o, env(tc.env))
			got := ""
			if err != nil {
				got = err.Error()
				if strings.Contains(got, "pw") && strings.Contains(tc.o.URL, "pw") {
					t.Errorf("error leaks the URL's password: %v", err)
				}
			} else {
				e := eps[def]
				got = strings.Join([]string{e.URL, e.Username, e.Password, map[bool]string{true: "true", false: "false"}[e.Insecure], e.Thumbprint}, " ")
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// The data path's keys reach the endpoint; a bad host pin or budget is
// refused when the config is read, naming the key.
func TestDataPathKeys(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.toml")
	if err := os.WriteFile(p, []byte(`
[vsphere.vc]
url = "https://vc/sdk"
host_thumbprints = { "esx1.example.com" = "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU" }
host_requests = 6
through_vcenter = true
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	eps, _, err := c.Endpoints(Overrides{}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	e := eps["vc"]
	if e.HostThumbprints["esx1.example.com"] == "" || e.HostRequests != 6 || !e.ThroughVCenter {
		t.Errorf("endpoint %+v", e)
	}
	for _, tc := range []struct {
		v    VSphere
		want string
	}{
		{VSphere{URL: "https://vc/sdk", HostThumbprints: map[string]string{"esx1": "AA:BB"}}, `host_thumbprints."esx1" of [vsphere.vc]`},
		{VSphere{URL: "https://vc/sdk", HostRequests: -1}, "host_requests of [vsphere.vc] is -1"},
	} {
		_, _, err := (&Config{VSphere: map[string]VSphere{"vc": tc.v}}).Endpoints(Overrides{}, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error saying %q", tc.v, err, tc.want)
		}
	}
}
