package secrets

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmlua/vmlua/internal/harness/simtest"

	"github.com/vmlua/vmlua/internal/harness/testservers"
	"github.com/vmlua/vmlua/internal/vsim"
)

const (
	simPassword  = "Sim-S3cret-4vmlua-q7"
	wrongSFTP    = "Wr0ng-SFTP-S3cret-x9"
	wrongVSphere = "Wr0ng-VC-S3cret-k2"
)

const roundTrip = `
local vm, backup, transport, log = require "vm", require "backup", require "transport", require "log"
for _, target in ipairs{ {arg.sftp, "sftp"}, {arg.smb, "smb"} } do
	local t = transport.open(target[1], { credentials = target[2] })
	local v = vm.open("name:SEC01")
	local set = v:backup{ to = t, compress = "zstd" }
	assert(backup.verify{ at = t, set = set.id }.ok, "verify failed")
	backup.restore{ from = t, set = set.id, datastore = "LocalDS_1", name = "SEC01-" .. target[2] .. arg.tag }
	log.info("round trip done", { target = target[1] })
end
`

// TestNoPasswordAppearsAnywhere runs each scenario as a 'vmlua' process
// and scans its output, and every file the run wrote, for the passwords.
func TestNoPasswordAppearsAnywhere(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	bin := simtest.Binary(t)
	sshd := testservers.SSHD(t)
	smbd := testservers.SMBD(t, testservers.SMBDOptions{})
	dsDir := t.TempDir()
	sim, err := vsim.Start(context.Background(), vsim.Options{Password: simPassword, DatastoreDir: dsDir, WriteRate: 20,
		Inventory: []vsim.VMSpec{{Name: "SEC01", Disks: []vsim.DiskSpec{{Size: 1 << 20}}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	u := *sim.URL
	u.User = nil
	simURL, simUser := u.String(), sim.URL.User.Username()
	secrets := []string{simPassword, sshd.User.Password, smbd.Password, wrongSFTP, wrongVSphere}

	sftpURL := sshd.URL("sftp", sshd.DataDir)
	smbURL := fmt.Sprintf("smb://%s@%s/%s/sec", smbd.User, smbd.Addr(), smbd.Share)
	work := t.TempDir()
	script := filepath.Join(work, "roundtrip.lua")
	if err := os.WriteFile(script, []byte(roundTrip), 0o644); err != nil {
		t.Fatal(err)
	}
	listScript := filepath.Join(work, "list.lua")
	if err := os.WriteFile(listScript, []byte(`for _, p in ipairs(require("vm").registered()) do print(p) end`), 0o644); err != nil {
		t.Fatal(err)
	}
	config := func(vcPassword, sftpPassword string) string {
		p := filepath.Join(t.TempDir(), "vmlua.toml")
		body := fmt.Sprintf(`default_vsphere = "sim"
[vsphere.sim]
url = %q
username = %q
password = %q
insecure = true

[credentials.sftp]
user = %q
password = %q
known_hosts = %q

[credentials.smb]
user = %q
password = %q

[grants]
allow = [%q, %q]
`, simURL, simUser, vcPassword, sshd.User.Name, sftpPassword, sshd.KnownHostsFile, smbd.User, smbd.Password, sftpURL, smbURL)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := config(simPassword, sshd.User.Password)

	type scenario struct {
		name    string
		args    []string
		env     []string
		wantErr bool
	}
	scenarios := []scenario{
		{name: "a backup, verify and restore over SFTP and SMB with password credentials, text logs",
			args: []string{"run", "--config", good, "--log-level", "debug", script, "sftp=" + sftpURL, "smb=" + smbURL, "tag=-text"}},
		{name: "the same round trip with JSON logs",
			args: []string{"run", "--config", good, "--log-level", "debug", "--log-format", "json", script, "sftp=" + sftpURL, "smb=" + smbURL, "tag=-json"}},
		{name: "a vSphere password from the environment",
			args: []string{"run", "--log-level", "debug", "--log-format", "json", listScript},
			env:  []string{"VMLUA_URL=" + simURL, "VMLUA_USERNAME=" + simUser, "VMLUA_PASSWORD=" + simPassword, "VMLUA_INSECURE=1"}},
		{name: "a wrong vSphere password from the environment fails without echoing it",
			args: []string{"run", "--log-level", "debug", listScript},
			env:  []string{"VMLUA_URL=" + simURL, "VMLUA_USERNAME=" + simUser, "VMLUA_PASSWORD=" + wrongVSphere, "VMLUA_INSECURE=1"}, wantErr: true},
		{name: "a wrong vSphere password in the config file fails without echoing it",
			args: []string{"run", "--config", config(wrongVSphere, sshd.User.Password), "--log-format", "json", listScript}, wantErr: true},
		{name: "wrong SFTP credentials fail without echoing the password",
			args: []string{"run", "--config", config(simPassword, wrongSFTP), "--log-level", "debug", script, "sftp=" + sftpURL, "smb=" + smbURL, "tag=-bad"}, wantErr: true},
		{name: "a vSphere password on the --url fails over to the log without echoing it",
			args: []string{"run", "--url", strings.Replace(simURL, "://", "://"+url.QueryEscape(simUser)+":"+url.QueryEscape(wrongVSphere)+"@", 1), "--insecure", listScript}, wantErr: true},
	}
	for _, c := range []string{"answer", "check", "docs", "run", "sim", "version"} {
		scenarios = append(scenarios, scenario{name: "the help of vmlua " + c, args: []string{c, "--help"},
			env: []string{"VMLUA_PASSWORD=" + simPassword}})
	}
	scenarios = append(scenarios, scenario{name: "the top-level help", args: []string{"--help"}, env: []string{"VMLUA_PASSWORD=" + simPassword}})

	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			cmd := exec.Command(bin, sc.args...)
			cmd.Env = append(os.Environ(), sc.env...)
			cmd.Dir = work
			out, err := cmd.CombinedOutput()
			if sc.wantErr != (err != nil) {
				t.Errorf("exit error %v, want an error: %v\n%s", err, sc.wantErr, out)
			}
			scan(t, "the output", string(out), secrets)
		})
	}
	// everything the runs wrote: sets, catalogs, restored VMs
	for _, dir := range []string{sshd.DataDir, smbd.DataDir, dsDir, work} {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if b, err := os.ReadFile(p); err == nil {
				scan(t, p, string(b), secrets)
			}
			return nil
		})
	}
	if m, _ := filepath.Glob(filepath.Join(sshd.DataDir, "SEC01", "*", "catalog.json")); len(m) == 0 {
		t.Errorf("the round trip wrote no catalog over SFTP: nothing was scanned")
	}
}

func scan(t *testing.T, where, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s)} {
			if strings.Contains(text, form) {
				t.Errorf("a password (%q) appears in %s", form, where)
			}
		}
	}
}
