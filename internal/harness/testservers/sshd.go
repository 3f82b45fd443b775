package testservers

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHServer is an OpenSSH sshd started by SSHD.
type SSHServer struct {
	Host string // 127.0.0.1
	Port int
	User LoginUser
	// DataDir is a fresh directory owned by User, the test's data root.
	DataDir string
	// ClientKeyFile is an unencrypted ed25519 private key (OpenSSH format)
	// whose public half is authorised for User.
	ClientKeyFile string
	// KnownHostsFile holds KnownHostsLine, the server's host key for
	// [127.0.0.1]:Port.
	KnownHostsFile string
	KnownHostsLine string
	// HostKeyFingerprint is the host key's "SHA256:..." fingerprint.
	HostKeyFingerprint string
	Daemon             *Daemon
}

// Addr is host:port.
func (s *SSHServer) Addr() string { return fmt.Sprintf("%s:%d", s.Host, s.Port) }

// URL returns scheme://user@host:port/abs for an absolute path on the
// server (DataDir when path is "").
func (s *SSHServer) URL(scheme, path string) string {
	if path == "" {
		path = s.DataDir
	}
	return fmt.Sprintf("%s://%s@%s:%d%s", scheme, s.User.Name, s.Host, s.Port, path)
}

// Kill ends sshd and every session process it forked, at once (sshd's
// session processes call setsid, so they are outside its process group).
func (s *SSHServer) Kill() { killTree(s.Daemon) }

// SSHD starts OpenSSH's sshd (-D -e) on a free port of 127.0.0.1 with a
// fresh host key, public-key and password authentication for XferUser,
// the internal sftp subsystem, and a fresh data directory. It is stopped,
// with its session processes, when the test ends. A missing /usr/sbin/sshd
// fails the test.
func SSHD(t testing.TB) *SSHServer {
	t.Helper()
	return SSHDWith(t, SSHDOptions{})
}

// SSHDOptions adjust SSHDWith.
type SSHDOptions struct {
	// SFTPFlags are the internal sftp server's flags, such as "-P
	// remove,rmdir" for an account that may not delete (sftp-server(8)).
	SFTPFlags string
}

// SSHDWith is SSHD with options.
func SSHDWith(t testing.TB, o SSHDOptions) *SSHServer {
	t.Helper()
	const bin = "/usr/sbin/sshd"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("testservers: SSHD needs %s (Debian package openssh-server; bash .ci/install-deps installs it): %v", bin, err)
	}
	u := EnsureXferUser(t)
	dir := Dir(t)
	s := &SSHServer{Host: "127.0.0.1", Port: FreePort(t), User: u, DataDir: u.DataDir(t)}

	hostPub := writeKey(t, filepath.Join(dir, "host_ed25519"))
	clientPub := writeKey(t, filepath.Join(dir, "client_ed25519"))
	s.ClientKeyFile = filepath.Join(dir, "client_ed25519")
	auth := filepath.Join(dir, "authorized_keys")
	mustWrite(t, auth, ssh.MarshalAuthorizedKey(clientPub), 0o644)
	s.HostKeyFingerprint = ssh.FingerprintSHA256(hostPub)
	s.KnownHostsLine = knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, hostPub)
	s.KnownHostsFile = filepath.Join(dir, "known_hosts")
	mustWrite(t, s.KnownHostsFile, []byte(s.KnownHostsLine+"\n"), 0o644)

	cfg := filepath.Join(dir, "sshd_config")
	mustWrite(t, cfg, []byte(strings.Join([]string{
		"Port " + strconv.Itoa(s.Port),
		"ListenAddress 127.0.0.1",
		"HostKey " + filepath.Join(dir, "host_ed25519"),
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"AuthorizedKeysFile " + auth,
		"PubkeyAuthentication yes",
		"PasswordAuthentication yes",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin no",
		"AllowUsers " + u.Name,
		"UsePAM no",
		"StrictModes no",
		"MaxStartups 64",
		"MaxSessions 64",
		"MaxAuthTries 10",
		strings.TrimSpace("Subsystem sftp internal-sftp " + o.SFTPFlags),
		"",
	}, "\n")), 0o644)
	// sshd's privilege-separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("testservers: %v", err)
	}
	if out, err := exec.Command(bin, "-t", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("testservers: sshd -t -f %s: %v: %s", cfg, err, out)
	}
	s.Daemon = Start(t, "sshd", bin, "-D", "-e", "-f", cfg)
	// Runs before Start's own cleanup (LIFO): the session processes first.
	t.Cleanup(func() { killTree(s.Daemon) })
	s.Daemon.WaitPort(t, s.Port, 10*time.Second)
	return s
}

// writeKey writes a fresh unencrypted ed25519 private key in OpenSSH format
// (mode 0600) and returns its public key.
func writeKey(t testing.TB, path string) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("testservers: %v", err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "vmlua test key")
	if err != nil {
		t.Fatalf("testservers: %v", err)
	}
	mustWrite(t, path, pem.EncodeToMemory(blk), 0o600)
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatalf("testservers: %v", err)
	}
	mustWrite(t, path+".pub", ssh.MarshalAuthorizedKey(sp), 0o644)
	return sp
}

func mustWrite(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatalf("testservers: %v", err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatalf("testservers: %v", err)
	}
}

// killTree SIGKILLs a daemon and all its descendants, found by PID through
// /proc (daemons whose children start their own session, like sshd, leave
// them outside the process group Daemon.Kill signals). The daemon is
// stopped first so it cannot fork while its children are collected.
func killTree(d *Daemon) {
	if d == nil || d.Exited() {
		return
	}
	pid := d.Cmd.Process.Pid
	// Freeze the whole tree first, until no new process appears (a fork in
	// progress shows up on the next pass), then kill it.
	stopped := map[int]bool{pid: true}
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	for pass := 0; pass < 20; pass++ {
		grew := false
		for _, c := range descendants(pid) {
			if !stopped[c] {
				stopped[c] = true
				grew = true
				_ = syscall.Kill(c, syscall.SIGSTOP)
			}
		}
		if !grew {
			break
		}
	}
	for p := range stopped {
		if p != pid {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
	d.Kill()
}

// descendants lists the PIDs of pid's children, grandchildren, ...
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may contain spaces and parens.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		children[pp] = append(children[pp], p)
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}
