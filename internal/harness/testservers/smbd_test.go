package testservers

import (
	"os/exec"
	"strings"
	"testing"
)

func TestSMBDServesTheShareToTheTestUser(t *testing.T) {
	s := SMBD(t, SMBDOptions{SigningMandatory: true})
	cmd := exec.Command("smbclient", "//127.0.0.1/"+s.Share, "-p", itoa(s.Port), "-U", s.User, "-c", "mkdir probe; ls")
	cmd.Env = append(cmd.Environ(), "PASSWD="+s.Password)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "probe") {
		t.Fatalf("smbclient: %v\n%s\nsmbd:\n%s", err, out, s.Daemon.Output())
	}
}
