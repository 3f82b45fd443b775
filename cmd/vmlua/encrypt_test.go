package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/vmlua/vmlua/internal/harness/simtest"
	"github.com/vmlua/vmlua/internal/vsim"
)

// TestEncryptionThroughTheCLI: a backup host whose config names only a
// recipient writes an encrypted set; its verify checks stored bytes and
// says so; --identity (a plain key file, or a passphrase-protected one)
// verifies the content and restores byte-exact; restore without it fails
// and says what to give.
func TestEncryptionThroughTheCLI(t *testing.T) {
	e := simtest.Start(t, vsim.Options{VMs: 1, DiskSize: 4 << 20, WriteRate: -1})
	target := "file://" + e.Dir
	id, _ := age.GenerateX25519Identity()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	backupCfg := write("backup.toml", []byte("[encryption]\nrecipients = [\""+id.Recipient().String()+"\"]\n"))
	restoreCfg := write("restore.toml", []byte("# the identity comes from --identity\n"))
	key := write("backup.key", []byte("# created by the test\n"+id.String()+"\n"))
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	sr, _ := age.NewScryptRecipient("a long passphrase")
	sr.SetWorkFactor(12)
	w, _ := age.Encrypt(aw, sr)
	w.Write([]byte(id.String() + "\n"))
	w.Close()
	aw.Close()
	protected := write("backup.key.age", buf.Bytes())
	url := []string{"--url", e.Sim.URL.String(), "--insecure"}

	s := script(t, `local set = require("vm").open("name:VM1"):backup{ to = arg.to }
print("SET " .. set.id .. " " .. tostring(set.encryption ~= nil))`)
	out, errOut, code := runBin(t, append(append([]string{"run"}, url...), "--config", backupCfg, "--allow", target, s, "to="+target)...)
	if code != exitOK || !strings.Contains(out, " true") {
		t.Fatalf("backup: exit %d\n%s%s", code, out, errOut)
	}
	orig := e.DiskSHA(t, "[LocalDS_0] VM1/VM1.vmdk")

	out, errOut, code = runBin(t, "verify", "--config", backupCfg, target)
	if code != exitOK || !strings.Contains(out, "stored bytes only") {
		t.Errorf("verify on the backup host: exit %d\n%s%s", code, out, errOut)
	}
	for _, tc := range []struct {
		name, key, pass string
	}{{"a key file", key, ""}, {"a passphrase-protected key file", protected, "a long passphrase"}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("VMLUA_IDENTITY_PASSPHRASE", tc.pass)
			out, errOut, code := runBin(t, "verify", "--config", restoreCfg, "--identity", tc.key, target)
			if code != exitOK || strings.Contains(out, "stored bytes only") || !strings.Contains(out, ": ok") {
				t.Errorf("verify with --identity: exit %d\n%s%s", code, out, errOut)
			}
		})
	}
	_, errOut, code = runBin(t, append(append([]string{"restore"}, url...), "--config", restoreCfg, target, "VM1", "--name", "VM1-nokey", "--datastore", "LocalDS_1")...)
	if code == exitOK || !strings.Contains(errOut, "--identity") {
		t.Errorf("restore without an identity: exit %d\n%s", code, errOut)
	}
	_, errOut, code = runBin(t, append(append([]string{"restore"}, url...), "--config", restoreCfg, "--identity", protected, target, "VM1", "--name", "VM1-nopass", "--datastore", "LocalDS_1")...)
	if code != exitConfig || !strings.Contains(errOut, "VMLUA_IDENTITY_PASSPHRASE") {
		t.Errorf("a protected key file without its passphrase: exit %d, want %d\n%s", code, exitConfig, errOut)
	}
	out, errOut, code = runBin(t, append(append([]string{"restore"}, url...), "--config", restoreCfg, "--identity", key, target, "VM1", "--name", "VM1-enc", "--datastore", "LocalDS_1")...)
	if code != exitOK {
		t.Fatalf("restore with --identity: exit %d\n%s%s", code, out, errOut)
	}
	if got := e.DiskSHA(t, "[LocalDS_1] VM1-enc/VM1.vmdk"); got != orig {
		t.Error("the restored disk differs from VM1's")
	}
}
