package testservers

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestSSHDAcceptsKeyAndPasswordAndServesSFTP(t *testing.T) {
	s := SSHD(t)
	hk, err := knownhosts.New(s.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(s.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	for name, auth := range map[string]ssh.AuthMethod{
		"key":      ssh.PublicKeys(signer),
		"password": ssh.Password(s.User.Password),
	} {
		t.Run(name, func(t *testing.T) {
			var seen string
			c, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{
				User: s.User.Name,
				Auth: []ssh.AuthMethod{auth},
				HostKeyCallback: func(h string, r net.Addr, k ssh.PublicKey) error {
					seen = ssh.FingerprintSHA256(k)
					return hk(h, r, k)
				},
			})
			if err != nil {
				t.Fatalf("dial: %v\n%s", err, s.Daemon.Output())
			}
			defer c.Close()
			if seen != s.HostKeyFingerprint {
				t.Errorf("host key %s, want %s", seen, s.HostKeyFingerprint)
			}
			sc, err := sftp.NewClient(c)
			if err != nil {
				t.Fatal(err)
			}
			defer sc.Close()
			f, err := sc.Create(s.DataDir + "/hello-" + name)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("hi"))
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(filepath.Join(s.DataDir, "hello-"+name))
			if err != nil || st.Size() != 2 {
				t.Fatalf("file on disk: %v %v", st, err)
			}
		})
	}
}

func TestSSHDKillEndsOpenSessions(t *testing.T) {
	s := SSHD(t)
	c, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{
		User: s.User.Name, Auth: []ssh.AuthMethod{ssh.Password(s.User.Password)},
		HostKeyCallback: ssh.FixedHostKey(mustParseKnownHost(t, s.KnownHostsLine)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.Kill()
	if _, _, err := c.SendRequest("keepalive@openssh.com", true, nil); err == nil {
		t.Fatal("session still answers after Kill")
	}
}

func mustParseKnownHost(t *testing.T, line string) ssh.PublicKey {
	t.Helper()
	_, _, k, _, _, err := ssh.ParseKnownHosts([]byte(line))
	if err != nil || k == nil || !strings.Contains(line, "ssh-ed25519") {
		t.Fatalf("known_hosts line %q: %v", line, err)
	}
	return k
}
